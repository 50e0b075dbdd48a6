"""``attention_kl``: transfer self-attention distributions (MiniLM / TinyBERT style).

References: Wang et al. (2020), "MiniLM: Deep Self-Attention Distillation for Task-Agnostic
Compression of Pre-Trained Transformers", https://arxiv.org/abs/2002.10957 (KL between
last-layer attention distributions); Jiao et al. (2020), "TinyBERT: Distilling BERT for Natural
Language Understanding", https://arxiv.org/abs/1909.10351 (attention transfer on mapped layers).

Formula, for each mapped layer pair (s, t), teacher attention A^T and student A^S
(``[B, heads, L, L]``, rows are softmax distributions over keys)::

    KL_bhi = sum_j A^T_bhij * (log A^T_bhij - log A^S_bhij)
    L_pair = mean of KL_bhi over heads h, rows b with same_text[b], real query tokens i
    L      = mean over pairs of L_pair

Inputs: ``student_attentions[s]`` / ``teacher_attentions[t]`` (1-based blocks),
``student_mask`` / ``teacher_mask`` ``[B, L]`` (query tokens with mask 0 are skipped; padded
keys carry ~0 teacher probability), ``same_text [B]`` (None = every row). Only rows where
student and teacher read the same string are compared, since attention maps are token by
token; hence ``same_tokenizer = True``. When the two batches are padded to different lengths
the maps are cut to the shorter length (padding only; same-text rows have identical tokens).
A batch without same-text rows gives a zero still connected to the student attentions.

Requires equal head counts (a ConfigError in ``setup`` otherwise): MiniLM's value-relation and
multi-head re-splitting are not implemented.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from xkd.errors import ConfigError
from xkd.models.dims import ModelDims

from ._common import check_layer_map, require_layer, resolve_layer_map, zero_from
from .base import DistillLoss, KDInputs

EPS = 1e-12


def attention_kl(
    student_attention: torch.Tensor, teacher_attention: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """``KL(A^T || A^S)`` over keys, averaged over heads and real query tokens (``mask [B, L]``).

    Both maps are ``[B, heads, L, L]`` probabilities (not logits).
    """
    s = student_attention.float()
    t = teacher_attention.float()
    kl = (torch.xlogy(t, t) - t * torch.log(s.clamp(min=EPS))).sum(-1)  # [B, heads, L]
    m = mask.to(kl.dtype)[:, None, :].expand_as(kl)
    return (kl * m).sum() / m.sum().clamp(min=1.0)


class AttentionKLLoss(DistillLoss):
    """KL between teacher and student attention maps on mapped layers (same-text rows only).

    Args:
        layer_map: ``"last"`` (default: last student block <-> last teacher block),
            ``"auto"`` (student block k <-> teacher block round(k*Lt/Ls)) or a list of
            ``[student_block, teacher_block]`` pairs (1-based).

    References: MiniLM, https://arxiv.org/abs/2002.10957; TinyBERT,
    https://arxiv.org/abs/1909.10351

    Example::

        >>> import torch
        >>> from xkd.losses import AttentionKLLoss, KDInputs
        >>> from xkd.models.dims import ModelDims
        >>> loss = AttentionKLLoss()
        >>> dims = ModelDims(hidden_size=4, num_layers=1, num_heads=1, num_labels=2)
        >>> loss.setup(dims, dims)  # last block <-> last block: pairs [(1, 1)]
        >>> teacher = torch.tensor([[[[0.5, 0.5], [1.0, 0.0]]]])  # [B, heads, L, L]
        >>> student = torch.tensor([[[[0.25, 0.75], [0.5, 0.5]]]])
        >>> inputs = KDInputs(student_attentions={1: student}, teacher_attentions={1: teacher})
        >>> round(loss(inputs).item(), 4)  # (0.5 ln(4/3) + ln 2) / 2 query tokens
        0.4185
    """

    name: ClassVar[str] = "attention_kl"
    description: ClassVar[str] = "KL between teacher and student attention maps (MiniLM)"
    needs: ClassVar[frozenset[str]] = frozenset({"teacher", "attentions"})
    same_tokenizer: ClassVar[bool] = True

    def __init__(self, layer_map: Any = "last") -> None:
        super().__init__()
        self.layer_map = check_layer_map(self.name, layer_map, ("last", "auto"))
        self.pairs: list[tuple[int, int]] = []
        self._ready = False

    def setup(self, student: ModelDims, teacher: ModelDims) -> None:
        if student.num_heads != teacher.num_heads:
            raise ConfigError(
                f"{self.name}: the student has {student.num_heads} attention heads per layer and "
                f"the teacher {teacher.num_heads}; attention maps are compared head by head, so "
                "the counts must match: use `student: from-teacher:K`, or remove attention_kl "
                "from `distill.losses`"
            )
        pairs = resolve_layer_map(
            self.name, self.layer_map, student.num_layers, teacher.num_layers, lowest=1
        )
        self.pairs = list(dict.fromkeys(pairs))
        self._ready = True

    def student_layers(self) -> list[int]:
        return sorted({s for s, _ in self.pairs})

    def teacher_layers(self) -> list[int]:
        return sorted({t for _, t in self.pairs})

    def forward(self, inputs: KDInputs) -> torch.Tensor:
        if not self._ready:
            raise RuntimeError(f"{self.name}: call setup(student_dims, teacher_dims) first")
        maps = [
            (
                require_layer(inputs.student_attentions, s, self.name, "student_attentions"),
                require_layer(inputs.teacher_attentions, t, self.name, "teacher_attentions"),
            )
            for s, t in self.pairs
        ]
        rows = inputs.same_text
        if rows is not None and not bool(rows.any()):
            return zero_from(*(sa for sa, _ in maps))
        terms = []
        for sa, ta in maps:
            ta = ta.detach()
            n = min(sa.shape[-1], ta.shape[-1])
            sa, ta = sa[..., :n, :n], ta[..., :n, :n]
            mask = sa.new_ones(sa.shape[0], n)
            if inputs.student_mask is not None:
                mask = mask * inputs.student_mask[:, :n].to(mask.dtype)
            if inputs.teacher_mask is not None:
                mask = mask * inputs.teacher_mask[:, :n].to(mask.dtype)
            if rows is not None:
                keep = rows.bool()
                sa, ta, mask = sa[keep], ta[keep], mask[keep]
            terms.append(attention_kl(sa, ta, mask))
        return torch.stack(terms).mean()

    def extra_repr(self) -> str:
        return f"pairs={self.pairs}"
