"""Shared base of the prediction (logit) losses: the temperature ``T`` and the label-count check.

A prediction loss returns only its distillation term, a pure function of (student_logits,
teacher_logits). The hard-label cross-entropy is not part of any loss: the objective adds it
once, ``alpha * CE + (1 - alpha) * sum_i w_i * L_i`` (see :mod:`xkd.losses.recipe`).

``temperature`` has no default of its own: the recipe builder passes ``distill.temperature``
unless the term's params set ``temperature``.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from xkd.errors import ConfigError
from xkd.models.dims import ModelDims

from ._common import check_positive, require
from .base import DistillLoss, KDInputs


class PredictionLoss(DistillLoss):
    """Base for losses on teacher/student logits (``kl``, ``mse_logits``, ``soft_ce``, ...).

    Subclasses define ``__init__`` (call :meth:`_init_prediction`) and :meth:`distill`.
    """

    needs: ClassVar[frozenset[str]] = frozenset({"teacher", "logits"})

    def _init_prediction(self, temperature: float) -> None:
        self.temperature = check_positive(self.name, "temperature", temperature)

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
        return self.distill(student, teacher)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
