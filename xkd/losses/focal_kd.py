"""``focal_kd``: soft-label cross-entropy with a focal weight on classes the student gets wrong.

Reference: the focal loss of Lin, Goyal, Girshick, He & Dollar (2017), "Focal Loss for Dense
Object Detection", https://arxiv.org/abs/1708.02002, applied to the teacher's soft targets
instead of one-hot labels.

Formula, with p = softmax(t / T), q = softmax(s / T), gamma >= 0::

    L = T^2 * 1/B * sum_b ( - sum_c p_bc * (1 - q_bc)^gamma * log q_bc )

``(1 - q)^gamma`` shrinks the term for classes the student already predicts confidently, so
training focuses on the classes where it lags the teacher. gamma = 0 gives exactly ``soft_ce``
(same T^2 convention). The focal factor is part of the graph (not detached), as in Lin et al.
``T`` comes from ``distill.temperature`` unless the term sets its own ``temperature``.

Inputs: ``student_logits`` s ``[B, C]``, ``teacher_logits`` t ``[B, C]``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from ._common import check_non_negative
from ._prediction import PredictionLoss


def focal_soft_cross_entropy(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float,
    gamma: float = 2.0,
) -> torch.Tensor:
    """``T^2 * mean_b(-sum_c p_bc * (1 - q_bc)^gamma * log q_bc)``."""
    t = float(temperature)
    log_q = F.log_softmax(student_logits.float() / t, dim=-1)
    p = F.softmax(teacher_logits.float() / t, dim=-1)
    if float(gamma) == 0.0:
        focal = torch.ones_like(log_q)
    else:  # the clamp keeps pow's gradient finite where q == 1 (its own gradient is 0 there)
        focal = (1.0 - log_q.exp()).clamp(min=1e-12).pow(float(gamma))
    return -(p * focal * log_q).sum(-1).mean() * (t * t)


class FocalKDLoss(PredictionLoss):
    """Focal soft CE ``-T^2 * sum_c p_c (1 - q_c)^gamma log q_c``, mean over the batch.

    Reference: Lin et al. (2017), https://arxiv.org/abs/1708.02002

    Args:
        temperature: T > 0. No default: a recipe passes ``distill.temperature`` unless the term
            sets its own.
        gamma: focusing exponent >= 0 (default 2.0; 0 = ``soft_ce``).

    Example::

        >>> import torch
        >>> from xkd.losses import FocalKDLoss, KDInputs
        >>> loss = FocalKDLoss(temperature=2.0, gamma=2.0)
        >>> inputs = KDInputs(
        ...     student_logits=torch.tensor([[0.0, 1.0], [1.0, 0.0]]),
        ...     teacher_logits=torch.tensor([[1.0, 0.0], [1.0, 0.0]]),
        ... )
        >>> round(loss(inputs).item(), 4)
        0.89
    """

    name: ClassVar[str] = "focal_kd"
    description: ClassVar[str] = "focal-weighted soft cross-entropy (gamma = 0 is soft_ce)"

    def __init__(self, temperature: float, gamma: float = 2.0) -> None:
        super().__init__()
        self._init_prediction(temperature)
        self.gamma = check_non_negative(self.name, "gamma", gamma)

    def distill(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        return focal_soft_cross_entropy(
            student_logits, teacher_logits, self.temperature, self.gamma
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, gamma={self.gamma}"
