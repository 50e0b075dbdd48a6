"""``mse_logits``: regress the student's logits onto the teacher's.

Reference: Ba & Caruana (2014), "Do Deep Nets Really Need to be Deep?" (logit matching),
https://arxiv.org/abs/1312.6184

Formula::

    L = 1/(B*C) * sum_{b,c} (s_bc / T - t_bc / T)^2

Mean over all B*C entries (``torch.nn.MSELoss`` convention). At T = 1 this is Ba & Caruana's
plain logit regression; T only rescales the term by 1/T^2. Like every prediction loss it takes
``distill.temperature`` unless the term sets ``temperature`` (write ``temperature: 1`` in the
term's params for the plain regression when ``distill.temperature`` is another value).

Inputs: ``student_logits`` s ``[B, C]``, ``teacher_logits`` t ``[B, C]``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from ._prediction import PredictionLoss


def mse_logits(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Mean squared error between ``s / T`` and ``t / T`` over all entries."""
    t = float(temperature)
    return F.mse_loss(student_logits.float() / t, teacher_logits.float() / t)


class MSELogitsLoss(PredictionLoss):
    """Logit regression ``mean((s/T - t/T)^2)`` over all entries.

    Reference: Ba & Caruana (2014), https://arxiv.org/abs/1312.6184

    Args:
        temperature: T > 0 (T = 1 is plain logit MSE; T scales the term by 1/T^2). No default:
            a recipe passes ``distill.temperature`` unless the term sets its own.

    Example::

        >>> import torch
        >>> from xkd.losses import KDInputs, MSELogitsLoss
        >>> loss = MSELogitsLoss(temperature=1.0)
        >>> inputs = KDInputs(
        ...     student_logits=torch.tensor([[1.0, 2.0], [0.0, 0.0]]),
        ...     teacher_logits=torch.tensor([[0.0, 0.0], [1.0, 0.0]]),
        ... )
        >>> loss(inputs).item()  # squared differences 1, 4, 1, 0 -> mean 1.5
        1.5
    """

    name: ClassVar[str] = "mse_logits"
    description: ClassVar[str] = "MSE between student and teacher logits (Ba & Caruana 2014)"

    def __init__(self, temperature: float) -> None:
        super().__init__()
        self._init_prediction(temperature)

    def distill(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        return mse_logits(student_logits, teacher_logits, self.temperature)
