"""Shared types for distillation losses.

A loss is a small ``nn.Module``. Its math lives in a pure function of tensors (tested with
``torch.randn``); ``forward`` takes a :class:`KDInputs` and calls that function with what it
needs. The training loop never knows which loss it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from xkd.models.dims import ModelDims


@dataclass
class PooledTarget:
    """The sentence-embedding target of some rows of a batch, from one or more teachers of one
    width (several teachers, :mod:`xkd.train.teachers`): ``pooled`` ``[n, width]`` for the batch
    rows ``rows`` (``None``: every row, in order), its share ``weight`` of the loss."""

    width: int
    pooled: torch.Tensor
    weight: float
    rows: torch.Tensor | None = None


@dataclass
class KDInputs:
    """Everything a loss may read for one batch.

    Rows are training examples ``(student_text, teacher_text)``. For parallel data the student
    reads a translation of what the teacher read; ``same_text`` marks rows where both read the
    same string (token-level losses only make sense there).

    Shapes: B batch, C classes, Hs/Ht student/teacher width, Ls/Lt token lengths.
    ``*_hidden`` map a layer index (0 = embeddings, i = output of block i) to [B, L, H].
    ``*_attentions`` map a layer index (1-based block) to [B, heads, L, L].
    """

    student_logits: torch.Tensor | None = None  # [B, C]
    teacher_logits: torch.Tensor | None = None  # [B, C]
    student_pooled: torch.Tensor | None = None  # [B, Hs]
    teacher_pooled: torch.Tensor | None = None  # [B, Ht]
    student_hidden: dict[int, torch.Tensor] = field(default_factory=dict)
    teacher_hidden: dict[int, torch.Tensor] = field(default_factory=dict)
    student_mask: torch.Tensor | None = None  # [B, Ls] 1 = real token
    teacher_mask: torch.Tensor | None = None  # [B, Lt]
    student_attentions: dict[int, torch.Tensor] = field(default_factory=dict)
    teacher_attentions: dict[int, torch.Tensor] = field(default_factory=dict)
    labels: torch.Tensor | None = None  # [B] long, -100 = no hard label for this row
    same_text: torch.Tensor | None = None  # [B] bool
    #: several teachers of other widths: the embedding targets, instead of ``teacher_pooled``
    teacher_targets: list[PooledTarget] | None = None


class DistillLoss(nn.Module):
    """Base class. Subclasses set ``name``, ``needs`` and implement ``forward``.

    ``needs`` says which outputs the loss reads: any of ``"logits"``, ``"pooled"``,
    ``"hidden"``, ``"attentions"``, ``"labels"``. ``"teacher"`` in needs means the teacher
    must run (its outputs are cached). ``same_tokenizer`` means the loss compares tokens one to one
    and is refused when teacher and student tokenizers differ.

    The class attribute ``needs`` is the widest set a loss may read; an instance may narrow it to
    what its parameters actually use (e.g. no ``"labels"`` when ``alpha == 0``), so read
    ``loss.needs`` on the built instance. Losses with learnable parts (projections) create them
    in ``setup``; their parameters must join the optimizer and move to the device with the model.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""  # one line for listings (CLI, app)
    needs: ClassVar[frozenset[str]] = frozenset()
    same_tokenizer: ClassVar[bool] = False

    def setup(self, student: ModelDims, teacher: ModelDims) -> None:
        """Build learnable parts once both models are known (before the optimizer exists).

        Raise ``xkd.errors.ConfigError`` if the loss cannot work with these sizes.
        """

    def student_layers(self) -> list[int]:
        """Student hidden/attention layer indices ``forward`` reads (after ``setup``)."""
        return []

    def teacher_layers(self) -> list[int]:
        """Teacher hidden/attention layer indices ``forward`` reads (after ``setup``)."""
        return []

    def forward(self, inputs: KDInputs) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError
