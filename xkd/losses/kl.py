"""``kl``: temperature-scaled KL divergence between teacher and student class distributions.

Reference: Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network",
https://arxiv.org/abs/1503.02531

Formula, with p = softmax(t / T) (teacher), q = softmax(s / T) (student)::

    L = T^2 * 1/B * sum_b sum_c p_bc * (log p_bc - log q_bc)      (= KL(p || q))

The ``T^2`` factor keeps gradient magnitudes comparable across temperatures (Hinton et al.).
Reduction is ``batchmean``: summed over classes, averaged over rows. ``T`` comes from
``distill.temperature`` unless the term sets its own ``temperature``; the hard-label CE is
added once by the objective (``distill.alpha``), not by this loss.

Inputs: ``student_logits`` s ``[B, C]``, ``teacher_logits`` t ``[B, C]``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from ._prediction import PredictionLoss


def kl_divergence(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """``T^2 * KL(softmax(t/T) || softmax(s/T))``, summed over classes, mean over rows."""
    t = float(temperature)
    log_q = F.log_softmax(student_logits.float() / t, dim=-1)
    log_p = F.log_softmax(teacher_logits.float() / t, dim=-1)
    return F.kl_div(log_q, log_p, log_target=True, reduction="batchmean") * (t * t)


class KLLoss(PredictionLoss):
    """Hinton KD: ``T^2 * KL(softmax(t/T) || softmax(s/T))``, mean over the batch.

    Reference: Hinton, Vinyals & Dean (2015), https://arxiv.org/abs/1503.02531

    Args:
        temperature: softmax temperature T > 0 (higher = softer teacher targets). No default:
            a recipe passes ``distill.temperature`` unless the term sets its own.

    Example::

        >>> import torch
        >>> from xkd.losses import KDInputs, KLLoss
        >>> loss = KLLoss(temperature=2.0)
        >>> inputs = KDInputs(
        ...     student_logits=torch.tensor([[0.0, 1.0], [1.0, 0.0]]),
        ...     teacher_logits=torch.tensor([[1.0, 0.0], [1.0, 0.0]]),
        ... )
        >>> round(loss(inputs).item(), 4)
        0.2449
    """

    name: ClassVar[str] = "kl"
    description: ClassVar[str] = (
        "KL(teacher || student) on softened class distributions (Hinton 2015)"
    )

    def __init__(self, temperature: float) -> None:
        super().__init__()
        self._init_prediction(temperature)

    def distill(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        return kl_divergence(student_logits, teacher_logits, self.temperature)
