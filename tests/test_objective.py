"""The objective: ``alpha * CE + (1 - alpha) * sum_i w_i * L_i``, the hard CE counted once.

A fake student returns fixed logits/pooled vectors held as parameters, and a fake cache returns
fixed teacher outputs, so every value is worked out by hand (natural log):
softmax([0, ln 3]) = [0.25, 0.75], softmax([0, ln 1.5]) = [0.4, 0.6].
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from xkd.config import DistillConfig, LossConfig
from xkd.losses import Recipe, build_recipe
from xkd.losses.ce import hard_cross_entropy
from xkd.losses.kl import kl_divergence
from xkd.losses.parallel_mse import embedding_mse
from xkd.models.dims import ModelDims
from xkd.train.objective import KDObjective

LN3, LN15 = math.log(3.0), math.log(1.5)
DIMS = ModelDims(hidden_size=3, num_layers=1, num_heads=1, num_labels=2)


class FakeStudent(nn.Module):
    """Returns its ``logits``/``pooled`` parameters for whatever batch it gets."""

    def __init__(self, logits, pooled) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.tensor(logits))
        self.pooled = nn.Parameter(torch.tensor(pooled))

    def forward(self, *, input_ids, attention_mask, output_hidden_states, output_attentions):
        return SimpleNamespace(
            logits=self.logits * 1.0, pooled=self.pooled * 1.0, hidden_states=None, attentions=None
        )


class FakeCache:
    def __init__(self, logits, pooled) -> None:
        self.logits, self.pooled = torch.tensor(logits), torch.tensor(pooled)

    def batch(self, ids, device=None):
        return {"logits": self.logits, "pooled": self.pooled, "hidden": {}, "attentions": {}}


def _batch(labels) -> dict[str, torch.Tensor]:
    n = len(labels)
    return {
        "input_ids": torch.zeros(n, 2, dtype=torch.long),
        "attention_mask": torch.ones(n, 2, dtype=torch.long),
        "labels": torch.tensor(labels),
        "teacher_ids": torch.arange(n),
        "same_text": torch.ones(n, dtype=torch.bool),
    }


def _objective(*losses: LossConfig, alpha: float, temperature: float = 1.0, rows: int = 1):
    student = FakeStudent([[0.0, LN3]] * rows, [[1.0, 0.0, 2.0]] * rows)
    cache = FakeCache([[0.0, LN15]] * rows, [[0.0, 1.0, 2.0]] * rows)
    distill = DistillConfig(losses=list(losses), temperature=temperature, alpha=alpha)
    recipe = build_recipe(distill, student_dims=DIMS, teacher_dims=DIMS)
    return KDObjective(student, recipe, cache), student


def test_objective_counts_hard_ce_once_with_two_prediction_terms():
    obj, _ = _objective(LossConfig("kl"), LossConfig("focal_kd", weight=0.5), alpha=0.3)
    total, terms = obj(_batch([1]))
    # CE = -ln 0.75 = 0.287682; KL(p||q) = 0.4 ln(0.4/0.25) + 0.6 ln(0.6/0.75) = 0.054115
    # focal (gamma 2) = 0.4*0.75^2*ln 4 + 0.6*0.25^2*(-ln 0.75) = 0.311916 + 0.010788 = 0.322704
    # total = 0.3*0.287682 + 0.7*(0.054115 + 0.5*0.322704) = 0.086305 + 0.150827 = 0.237131
    assert total.item() == pytest.approx(0.237131, abs=1e-5)
    assert set(terms) == {"ce", "kl", "focal_kd"}
    assert terms["ce"].item() == pytest.approx(0.287682, abs=1e-5)
    # the old per-loss alpha gave 1*(0.3 CE + 0.7 KL) + 0.5*(0.3 CE + 0.7 focal): CE 1.5 times
    assert total.item() != pytest.approx(0.45 * 0.287682 + 0.7 * (0.054115 + 0.5 * 0.322704))


def test_objective_hard_ce_uses_only_labelled_rows():
    obj, _ = _objective(LossConfig("kl"), alpha=0.5, rows=2)
    total, terms = obj(_batch([1, -100]))
    # CE over the one labelled row = 0.287682; KL is the same on both rows = 0.054115
    assert terms["ce"].item() == pytest.approx(0.287682, abs=1e-5)
    assert total.item() == pytest.approx(0.5 * 0.287682 + 0.5 * 0.054115, abs=1e-5)
    # no labelled row at all: the hard part is 0
    total, terms = obj(_batch([-100, -100]))
    assert terms["ce"].item() == 0.0
    assert total.item() == pytest.approx(0.5 * 0.054115, abs=1e-5)


def test_objective_alpha_zero_is_the_old_weighted_sum_bit_for_bit(monkeypatch):
    import xkd.train.objective as objective

    def no_hard_ce(*args, **kwargs):
        raise AssertionError("alpha = 0 must not compute the hard CE")

    monkeypatch.setattr(objective, "hard_cross_entropy", no_hard_ce)
    # the demo recipe: parallel_mse x10 + kl x1, T = 3, alpha = 0
    obj, student = _objective(
        LossConfig("parallel_mse", weight=10.0), LossConfig("kl"), alpha=0.0, temperature=3.0
    )
    total, terms = obj(_batch([1]))
    assert list(terms) == ["parallel_mse", "kl"]
    total.backward()
    grads = [p.grad.clone() for p in student.parameters()]

    # the expression the objective computed before alpha moved out of the losses
    s_logits, s_pooled = student.logits.detach().clone(), student.pooled.detach().clone()
    s_logits.requires_grad_(True)
    s_pooled.requires_grad_(True)
    t_logits, t_pooled = torch.tensor([[0.0, LN15]]), torch.tensor([[0.0, 1.0, 2.0]])
    mse = embedding_mse(s_pooled * 1.0, t_pooled)
    kl = kl_divergence(s_logits * 1.0, t_logits, 3.0)
    old = sum(w * v for w, v in ((10.0, mse), (1.0, kl)))
    old.backward()
    assert torch.equal(total, old)
    assert torch.equal(grads[0], s_logits.grad) and torch.equal(grads[1], s_pooled.grad)


def test_objective_hard_labels_recipe_is_plain_ce():
    student = FakeStudent([[0.0, LN3], [0.0, 0.0]], [[1.0, 0.0, 2.0]] * 2)
    obj = KDObjective(student, Recipe.hard_labels())  # the baseline / teacher fine-tune: no cache
    total, terms = obj(_batch([1, 0]))
    expected = hard_cross_entropy(student.logits, torch.tensor([1, 0]))
    assert torch.equal(total, expected) and list(terms) == ["ce"]
    # (-ln 0.75 - ln 0.5) / 2 = (0.287682 + 0.693147) / 2
    assert total.item() == pytest.approx(0.490415, abs=1e-5)
    assert not obj.want_hidden and not obj.want_attn and len(obj.losses) == 0


def test_objective_needs_a_cache_for_teacher_terms():
    distill = DistillConfig(losses=[LossConfig("kl")])
    recipe = build_recipe(distill, student_dims=DIMS, teacher_dims=DIMS)
    with pytest.raises(ValueError, match="kl read the teacher's outputs: pass its cache"):
        KDObjective(FakeStudent([[0.0, 0.0]], [[0.0, 0.0, 0.0]]), recipe)
