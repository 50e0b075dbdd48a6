"""``mse_logits``: regress the student's logits onto the teacher's.

Source: Ba & Caruana (2014), "Do Deep Nets Really Need to be Deep?" (logit matching).

Formula::

    L_distill = 1/(B*C) * sum_{b,c} (s_bc / T - t_bc / T)^2
    L_total   = alpha * L_hard + (1 - alpha) * L_distill

Mean over all B*C entries (``torch.nn.MSELoss`` convention). With the default T = 1 this is
Ba & Caruana's plain logit regression; T only rescales the term by 1/T^2 (it is accepted so all
prediction losses share ``temperature``/``alpha``).

Inputs: ``student_logits`` s ``[B, C]``, ``teacher_logits`` t ``[B, C]``, and ``labels`` ``[B]``
when ``alpha > 0``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from ._prediction import PredictionLoss


def mse_logits(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Mean squared error between ``s / T`` and ``t / T`` over all entries."""
    t = float(temperature)
    return F.mse_loss(student_logits.float() / t, teacher_logits.float() / t)


class MSELogitsLoss(PredictionLoss):
    """Logit regression ``mean((s/T - t/T)^2)`` (+ ``alpha`` hard CE).

    Args:
        temperature: T > 0 (default 1.0 = plain logit MSE; T scales the term by 1/T^2).
        alpha: weight of the hard-label cross-entropy, in [0, 1] (default 0.0).
    """

    name: ClassVar[str] = "mse_logits"
    description: ClassVar[str] = "MSE between student and teacher logits (Ba & Caruana 2014)"

    def __init__(self, temperature: float = 1.0, alpha: float = 0.0) -> None:
        super().__init__()
        self._init_prediction(temperature, alpha)

    def distill(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        return mse_logits(student_logits, teacher_logits, self.temperature)
