"""The distillation recipe: weighted loss terms, the hard-label weight ``alpha``, the temperature.

The student's objective (:class:`xkd.train.objective.KDObjective`) is::

    total = alpha * CE + (1 - alpha) * sum_i w_i * L_i

- ``CE`` is :func:`xkd.losses.ce.hard_cross_entropy` of the student logits (T = 1) over the
  rows of the batch that carry a hard label (-100 = none; zero if no row has one). It is
  applied **once**, by the objective, however many prediction terms the recipe has, and logged
  as the term ``ce``. With ``alpha == 0`` it is not computed at all and the total is exactly
  ``sum_i w_i * L_i``.
- ``w_i`` is the term's ``weight``: the only factor a term has (``hidden_mse`` has no
  ``lambda`` any more). Every term, prediction or not, is scaled by ``1 - alpha``.
- ``L_i`` is the loss of term i; every loss that takes a ``temperature`` gets
  ``distill.temperature`` unless the term's own params set ``temperature``. No loss has a
  default temperature of its own.
- A ``ce`` *term* is the same hard-label CE as an ordinary weighted term of the sum. It is only
  allowed with ``alpha == 0`` (else the hard CE would be counted twice; use ``alpha``).
- :meth:`Recipe.hard_labels` is the objective without distillation (``alpha = 1``, no terms,
  ``total = CE``): the teacher fine-tune and the no-KD baseline train with it.

Example, the hard CE counted once for two prediction terms::

    >>> import torch
    >>> from xkd.config import DistillConfig, LossConfig
    >>> from xkd.models.dims import ModelDims
    >>> distill = DistillConfig(
    ...     losses=[LossConfig("kl"), LossConfig("focal_kd", weight=0.5)], temperature=2.0, alpha=0.3
    ... )
    >>> dims = ModelDims(hidden_size=4, num_layers=1, num_heads=1, num_labels=2)
    >>> recipe = build_recipe(distill, student_dims=dims, teacher_dims=dims)
    >>> [(term.name, term.weight, term.loss.temperature) for term in recipe.terms]
    [('kl', 1.0, 2.0), ('focal_kd', 0.5, 2.0)]
    >>> recipe.alpha, sorted(recipe.needs)
    (0.3, ['labels', 'logits', 'teacher'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from xkd.errors import ConfigError
from xkd.models.dims import ModelDims

from ._common import PooledEmbeddingLoss
from ._prediction import PredictionLoss
from .base import DistillLoss
from .registry import build_loss, loss_params

if TYPE_CHECKING:
    from xkd.config import DistillConfig

#: The name the objective logs its hard-label CE under (the same name as the ``ce`` loss).
HARD_LABEL_TERM = "ce"


def combine_hard_soft(
    distill: torch.Tensor, hard: torch.Tensor | None, alpha: float
) -> torch.Tensor:
    """``alpha * hard + (1 - alpha) * distill``; ``hard`` may be None when ``alpha == 0``.

    With ``alpha == 0`` the result is ``distill`` itself (no operation is added).

    >>> import torch
    >>> combine_hard_soft(torch.tensor(0.5), torch.tensor(1.0), 0.25).item()  # 0.25 + 0.375
    0.625
    """
    if alpha == 0.0:
        return distill
    assert hard is not None
    return alpha * hard + (1.0 - alpha) * distill


@dataclass(frozen=True)
class Term:
    """One weighted term ``w_i * L_i`` of a recipe; ``name`` is unique within the recipe."""

    name: str
    weight: float
    loss: DistillLoss


@dataclass(frozen=True)
class Recipe:
    """The terms, ``alpha`` (weight of the hard-label CE) and the temperature they were built with.

    ``temperature`` is ``distill.temperature``, the value every term without its own
    ``temperature`` received. Invariants: unique term names; ``0 <= alpha <= 1``; a recipe
    without terms has ``alpha == 1`` (hard labels only).
    """

    terms: tuple[Term, ...]
    alpha: float
    temperature: float

    def __post_init__(self) -> None:
        names = [term.name for term in self.terms]
        if len(set(names)) != len(names):
            raise ValueError(f"recipe term names must be unique, got {names}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"recipe alpha = {self.alpha} must be within [0, 1]")
        if not self.terms and self.alpha != 1.0:
            raise ValueError("a recipe without terms trains on hard labels only: alpha must be 1")

    @classmethod
    def hard_labels(cls) -> Recipe:
        """The objective without distillation: ``total = CE`` (alpha 1, no terms, T unused)."""
        return cls(terms=(), alpha=1.0, temperature=1.0)

    @property
    def needs(self) -> frozenset[str]:
        """What the objective reads: every term's ``needs``, plus ``labels`` when alpha > 0."""
        out = {need for term in self.terms for need in term.loss.needs}
        if self.alpha > 0.0:
            out |= {"logits", "labels"}
        return frozenset(out)

    def teacher_hidden_layers(self) -> set[int]:
        """Teacher hidden-state layers the terms read (the teacher cache keeps these)."""
        return self._teacher_layers("hidden")

    def teacher_attention_layers(self) -> set[int]:
        """Teacher attention layers the terms read (the teacher cache keeps these)."""
        return self._teacher_layers("attentions")

    def _teacher_layers(self, need: str) -> set[int]:
        return {
            i for term in self.terms if need in term.loss.needs for i in term.loss.teacher_layers()
        }

    def check_tokenizers(self, *, same_vocabulary: bool) -> None:
        """ConfigError if a token-level term runs with teacher and student tokenizers differing."""
        token_level = [term.name for term in self.terms if term.loss.same_tokenizer]
        if not token_level or same_vocabulary:
            return
        raise ConfigError(
            f"loss(es) {', '.join(token_level)} compare teacher and student token by token, but "
            "their tokenizers differ (different vocabularies split text differently, so tokens "
            "do not correspond). Use a student built with `from-teacher:K`, or drop these "
            "losses: logit and embedding losses (kl, mse_logits, soft_ce, focal_kd, parallel_mse, "
            "cosine, hidden_mse with align=mean) still work."
        )


