"""``ce``: hard-label cross-entropy, the no-distillation baseline.

Formula, over the rows ``R = {b : labels[b] != -100}`` that carry a hard label::

    L_ce = -1/|R| * sum_{b in R} log softmax(z_b)[y_b]

Inputs: ``student_logits`` z ``[B, C]``, ``labels`` y ``[B]`` (long, -100 = no label).
If no row of the batch is labelled the loss is a zero that is still connected to the student
logits (``backward`` works and yields zero gradients), so unlabelled parallel batches are safe.

Needs no teacher. Prediction losses reuse :func:`hard_cross_entropy` for their ``alpha`` term.
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
    """
    keep = labels != IGNORE
    if not bool(keep.any()):
        return zero_from(logits)
    return F.cross_entropy(logits[keep].float(), labels[keep])


class CELoss(DistillLoss):
    """Hard-label cross-entropy on ``labels`` (rows with -100 ignored); no teacher.

    No parameters.
    """

    name: ClassVar[str] = "ce"
    description: ClassVar[str] = "hard-label cross-entropy (no teacher; the no-KD baseline)"
    needs: ClassVar[frozenset[str]] = frozenset({"logits", "labels"})

    def setup(self, student: ModelDims, teacher: ModelDims) -> None:
        pass

    def forward(self, inputs: KDInputs) -> torch.Tensor:
        logits = require(inputs.student_logits, self.name, "student_logits")
        labels = require(inputs.labels, self.name, "labels")
        return hard_cross_entropy(logits, labels)
