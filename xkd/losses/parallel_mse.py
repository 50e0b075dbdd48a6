"""``parallel_mse``: multilingual sentence embeddings by distillation on parallel data.

Reference: Reimers & Gurevych (2020), "Making Monolingual Sentence Embeddings Multilingual using
Knowledge Distillation" (EMNLP), https://arxiv.org/abs/2004.09813. For a translation pair (src, tgt) the student must put both
sentences where the teacher puts the source::

    L = MSE(S(src), T(src)) + MSE(S(tgt), T(src))           (:func:`parallel_mse`)

MSE is the mean over all entries (``torch.nn.MSELoss``, as in sentence-transformers).

Training layout: the trainer turns each parallel pair into two rows, (student reads src,
teacher reads src) and (student reads tgt, teacher reads src), so ``forward`` is simply::

    forward = MSE(W student_pooled, teacher_pooled)         over the B = 2N rows

which equals ``parallel_mse(...) / 2`` for a batch holding both rows of N pairs (the mean runs
over 2N rows instead of summing two N-row means). Monolingual rows (student and teacher read
the same text) contribute the first term only.

Inputs: ``student_pooled`` ``[B, Hs]``, ``teacher_pooled`` ``[B, Ht]``. ``W`` is a learned
``Linear(Hs, Ht, bias=False)`` built only when Hs != Ht (identity otherwise). Note: with a
projection the student's *own* embedding space is only aligned with the teacher's through W.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from ._common import PooledEmbeddingLoss, project


def parallel_mse(
    student_src: torch.Tensor, student_tgt: torch.Tensor, teacher_src: torch.Tensor
) -> torch.Tensor:
    """``MSE(student_src, teacher_src) + MSE(student_tgt, teacher_src)``; all ``[N, H]``."""
    t = teacher_src.float()
    return F.mse_loss(student_src.float(), t) + F.mse_loss(student_tgt.float(), t)


def embedding_mse(
    student_pooled: torch.Tensor, teacher_pooled: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """``MSE(W s, t)`` over all rows and entries; ``weight`` W is ``[Ht, Hs]`` or None."""
    return F.mse_loss(project(student_pooled.float(), weight), teacher_pooled.float())


class ParallelMSELoss(PooledEmbeddingLoss):
    """Reimers & Gurevych (2020) multilingual distillation: ``MSE(W S(x), T(src))`` per row.

    Reference: https://arxiv.org/abs/2004.09813

    Args:
        projection: learn ``W`` when student and teacher widths differ (default true);
            false requires equal widths.

    Example::

        >>> import torch
        >>> from xkd.losses import KDInputs, ParallelMSELoss
        >>> from xkd.models.dims import ModelDims
        >>> loss = ParallelMSELoss()
        >>> dims = ModelDims(hidden_size=2, num_layers=1, num_heads=1, num_labels=2)
        >>> loss.setup(dims, dims)
        >>> inputs = KDInputs(  # row 0: student reads the source, row 1 the translation
        ...     student_pooled=torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        ...     teacher_pooled=torch.tensor([[1.0, 1.0], [1.0, 1.0]]),
        ... )
        >>> loss(inputs).item()  # squared errors 0, 1, 1, 0 -> mean 0.5
        0.5
    """

    name: ClassVar[str] = "parallel_mse"
    description: ClassVar[str] = "MSE of student(src|tgt) to teacher(src) embeddings (Reimers 2020)"
    needs: ClassVar[frozenset[str]] = frozenset({"teacher", "pooled"})

    distance = staticmethod(embedding_mse)
