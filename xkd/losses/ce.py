"""``ce``: hard-label cross-entropy, as a recipe term.

Reference: the standard softmax cross-entropy, as ``torch.nn.functional.cross_entropy``
computes it, https://pytorch.org/docs/stable/generated/torch.nn.functional.cross_entropy.html

Formula, over the rows ``R = {b : labels[b] != -100}`` that carry a hard label::

    L_ce = -1/|R| * sum_{b in R} log softmax(z_b)[y_b]

Inputs: ``student_logits`` z ``[B, C]``, ``labels`` y ``[B]`` (long, -100 = no label).
If no row of the batch is labelled the loss is a zero that is still connected to the student
logits (``backward`` works and yields zero gradients), so unlabelled parallel batches are safe.

Needs no teacher. :func:`hard_cross_entropy` is also the hard-label term the objective adds
once with weight ``distill.alpha`` (``alpha * CE + (1 - alpha) * sum_i w_i * L_i``). A ``ce``
*term* is that same CE inside the weighted sum; it is only allowed when ``distill.alpha`` is 0
(otherwise the hard CE would be counted twice). The teacher fine-tune and the no-KD baseline use
the hard-label objective (alpha = 1, no terms), not a ``ce`` term.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from xkd.models.dims import ModelDims

from ._common import require, zero_from
from .base import DistillLoss, KDInputs

IGNORE = -100


def hard_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of ``logits [B, C]`` against ``labels [B]`` over labelled rows.

    Rows with label -100 are ignored; with no labelled row the result is ``0 * logits.sum()``.

    >>> import torch
    >>> logits = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    >>> round(hard_cross_entropy(logits, torch.tensor([1, -100])).item(), 4)  # -ln q_1, row 0
    0.3133
    """
    keep = labels != IGNORE
    if not bool(keep.any()):
        return zero_from(logits)
    return F.cross_entropy(logits[keep].float(), labels[keep])


class CELoss(DistillLoss):
    """Hard-label cross-entropy on ``labels`` (rows with -100 ignored); no teacher.

    No parameters. As a recipe term it needs ``distill.alpha: 0`` (see the module docstring).

    Example::

        >>> import torch
        >>> from xkd.losses import CELoss, KDInputs
        >>> inputs = KDInputs(
        ...     student_logits=torch.tensor([[0.0, 0.0], [5.0, -5.0]]),
        ...     labels=torch.tensor([1, -100]),  # the second row has no hard label
        ... )
        >>> round(CELoss()(inputs).item(), 4)  # -ln 0.5
        0.6931
    """

    name: ClassVar[str] = "ce"
    description: ClassVar[str] = "hard-label cross-entropy (no teacher; needs distill.alpha 0)"
    needs: ClassVar[frozenset[str]] = frozenset({"logits", "labels"})

    def setup(self, student: ModelDims, teacher: ModelDims) -> None:
        pass

    def forward(self, inputs: KDInputs) -> torch.Tensor:
        logits = require(inputs.student_logits, self.name, "student_logits")
        labels = require(inputs.labels, self.name, "labels")
        return hard_cross_entropy(logits, labels)
