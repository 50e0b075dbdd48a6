"""``hidden_mse``: match intermediate hidden states and/or the sentence embedding (FitNets-style).

References: Romero et al. (2015), "FitNets: Hints for Thin Deep Nets",
https://arxiv.org/abs/1412.6550 (learned regressor from student to teacher features); Jiao et
al. (2020), "TinyBERT: Distilling BERT for Natural Language Understanding",
https://arxiv.org/abs/1909.10351 (per-layer hidden-state MSE with a learned ``W_h`` and a uniform
layer mapping).

Not every mode is an MSE: ``align: mean`` and ``align: attention`` are mean squared errors, but
``align: softmax`` is a **KL divergence** between feature distributions (its values are on the
KL's scale, not an MSE's). The name stays ``hidden_mse`` so existing configs keep working.

Inputs (``KDInputs``), B rows, Ls/Lt token lengths, Hs/Ht widths:

- ``student_hidden[s]`` ``[B, Ls, Hs]`` / ``teacher_hidden[t]`` ``[B, Lt, Ht]`` for every mapped
  pair ``(s, t)`` (0 = embedding output, i = output of block i), with ``student_mask [B, Ls]`` /
  ``teacher_mask [B, Lt]`` (1 = real token; all ones if None);
- ``student_pooled [B, Hs]`` / ``teacher_pooled [B, Ht]`` for ``features`` output/both.

Student and teacher rows may hold *different texts* (a translation on the student side), so
token positions are never compared one to one; each ``align`` mode turns tokens into something
comparable first. ``W`` below is the learned ``Linear(Hs, Ht, bias=False)`` of the pair
(identity-initialised when Hs == Ht; absent when ``projection`` is false)::

    mean:      MSE( W mean_s(h_s), mean_t(h_t) )                  masked mean-pooling
    softmax:   KL( softmax_d(pool_t(h_t)) || softmax_d(W pool_s(h_s)) )   batchmean
               pool_x(h) = sum_i a_i h_i, a = softmax_i(h_i . u_x) over real tokens, with a
               learned score vector u_s (Hs) / u_t (Ht) per pair, zero-initialised (= mean at
               start); softmax_d is over the Ht feature dimensions.
    attention: each projected student token W h_s,i attends to the teacher tokens and the
               loss is the MSE between the token and the teacher summary it attends to:
               q = Wq W h_s, k = Wk h_t, split into ``heads`` heads of Ht/heads dims;
               A_h = softmax(q_h k_h^T / sqrt(Ht/heads)) over real teacher tokens;
               target_i = concat_h (A_h h_t,h)_i   (raw teacher features, head h's slice);
               L = mean over real student tokens and Ht dims of (W h_s,i - target_i)^2.
               Wq, Wk are learned ``Ht x Ht`` matrices, identity-initialised (so attention
               starts as scaled dot-product similarity). The values are the raw teacher states,
               not ``nn.MultiheadAttention``'s learned value/output projections: with those
               both sides could shrink to zero and the loss would collapse without the
               student learning anything; here the target is always a convex mix of real
               teacher token states.
    output:    MSE( W_o student_pooled, teacher_pooled )   (for features output/both, any align)

MSE is the mean over all entries. ``features``: ``context`` = mean over the mapped pairs of the
per-pair term; ``output`` = the pooled term; ``both`` = their sum. The term's only factor is its
recipe ``weight`` (the former ``lambda`` param was removed: write ``weight: <weight * lambda>``).

Note on ``softmax``: the teacher-side score vector is learned too, so the loss can also fall by
re-weighting which teacher tokens are summarised; prefer ``mean`` unless you want that freedom.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from xkd.errors import ConfigError
from xkd.models.dims import ModelDims

from ._common import (
    check_bool,
    check_choice,
    check_layer_map,
    check_positive_int,
    make_projection,
    mask_or_ones,
    masked_mean,
    project,
    require,
    require_layer,
    resolve_layer_map,
)
from .base import DistillLoss, KDInputs

FEATURES = ("context", "output", "both")
ALIGN = ("mean", "softmax", "attention")


def mean_pool_mse(
    student_hidden: torch.Tensor,
    teacher_hidden: torch.Tensor,
    student_mask: torch.Tensor,
    teacher_mask: torch.Tensor,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """``MSE(W masked_mean(h_s), masked_mean(h_t))``; ``weight`` W is ``[Ht, Hs]`` or None."""
    s = project(masked_mean(student_hidden.float(), student_mask), weight)
    t = masked_mean(teacher_hidden.float(), teacher_mask)
    return F.mse_loss(s, t)


def _score_pool(tokens: torch.Tensor, mask: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    logits = tokens @ score  # [B, L]
    logits = logits.masked_fill(mask <= 0, torch.finfo(logits.dtype).min)
    weights = torch.softmax(logits, dim=-1)
    return (weights.unsqueeze(-1) * tokens).sum(1)


def softmax_pool_kl(
    student_hidden: torch.Tensor,
    teacher_hidden: torch.Tensor,
    student_mask: torch.Tensor,
    teacher_mask: torch.Tensor,
    student_score: torch.Tensor,
    teacher_score: torch.Tensor,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """``KL(softmax(pool_t(h_t)) || softmax(W pool_s(h_s)))`` over feature dims, batchmean.

    ``pool_x`` is a softmax over real tokens of ``h . score`` (``score`` ``[H]``).
    """
    s = _score_pool(student_hidden.float(), student_mask, student_score.float())
    t = _score_pool(teacher_hidden.float(), teacher_mask, teacher_score.float())
    log_q = F.log_softmax(project(s, weight), dim=-1)
    log_p = F.log_softmax(t, dim=-1)
    return F.kl_div(log_q, log_p, log_target=True, reduction="batchmean")


def attention_align_mse(
    student_hidden: torch.Tensor,
    teacher_hidden: torch.Tensor,
    student_mask: torch.Tensor,
    teacher_mask: torch.Tensor,
    query_weight: torch.Tensor,
    key_weight: torch.Tensor,
    heads: int,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Projected student tokens attend to teacher tokens; MSE to the attended teacher states.

    ``query_weight``/``key_weight`` are ``[Ht, Ht]``; ``heads`` must divide Ht. The mean runs
    over real student tokens and all Ht dims. Works for any Ls, Lt (different texts).
    """
    s = project(student_hidden.float(), weight)  # [B, Ls, H]
    t = teacher_hidden.float()  # [B, Lt, H]
    b, ls, h = s.shape
    lt = t.shape[1]
    d = h // heads
    q = F.linear(s, query_weight.float()).view(b, ls, heads, d).transpose(1, 2)
    k = F.linear(t, key_weight.float()).view(b, lt, heads, d).transpose(1, 2)
    v = t.view(b, lt, heads, d).transpose(1, 2)  # raw teacher features, head slices
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)  # [B, heads, Ls, Lt]
    keys = (teacher_mask > 0)[:, None, None, :]
    scores = scores.masked_fill(~keys, torch.finfo(scores.dtype).min)
    target = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, ls, h)
    err = ((s - target) ** 2).mean(-1)  # [B, Ls]
    m = student_mask.to(err.dtype)
    return (err * m).sum() / m.sum().clamp(min=1.0)


