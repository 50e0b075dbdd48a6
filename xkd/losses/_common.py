"""Helpers shared by the loss files: parameter checks, masks, layer maps, projections.

Nothing here is a loss. Parameter checks raise :class:`xkd.errors.ConfigError` with a message
``"<loss>: <param> = <value> ... (allowed: <range>)"``; a missing tensor in :class:`KDInputs`
is a programming error of the caller and raises ``ValueError``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from xkd.errors import ConfigError
from xkd.models.dims import ModelDims

from .base import DistillLoss, KDInputs

LayerMap = str | list[tuple[int, int]]


# ----------------------------------------------------------------------------- parameter checks


def _bad(loss: str, param: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"{loss}: {param} = {value!r} is out of range (allowed: {allowed})")


def _number(loss: str, param: str, value: Any, allowed: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{loss}: {param} = {value!r} must be a number (allowed: {allowed})")
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        raise _bad(loss, param, value, allowed)
    return value


def check_positive(loss: str, param: str, value: Any) -> float:
    """A finite number > 0 (temperature)."""
    value = _number(loss, param, value, "> 0")
    if value <= 0:
        raise _bad(loss, param, value, "> 0")
    return value


def check_non_negative(loss: str, param: str, value: Any) -> float:
    """A finite number >= 0 (gamma, lambda, weights)."""
    value = _number(loss, param, value, ">= 0")
    if value < 0:
        raise _bad(loss, param, value, ">= 0")
    return value


def check_unit(loss: str, param: str, value: Any) -> float:
    """A number in [0, 1] (alpha)."""
    value = _number(loss, param, value, "[0, 1]")
    if not 0.0 <= value <= 1.0:
        raise _bad(loss, param, value, "[0, 1]")
    return value


def check_positive_int(loss: str, param: str, value: Any) -> int:
    """An integer >= 1 (heads)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise _bad(loss, param, value, "an integer >= 1")
    return int(value)


def check_bool(loss: str, param: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{loss}: {param} = {value!r} must be true or false")
    return value


def check_choice(loss: str, param: str, value: Any, options: Sequence[str]) -> str:
    if value not in options:
        raise ConfigError(
            f"{loss}: {param} = {value!r} is not a valid choice (allowed: {', '.join(options)})"
        )
    return value


def check_layer_map(loss: str, value: Any, keywords: Sequence[str]) -> LayerMap:
    """A keyword (``"auto"``, ``"last"``) or a non-empty list of ``[student, teacher]`` int pairs.

    Ranges are checked later by :func:`resolve_layer_map`, once model sizes are known.
    """
    if isinstance(value, str):
        return check_choice(loss, "layer_map", value, keywords)
    allowed = f"{' or '.join(repr(k) for k in keywords)}, or a list of [student, teacher] pairs"
    if not isinstance(value, Sequence) or len(value) == 0:
        raise ConfigError(f"{loss}: layer_map = {value!r} is not valid (allowed: {allowed})")
    pairs = []
    for pair in value:
        ok = (
            isinstance(pair, Sequence)
            and not isinstance(pair, str)
            and len(pair) == 2
            and all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in pair)
        )
        if not ok:
            raise ConfigError(
                f"{loss}: layer_map entry {pair!r} is not a [student, teacher] pair of integers "
                f"(allowed: {allowed})"
            )
        pairs.append((int(pair[0]), int(pair[1])))
    return pairs


# ----------------------------------------------------------------------------- layer maps


