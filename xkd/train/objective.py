"""The objective the training loop optimises: a model plus its :class:`~xkd.losses.Recipe`.

``KDObjective(model, recipe, cache)(batch) -> (total, terms)`` with::

    total = alpha * CE + (1 - alpha) * sum_i w_i * L_i

(:mod:`xkd.losses.recipe`). ``CE`` is the hard-label cross-entropy over the batch rows that
carry a label, computed once here and logged as the term ``ce``; with ``alpha == 0`` it is not
computed and ``total`` is exactly ``sum_i w_i * L_i`` (the same operations, in the same order,
as before ``alpha`` moved out of the losses). Teacher outputs come from the
:class:`~xkd.train.cache.TeacherCache` (several teachers:
:class:`~xkd.train.teachers.TeacherMix`); the teachers never run here.

The KD student: ``KDObjective(student, build_recipe(cfg.distill, ...), cache)``. The teacher
fine-tune and the no-KD baseline: ``KDObjective(model, Recipe.hard_labels())`` (total = CE).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from xkd.losses import HARD_LABEL_TERM, KDInputs, Recipe, combine_hard_soft
from xkd.losses.ce import hard_cross_entropy

if TYPE_CHECKING:
    from xkd.train.cache import TeacherCache
    from xkd.train.teachers import TeacherMix


class KDObjective(nn.Module):
    """A model and its recipe; ``forward(batch) -> (total, {term: unweighted value})``.

    Keeping the losses' learnable parts (projections) inside one module lets Accelerate wrap the
    whole objective for distributed training. ``cache`` is required when a term reads the
    teacher (``"teacher"`` in its ``needs``).
    """

    def __init__(
        self, student: nn.Module, recipe: Recipe, cache: TeacherCache | TeacherMix | None = None
    ) -> None:
        super().__init__()
        teacher_terms = [t.name for t in recipe.terms if "teacher" in t.loss.needs]
        if teacher_terms and cache is None:
            raise ValueError(
                f"term(s) {', '.join(teacher_terms)} read the teacher's outputs: pass its cache"
            )
        self.student = student
        self.recipe = recipe
        self.alpha = recipe.alpha
        self.losses = nn.ModuleDict({term.name: term.loss for term in recipe.terms})
        self.weights = {term.name: term.weight for term in recipe.terms}
        self.cache = cache
        self.student_layers = sorted(
            {i for loss in self.losses.values() for i in loss.student_layers()}
        )
        self.want_hidden = any("hidden" in loss.needs for loss in self.losses.values()) or bool(
            self.student_layers
        )
        self.want_attn = any("attentions" in loss.needs for loss in self.losses.values())

    def forward(
        self, batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = self.student(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            output_hidden_states=self.want_hidden,
            output_attentions=self.want_attn,
        )
        inputs = KDInputs(
            student_logits=out.logits,
            student_pooled=out.pooled,
            student_mask=batch["attention_mask"],
            labels=batch["labels"],
            same_text=batch["same_text"],
        )
        if out.hidden_states is not None:
            inputs.student_hidden = {i: out.hidden_states[i] for i in range(len(out.hidden_states))}
        if out.attentions is not None:
            inputs.student_attentions = {i + 1: a for i, a in enumerate(out.attentions)}
        if self.cache is not None:
            t = self.cache.batch(batch["teacher_ids"].tolist(), device=out.pooled.device)
            inputs.teacher_pooled = t["pooled"]
            inputs.teacher_logits = t["logits"]
            inputs.teacher_hidden = t["hidden"]
            inputs.teacher_attentions = t["attentions"]
            inputs.teacher_mask = t.get("mask")
            inputs.teacher_targets = t.get("targets")  # several teachers of other widths
        terms = {name: loss(inputs) for name, loss in self.losses.items()}
        if self.alpha == 0.0:  # no hard-label CE at all: the total is the weighted sum alone
            return sum(self.weights[name] * value for name, value in terms.items()), terms
        if out.logits is None:
            raise ValueError("distill.alpha > 0 needs student logits (a classification head)")
        hard = hard_cross_entropy(out.logits, inputs.labels)
        if not terms:  # hard labels only (Recipe.hard_labels)
            return hard, {HARD_LABEL_TERM: hard}
        distill = sum(self.weights[name] * value for name, value in terms.items())
        return combine_hard_soft(distill, hard, self.alpha), {HARD_LABEL_TERM: hard, **terms}
