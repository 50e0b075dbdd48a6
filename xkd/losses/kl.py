"""``kl``: temperature-scaled KL divergence between teacher and student class distributions.

Source: Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network".

Formula, with p = softmax(t / T) (teacher), q = softmax(s / T) (student)::

    L_distill = T^2 * 1/B * sum_b sum_c p_bc * (log p_bc - log q_bc)      (= KL(p || q))
    L_total   = alpha * L_hard + (1 - alpha) * L_distill

The ``T^2`` factor keeps gradient magnitudes comparable across temperatures (Hinton et al.).
Reduction is ``batchmean``: summed over classes, averaged over rows.

Inputs: ``student_logits`` s ``[B, C]``, ``teacher_logits`` t ``[B, C]``, and ``labels`` ``[B]``
(-100 = none) when ``alpha > 0``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from ._prediction import PredictionLoss


def kl_divergence(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """``T^2 * KL(softmax(t/T) || softmax(s/T))``, summed over classes, mean over rows."""
    t = float(temperature)
    log_q = F.log_softmax(student_logits.float() / t, dim=-1)
    log_p = F.log_softmax(teacher_logits.float() / t, dim=-1)
    return F.kl_div(log_q, log_p, log_target=True, reduction="batchmean") * (t * t)


class KLLoss(PredictionLoss):
    """Hinton KD: ``T^2 * KL(softmax(t/T) || softmax(s/T))`` (+ ``alpha`` hard CE).

    Args:
        temperature: softmax temperature T > 0 (default 2.0; higher = softer teacher targets).
        alpha: weight of the hard-label cross-entropy, in [0, 1] (default 0.0 = pure KD).
    """

    name: ClassVar[str] = "kl"
    description: ClassVar[str] = (
        "KL(teacher || student) on softened class distributions (Hinton 2015)"
    )

    def __init__(self, temperature: float = 2.0, alpha: float = 0.0) -> None:
        super().__init__()
        self._init_prediction(temperature, alpha)

    def distill(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        return kl_divergence(student_logits, teacher_logits, self.temperature)
