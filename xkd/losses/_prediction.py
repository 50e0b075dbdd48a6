"""Shared base of the prediction (logit) losses: temperature ``T`` and hard-label mix ``alpha``.

Every prediction loss returns::

    L_total = alpha * L_hard + (1 - alpha) * L_distill

``L_hard`` is :func:`xkd.losses.ce.hard_cross_entropy` on the student logits at T = 1 (rows with
label -100 ignored; zero if no row is labelled); it is not computed at all when ``alpha == 0``.
``L_distill`` is the subclass's pure function of (student_logits, teacher_logits).
"""

from __future__ import annotations

from typing import ClassVar

import torch

from xkd.errors import ConfigError
from xkd.models.dims import ModelDims

from ._common import check_positive, check_unit, require
from .base import DistillLoss, KDInputs
from .ce import hard_cross_entropy


def combine_hard_soft(
    distill: torch.Tensor, hard: torch.Tensor | None, alpha: float
) -> torch.Tensor:
    """``alpha * hard + (1 - alpha) * distill``; ``hard`` may be None when ``alpha == 0``."""
    if alpha == 0.0:
        return distill
    assert hard is not None
    return alpha * hard + (1.0 - alpha) * distill


class PredictionLoss(DistillLoss):
    """Base for losses on teacher/student logits (``kl``, ``mse_logits``, ``soft_ce``, ...).

    Subclasses define ``__init__`` with their own defaults (call :meth:`_init_prediction`) and
    :meth:`distill`. ``needs`` (class) is the widest set; an instance drops ``"labels"`` when
    ``alpha == 0``.
    """

    needs: ClassVar[frozenset[str]] = frozenset({"teacher", "logits", "labels"})

    def _init_prediction(self, temperature: float, alpha: float) -> None:
        self.temperature = check_positive(self.name, "temperature", temperature)
        self.alpha = check_unit(self.name, "alpha", alpha)
        if self.alpha == 0.0:
            self.needs = frozenset({"teacher", "logits"})  # type: ignore[misc]

    def setup(self, student: ModelDims, teacher: ModelDims) -> None:
        if student.num_labels != teacher.num_labels or student.num_labels < 1:
            raise ConfigError(
                f"{self.name}: compares class logits, so student and teacher need the same "
                f"labels; student has {student.num_labels} classes, teacher "
                f"{teacher.num_labels}"
            )

    def distill(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover

    def forward(self, inputs: KDInputs) -> torch.Tensor:
        student = require(inputs.student_logits, self.name, "student_logits")
        teacher = require(inputs.teacher_logits, self.name, "teacher_logits").detach()
        distill = self.distill(student, teacher)
        hard = None
        if self.alpha > 0.0:
            labels = require(inputs.labels, self.name, "labels (alpha > 0)")
            hard = hard_cross_entropy(student, labels)
        return combine_hard_soft(distill, hard, self.alpha)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}"
