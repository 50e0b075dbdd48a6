"""``cosine``: align sentence-embedding directions.

Reference: the cosine embedding loss of DistilBERT (Sanh et al. 2019, "DistilBERT, a distilled
version of BERT"), https://arxiv.org/abs/1910.01108, applied here to pooled sentence embeddings.

Formula::

    L = 1/B * sum_b ( 1 - cos(W s_b, t_b) )

Inputs: ``student_pooled`` s ``[B, Hs]``, ``teacher_pooled`` t ``[B, Ht]``. ``W`` is a learned
``Linear(Hs, Ht, bias=False)`` built only when Hs != Ht (identity otherwise). Works for any
text pairing (the student may read a translation), since only sentence vectors are compared.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from ._common import PooledEmbeddingLoss, project


def cosine_distance(
    student_pooled: torch.Tensor, teacher_pooled: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """``mean_b(1 - cos(W s_b, t_b))``; ``weight`` W is ``[Ht, Hs]`` or None (identity)."""
    s = project(student_pooled.float(), weight)
    return (1.0 - F.cosine_similarity(s, teacher_pooled.float(), dim=-1)).mean()


class CosineLoss(PooledEmbeddingLoss):
    """``1 - cos(W student_pooled, teacher_pooled)``, mean over the batch.

    Reference: Sanh et al. (2019), https://arxiv.org/abs/1910.01108

    Args:
        projection: learn ``W`` when student and teacher widths differ (default true);
            false requires equal widths.

    Example::

        >>> import torch
        >>> from xkd.losses import CosineLoss, KDInputs
        >>> from xkd.models.dims import ModelDims
        >>> loss = CosineLoss()
        >>> dims = ModelDims(hidden_size=2, num_layers=1, num_heads=1, num_labels=2)
        >>> loss.setup(dims, dims)  # equal widths: no projection
        >>> inputs = KDInputs(
        ...     student_pooled=torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        ...     teacher_pooled=torch.tensor([[1.0, 1.0], [0.0, 2.0]]),
        ... )
        >>> round(loss(inputs).item(), 4)  # (1 - 1/sqrt 2 + 1 - 1) / 2
        0.1464
    """

    name: ClassVar[str] = "cosine"
    description: ClassVar[str] = "1 - cosine(student, teacher) sentence embeddings"
    needs: ClassVar[frozenset[str]] = frozenset({"teacher", "pooled"})

    distance = staticmethod(cosine_distance)
