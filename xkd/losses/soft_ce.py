"""``soft_ce``: cross-entropy of the student against the teacher's soft labels.

Reference: Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network",
https://arxiv.org/abs/1503.02531 (the soft-target objective; it differs from ``kl`` only by the
teacher entropy, a constant for the student, so both give the same gradients).

Formula, with p = softmax(t / T), q = softmax(s / T)::

    L = T^2 * 1/B * sum_b ( - sum_c p_bc * log q_bc )

The ``T^2`` factor is kept, as in ``kl``, so gradients match ``kl`` at any T; at T = 1 it is the
plain formula ``-sum_c p_c log q_c`` averaged over rows. Natural log. ``T`` comes from
``distill.temperature`` unless the term sets its own ``temperature``.

Inputs: ``student_logits`` s ``[B, C]``, ``teacher_logits`` t ``[B, C]``.

:func:`binary_soft_ce` is the one-term variant ``-p * ln q`` (positive class only) used by the
project's worked example (teacher p = 0.6, student q = 0.5: ``-0.6 * ln 0.5 = 0.416``).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from ._prediction import PredictionLoss


def soft_cross_entropy(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """``T^2 * mean_b(-sum_c softmax(t/T)_bc * log softmax(s/T)_bc)``."""
    t = float(temperature)
    log_q = F.log_softmax(student_logits.float() / t, dim=-1)
    p = F.softmax(teacher_logits.float() / t, dim=-1)
    return -(p * log_q).sum(-1).mean() * (t * t)


def binary_soft_ce(p: torch.Tensor | float, q: torch.Tensor | float) -> torch.Tensor:
    """``-p * ln q`` for the positive class only (mean if tensors): the worked example's term.

    ``p`` is the teacher's probability of class 1, ``q`` the student's. This is *not* the full
    two-class soft CE, which adds ``-(1 - p) * ln(1 - q)``; see :func:`soft_cross_entropy`.

    >>> round(binary_soft_ce(0.6, 0.5).item(), 3)
    0.416
    """
    p = torch.as_tensor(p, dtype=torch.float32)
    q = torch.as_tensor(q, dtype=torch.float32)
    return -(p * torch.log(q)).mean()


class SoftCELoss(PredictionLoss):
    """Soft-label cross-entropy ``-T^2 * sum_c p_c log q_c``, mean over the batch.

    Reference: Hinton, Vinyals & Dean (2015), https://arxiv.org/abs/1503.02531

    Args:
        temperature: T > 0 (T = 1 is the plain formula). No default: a recipe passes
            ``distill.temperature`` unless the term sets its own.

    Example::

        >>> import torch
        >>> from xkd.losses import KDInputs, SoftCELoss
        >>> loss = SoftCELoss(temperature=1.0)
        >>> inputs = KDInputs(
        ...     student_logits=torch.tensor([[0.0, 0.0]]),  # q = [0.5, 0.5]
        ...     teacher_logits=torch.tensor([[0.0, 1.0]]),
        ... )
        >>> round(loss(inputs).item(), 4)  # -(p0 + p1) ln 0.5 = ln 2
        0.6931
    """

    name: ClassVar[str] = "soft_ce"
    description: ClassVar[str] = "cross-entropy against the teacher's soft labels"

    def __init__(self, temperature: float) -> None:
        super().__init__()
        self._init_prediction(temperature)

    def distill(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        return soft_cross_entropy(student_logits, teacher_logits, self.temperature)