def build_term_loss(name: str, params: Mapping[str, Any], *, temperature: float) -> DistillLoss:
    """Loss ``name`` of a recipe term: its ``params``, plus ``temperature`` if the loss takes one
    and ``params`` do not set it (``temperature`` is ``distill.temperature``).

    >>> build_term_loss("kl", {}, temperature=3.0).temperature
    3.0
    >>> build_term_loss("kl", {"temperature": 1.5}, temperature=3.0).temperature
    1.5
    """
    kwargs = dict(params)
    if "temperature" in loss_params(name) and "temperature" not in kwargs:
        kwargs["temperature"] = temperature
    return build_loss(name, **kwargs)


def build_recipe(
    distill: DistillConfig,
    *,
    student_dims: ModelDims,
    teacher_dims: ModelDims,
    extra_teacher_dims: Sequence[ModelDims] = (),
) -> Recipe:
    """The recipe of the ``distill`` config section, every loss set up for these model sizes.

    Validates ``distill`` first (ConfigError naming the setting). Term names are the loss names;
    a loss used again gets its position as a suffix (``hidden_mse``, ``hidden_mse_1``).
    ``extra_teacher_dims``: the sizes of the run's other teachers (``teachers``), checked by
    :func:`check_teachers`; an embedding loss gets a projection for each other width.
    """
    distill.validate()
    terms: list[Term] = []
    for i, spec in enumerate(distill.losses):
        loss = build_term_loss(spec.name, spec.params, temperature=distill.temperature)
        loss.setup(student_dims, teacher_dims)
        if extra_teacher_dims:
            check_teachers(spec.name, loss, distill, student_dims, extra_teacher_dims)
        taken = {term.name for term in terms}
        name = spec.name if spec.name not in taken else f"{spec.name}_{i}"
        terms.append(Term(name=name, weight=float(spec.weight), loss=loss))
    return Recipe(
        terms=tuple(terms), alpha=float(distill.alpha), temperature=float(distill.temperature)
    )


def check_teachers(
    name: str,
    loss: DistillLoss,
    distill: DistillConfig,
    student: ModelDims,
    teachers: Sequence[ModelDims],
) -> None:
    """Set up the term ``name`` for several teachers, or refuse it (ConfigError).

    Only logit losses (the teachers' soft labels, mixed or chosen per language) and sentence
    embedding losses (one projection per teacher width) have a meaning for several teachers:
    hidden-state and attention losses read one teacher's token features and are refused. With
    ``teacher_mix: average`` the soft labels are a mixture at ``distill.temperature``
    (:func:`xkd.train.teachers.mix_logits`), so a term with a temperature of its own is refused.
    """
    if "teacher" not in loss.needs:
        return
    if isinstance(loss, PredictionLoss):
        for dims in teachers:
            loss.setup(student, dims)
        own = loss.temperature
        if distill.teacher_mix == "average" and own != distill.temperature:
            raise ConfigError(
                f"distill.losses[{name}]: temperature {own:g} is not distill.temperature "
                f"({distill.temperature:g}), but distill.teacher_mix: average mixes the teachers' "
                "probabilities at distill.temperature: drop the term's temperature (or set "
                "distill.temperature), or use distill.teacher_mix: per_language"
            )
        return
    if isinstance(loss, PooledEmbeddingLoss):
        for dims in teachers:
            loss.add_teacher_width(student, dims.pooled_size)
        return
    raise ConfigError(
        f"distill.losses[{name}] reads one teacher's token features (hidden states or attention "
        "maps), which several teachers (`teachers`) do not share: drop the term, or the extra "
        "teachers; logit losses (kl, soft_ce, focal_kd, mse_logits) and embedding losses "
        "(parallel_mse, cosine) work with several teachers"
    )