def auto_layer_map(student_layers: int, teacher_layers: int) -> list[tuple[int, int]]:
    """Student block ``k`` (1..Ls) <-> teacher block ``round(k * Lt / Ls)`` (halves round up).

    Teacher blocks are spread evenly and the last student block always maps to the last
    teacher block; e.g. Ls=3, Lt=12 -> [(1, 4), (2, 8), (3, 12)]; Ls=4, Lt=6 -> [(1, 2), (2, 3),
    (3, 5), (4, 6)]. A teacher index below 1 (student deeper than teacher) is raised to 1.
    """
    ls, lt = student_layers, teacher_layers
    return [(k, max(1, (2 * k * lt + ls) // (2 * ls))) for k in range(1, ls + 1)]


def resolve_layer_map(
    loss: str, spec: LayerMap, student_layers: int, teacher_layers: int, *, lowest: int
) -> list[tuple[int, int]]:
    """Turn a layer_map parameter into checked pairs.

    ``lowest`` is 0 for hidden states (0 = embedding output) and 1 for attention maps.
    """
    if spec == "auto":
        return auto_layer_map(student_layers, teacher_layers)
    if spec == "last":
        return [(student_layers, teacher_layers)]
    assert not isinstance(spec, str)
    what = "0 = embeddings" if lowest == 0 else "1-based blocks"
    for s, t in spec:
        if not (lowest <= s <= student_layers and lowest <= t <= teacher_layers):
            raise ConfigError(
                f"{loss}: layer_map pair [{s}, {t}] is out of range: student layers are "
                f"{lowest}..{student_layers} and teacher layers {lowest}..{teacher_layers} "
                f"({what})"
            )
    return list(spec)


# ----------------------------------------------------------------------------- projections


def make_projection(
    loss: str, student_width: int, teacher_width: int, *, enabled: bool, always: bool
) -> nn.Linear | None:
    """A learned ``Linear(student_width, teacher_width, bias=False)`` or ``None`` (identity).

    ``always``: build one even when the widths match (identity-initialised then). Otherwise a
    projection exists only when the widths differ. With ``enabled=False`` differing widths are
    a ConfigError.
    """
    if not enabled:
        if student_width != teacher_width:
            raise ConfigError(
                f"{loss}: student width {student_width} differs from teacher width "
                f"{teacher_width}; set projection: true"
            )
        return None
    if student_width == teacher_width and not always:
        return None
    proj = nn.Linear(student_width, teacher_width, bias=False)
    if student_width == teacher_width:
        with torch.no_grad():
            proj.weight.copy_(torch.eye(teacher_width))
    return proj


def project(x: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """``x @ weight.T`` (``weight`` is ``[H_out, H_in]`` like ``nn.Linear``), or ``x``."""
    return x if weight is None else F.linear(x, weight)


# ----------------------------------------------------------------------------- tensors


def require(value: torch.Tensor | None, loss: str, field: str) -> torch.Tensor:
    if value is None:
        raise ValueError(f"{loss} needs KDInputs.{field}, which is None")
    return value


def require_layer(
    layers: dict[int, torch.Tensor], layer: int, loss: str, field: str
) -> torch.Tensor:
    if layer not in layers:
        raise ValueError(
            f"{loss} needs layer {layer} in KDInputs.{field} (has {sorted(layers)}); "
            "pass the layers listed by student_layers()/teacher_layers()"
        )
    return layers[layer]


def mask_or_ones(mask: torch.Tensor | None, tokens: torch.Tensor) -> torch.Tensor:
    """A float ``[B, L]`` mask (1 = real token); all ones when ``mask`` is None."""
    if mask is None:
        return tokens.new_ones(tokens.shape[:2])
    return mask.to(tokens.dtype)


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``tokens [B, L, H]`` over real tokens (``mask [B, L]``, 1 = real) -> ``[B, H]``."""
    mask = mask.to(tokens.dtype).unsqueeze(-1)
    return (tokens * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def zero_from(*tensors: torch.Tensor) -> torch.Tensor:
    """A scalar 0 whose graph reaches ``tensors`` (so ``backward`` works and gives zero grads)."""
    total = tensors[0].sum() * 0.0
    for t in tensors[1:]:
        total = total + t.sum() * 0.0
    return total


class PooledEmbeddingLoss(DistillLoss):
    """Shared shape of losses on sentence embeddings: ``distance(W s, t)``.

    Subclasses set ``distance`` (a pure function ``(student_pooled, teacher_pooled, W)``).
    ``projection``: learn ``W`` (``[Ht, Hs]``) when the widths differ (default true); false
    requires equal widths.

    Several teachers (``teachers``): :meth:`add_teacher_width` gives each other teacher width
    its own ``W`` (built like the first, :func:`make_projection`), and a batch whose
    ``KDInputs.teacher_targets`` is set is scored as ``sum_g weight_g * distance(W_g s[rows_g],
    t_g)`` over those targets (:class:`~xkd.losses.base.PooledTarget`).
    """

    needs: ClassVar[frozenset[str]] = frozenset({"teacher", "pooled"})

    def __init__(self, projection: bool = True) -> None:
        super().__init__()
        self.projection = check_bool(self.name, "projection", projection)
        self._ready = False

    def setup(self, student: ModelDims, teacher: ModelDims) -> None:
        self.proj = make_projection(
            self.name,
            student.pooled_size,
            teacher.pooled_size,
            enabled=self.projection,
            always=False,
        )
        self._width = teacher.pooled_size
        self._ready = True

    def add_teacher_width(self, student: ModelDims, width: int) -> None:
        """A projection student -> ``width`` for another teacher's embeddings (after setup)."""
        if width == self._width:
            return
        if not hasattr(self, "extra_proj"):
            self.extra_proj = nn.ModuleDict()
        proj = make_projection(
            self.name, student.pooled_size, width, enabled=self.projection, always=False
        )
        self.extra_proj[str(width)] = proj if proj is not None else nn.Identity()

    def _weight(self, width: int) -> torch.Tensor | None:
        proj = self.proj if width == self._width else self.extra_proj[str(width)]
        return getattr(proj, "weight", None)

    def forward(self, inputs: KDInputs) -> torch.Tensor:
        if not self._ready:
            raise RuntimeError(f"{self.name}: call setup(student_dims, teacher_dims) first")
        s = require(inputs.student_pooled, self.name, "student_pooled")
        distance = type(self).distance
        if inputs.teacher_targets is not None:
            return sum(
                target.weight
                * distance(
                    s if target.rows is None else s[target.rows],
                    target.pooled.detach(),
                    self._weight(target.width),
                )
                for target in inputs.teacher_targets
            )
        t = require(inputs.teacher_pooled, self.name, "teacher_pooled").detach()
        return distance(s, t, None if self.proj is None else self.proj.weight)