def pooled_mse(
    student_pooled: torch.Tensor, teacher_pooled: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """``MSE(W student_pooled, teacher_pooled)``, mean over all entries."""
    return F.mse_loss(project(student_pooled.float(), weight), teacher_pooled.float())


class HiddenMSELoss(DistillLoss):
    """Hidden-state / sentence-embedding matching with learned alignment (see module doc).

    ``align: softmax`` computes a KL divergence, not an MSE (see the module docstring).

    References: FitNets, https://arxiv.org/abs/1412.6550; TinyBERT,
    https://arxiv.org/abs/1909.10351

    Args:
        layer_map: ``"auto"`` (default: student block k of Ls <-> teacher block
            round(k*Lt/Ls), k = 1..Ls) or a list of ``[student_layer, teacher_layer]`` pairs
            (0 = embeddings). Used by ``features`` context/both.
        features: ``"context"`` (default; mapped intermediate layers), ``"output"`` (pooled
            sentence embedding) or ``"both"`` (sum of the two terms).
        align: how token features are made comparable: ``"mean"`` (default; MSE of mean-pooled
            states), ``"softmax"`` (KL between softmaxed, score-pooled states) or
            ``"attention"`` (MSE to attended teacher states).
        projection: learn a ``Linear(Hs, Ht, bias=False)`` per mapped layer (and for the
            output); default true. False requires Hs == Ht.
        heads: attention heads for ``align: attention``; must divide the teacher width
            (default 4).

    Example::

        >>> import torch
        >>> from xkd.losses import HiddenMSELoss, KDInputs
        >>> from xkd.models.dims import ModelDims
        >>> loss = HiddenMSELoss(layer_map=[[1, 1]], projection=False)
        >>> dims = ModelDims(hidden_size=2, num_layers=1, num_heads=1, num_labels=2)
        >>> loss.setup(dims, dims)
        >>> inputs = KDInputs(
        ...     student_hidden={1: torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])},  # mean [2, 3]
        ...     teacher_hidden={1: torch.tensor([[[0.0, 0.0], [2.0, 2.0]]])},  # mean [1, 1]
        ... )
        >>> loss(inputs).item()  # ((2 - 1)^2 + (3 - 1)^2) / 2
        2.5
    """

    name: ClassVar[str] = "hidden_mse"
    description: ClassVar[str] = (
        "MSE on hidden states / sentence embedding with learned projections "
        "(align: softmax is a KL)"
    )
    needs: ClassVar[frozenset[str]] = frozenset({"teacher", "hidden", "pooled"})

    def __init__(
        self,
        layer_map: Any = "auto",
        features: str = "context",
        align: str = "mean",
        projection: bool = True,
        heads: int = 4,
    ) -> None:
        super().__init__()
        self.layer_map = check_layer_map(self.name, layer_map, ("auto",))
        self.features = check_choice(self.name, "features", features, FEATURES)
        self.align = check_choice(self.name, "align", align, ALIGN)
        self.projection = check_bool(self.name, "projection", projection)
        self.heads = check_positive_int(self.name, "heads", heads)
        self.use_context = self.features in ("context", "both")
        self.use_output = self.features in ("output", "both")
        needs = {"teacher"}
        needs |= {"hidden"} if self.use_context else set()
        needs |= {"pooled"} if self.use_output else set()
        self.needs = frozenset(needs)  # type: ignore[misc]
        self.pairs: list[tuple[int, int]] = []
        self._ready = False

    def setup(self, student: ModelDims, teacher: ModelDims) -> None:
        hs, ht = student.hidden_size, teacher.hidden_size
        self.proj = nn.ModuleDict()
        self.student_scores = nn.ParameterDict()
        self.teacher_scores = nn.ParameterDict()
        self.query = nn.ModuleDict()
        self.key = nn.ModuleDict()
        if self.use_context:
            pairs = resolve_layer_map(
                self.name, self.layer_map, student.num_layers, teacher.num_layers, lowest=0
            )
            self.pairs = list(dict.fromkeys(pairs))
            if self.align == "attention" and ht % self.heads:
                divisors = [d for d in range(1, min(ht, 64) + 1) if ht % d == 0]
                raise ConfigError(
                    f"{self.name}: heads = {self.heads} must divide the teacher width {ht} "
                    f"(allowed: {', '.join(map(str, divisors))})"
                )
            for s, t in self.pairs:
                key = _key(s, t)
                proj = make_projection(self.name, hs, ht, enabled=self.projection, always=True)
                if proj is not None:
                    self.proj[key] = proj
                if self.align == "softmax":
                    self.student_scores[key] = nn.Parameter(torch.zeros(hs))
                    self.teacher_scores[key] = nn.Parameter(torch.zeros(ht))
                elif self.align == "attention":
                    self.query[key] = _identity_linear(ht)
                    self.key[key] = _identity_linear(ht)
        if self.use_output:
            ps, pt = student.pooled_size, teacher.pooled_size
            proj = make_projection(self.name, ps, pt, enabled=self.projection, always=True)
            if proj is not None:
                self.proj["output"] = proj
        self._ready = True

    def student_layers(self) -> list[int]:
        return sorted({s for s, _ in self.pairs})

    def teacher_layers(self) -> list[int]:
        return sorted({t for _, t in self.pairs})

    def _weight(self, key: str) -> torch.Tensor | None:
        return self.proj[key].weight if key in self.proj else None

    def _context(self, inputs: KDInputs, s: int, t: int) -> torch.Tensor:
        key = _key(s, t)
        sh = require_layer(inputs.student_hidden, s, self.name, "student_hidden")
        th = require_layer(inputs.teacher_hidden, t, self.name, "teacher_hidden").detach()
        sm = mask_or_ones(inputs.student_mask, sh)
        tm = mask_or_ones(inputs.teacher_mask, th)
        w = self._weight(key)
        if self.align == "mean":
            return mean_pool_mse(sh, th, sm, tm, w)
        if self.align == "softmax":
            return softmax_pool_kl(
                sh, th, sm, tm, self.student_scores[key], self.teacher_scores[key], w
            )
        return attention_align_mse(
            sh, th, sm, tm, self.query[key].weight, self.key[key].weight, self.heads, w
        )

    def forward(self, inputs: KDInputs) -> torch.Tensor:
        if not self._ready:
            raise RuntimeError(f"{self.name}: call setup(student_dims, teacher_dims) first")
        terms = []
        if self.use_context:
            terms.append(torch.stack([self._context(inputs, s, t) for s, t in self.pairs]).mean())
        if self.use_output:
            sp = require(inputs.student_pooled, self.name, "student_pooled")
            tp = require(inputs.teacher_pooled, self.name, "teacher_pooled").detach()
            terms.append(pooled_mse(sp, tp, self._weight("output")))
        return sum(terms[1:], terms[0])

    def extra_repr(self) -> str:
        return (
            f"features={self.features!r}, align={self.align!r}, pairs={self.pairs}, "
            f"projection={self.projection}"
        )


def _key(s: int, t: int) -> str:
    return f"s{s}_t{t}"


def _identity_linear(width: int) -> nn.Linear:
    lin = nn.Linear(width, width, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(width))
    return lin
