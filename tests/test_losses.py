"""Tests for xkd.losses: hand-computed values, gradients, registry, recipe, parameter validation.

Expected values are worked out by hand in the comments (natural log), never by calling the
formula under test. Logits are chosen so the softmaxes are round numbers:
softmax([0, ln 3]) = [0.25, 0.75], softmax([0, ln 1.5]) = [0.4, 0.6].
"""

from __future__ import annotations

import doctest
import importlib
import math
import pkgutil

import pytest
import torch

import xkd.losses
from xkd.config import DistillConfig, LossConfig
from xkd.errors import ConfigError
from xkd.losses import (
    LOSSES,
    AttentionKLLoss,
    DistillLoss,
    HiddenMSELoss,
    KDInputs,
    Recipe,
    Term,
    build_loss,
    build_recipe,
    build_term_loss,
    combine_hard_soft,
)
from xkd.losses import loss_params as params_of
from xkd.losses._common import auto_layer_map
from xkd.losses.attention_kl import attention_kl
from xkd.losses.ce import hard_cross_entropy
from xkd.losses.cosine import cosine_distance
from xkd.losses.focal_kd import focal_soft_cross_entropy
from xkd.losses.hidden_mse import (
    attention_align_mse,
    mean_pool_mse,
    pooled_mse,
    softmax_pool_kl,
)
from xkd.losses.kl import kl_divergence
from xkd.losses.mse_logits import mse_logits
from xkd.losses.parallel_mse import embedding_mse, parallel_mse
from xkd.losses.soft_ce import binary_soft_ce, soft_cross_entropy
from xkd.models.dims import ModelDims

LN3 = math.log(3.0)
LN15 = math.log(1.5)
TOL = dict(abs=1e-5)

DIMS = ModelDims(hidden_size=8, num_layers=2, num_heads=2, num_labels=3)  # student
TDIMS = ModelDims(hidden_size=12, num_layers=4, num_heads=2, num_labels=3)  # teacher

# one row: student q = [0.25, 0.75], teacher p = [0.4, 0.6]
S1 = [[0.0, LN3]]
T1 = [[0.0, LN15]]


def t(x, grad: bool = False) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float32, requires_grad=grad)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# ----------------------------------------------------------------------------- ce


def test_ce_hand_value_ignores_unlabelled_rows():
    logits = t([[0.0, LN3], [0.0, 0.0], [100.0, -100.0]])
    labels = torch.tensor([1, 0, -100])
    # row 0: -ln 0.75 = 0.287682; row 1: -ln 0.5 = 0.693147; row 2 ignored
    # mean = (0.287682 + 0.693147) / 2 = 0.490415
    assert hard_cross_entropy(logits, labels).item() == pytest.approx(0.490415, **TOL)
    loss = build_loss("ce")
    assert loss(KDInputs(student_logits=logits, labels=labels)).item() == pytest.approx(
        0.490415, **TOL
    )


def test_ce_without_labelled_rows_is_zero_with_graph():
    logits = torch.randn(3, 4, requires_grad=True)
    loss = build_loss("ce")(KDInputs(student_logits=logits, labels=torch.full((3,), -100)))
    assert loss.item() == 0.0
    assert loss.grad_fn is not None
    loss.backward()
    assert logits.grad is not None and torch.all(logits.grad == 0)


def test_ce_needs_no_teacher():
    assert "teacher" not in LOSSES["ce"].needs
    assert LOSSES["ce"].needs == {"logits", "labels"}


# ----------------------------------------------------------------------------- prediction losses


def test_kl_hand_values():
    # KL(p||q) = 0.4 ln(0.4/0.25) + 0.6 ln(0.6/0.75) = 0.4*0.470004 - 0.6*0.223144 = 0.054115
    assert kl_divergence(t(S1), t(T1), 1.0).item() == pytest.approx(0.054115, **TOL)
    # batchmean: a second row where both are uniform adds 0 -> 0.054115 / 2 = 0.027058
    s = t([[0.0, LN3], [5.0, 5.0]])
    te = t([[0.0, LN15], [1.0, 1.0]])
    assert kl_divergence(s, te, 1.0).item() == pytest.approx(0.027058, **TOL)
    # T = 2 with doubled logits gives the same p, q; times T^2 = 4 -> 0.216461
    s2, t2 = t([[0.0, 2 * LN3]]), t([[0.0, 2 * LN15]])
    assert kl_divergence(s2, t2, 2.0).item() == pytest.approx(0.216461, **TOL)
    loss = build_loss("kl", temperature=2.0)
    assert loss(KDInputs(student_logits=s2, teacher_logits=t2)).item() == pytest.approx(
        0.216461, **TOL
    )


def test_mse_logits_hand_values():
    s = t([[1.0, 2.0], [0.0, 0.0]])
    te = t([[0.0, 0.0], [1.0, 0.0]])
    # squared diffs 1, 4, 1, 0 -> mean 6/4 = 1.5; at T = 2 the diffs halve -> 1.5 / 4 = 0.375
    assert mse_logits(s, te, 1.0).item() == pytest.approx(1.5, **TOL)
    assert mse_logits(s, te, 2.0).item() == pytest.approx(0.375, **TOL)
    loss = build_loss("mse_logits", temperature=1.0)
    assert loss(KDInputs(student_logits=s, teacher_logits=te)).item() == pytest.approx(1.5, **TOL)


def test_soft_ce_hand_values():
    # -(0.4 ln 0.25 + 0.6 ln 0.75) = 0.4*1.386294 + 0.6*0.287682 = 0.727127
    assert soft_cross_entropy(t(S1), t(T1), 1.0).item() == pytest.approx(0.727127, **TOL)
    # full two-class soft CE against a uniform student: -(0.4 + 0.6) ln 0.5 = ln 2 = 0.693147
    assert soft_cross_entropy(t([[0.0, 0.0]]), t(T1), 1.0).item() == pytest.approx(0.693147, **TOL)
    # T = 2 with doubled logits: same p, q, times T^2 = 4 -> 2.908508
    s2, t2 = t([[0.0, 2 * LN3]]), t([[0.0, 2 * LN15]])
    assert soft_cross_entropy(s2, t2, 2.0).item() == pytest.approx(2.908508, **TOL)


def test_soft_ce_differs_from_kl_by_teacher_entropy():
    s, te = torch.randn(5, 4), torch.randn(5, 4)
    p = torch.softmax(te, -1)
    entropy = -(p * p.log()).sum(-1).mean()
    assert soft_cross_entropy(s, te, 1.0).item() == pytest.approx(
        (kl_divergence(s, te, 1.0) + entropy).item(), abs=1e-5
    )


def test_focal_kd_hand_values():
    # -(0.4 * 0.75^2 * ln 0.25 + 0.6 * 0.25^2 * ln 0.75)
    # = 0.4*0.5625*1.386294 + 0.6*0.0625*0.287682 = 0.311916 + 0.010788 = 0.322704
    assert focal_soft_cross_entropy(t(S1), t(T1), 1.0, 2.0).item() == pytest.approx(0.322704, **TOL)
    # gamma = 0 is the plain soft CE, 0.727127
    assert focal_soft_cross_entropy(t(S1), t(T1), 1.0, 0.0).item() == pytest.approx(0.727127, **TOL)
    loss = build_loss("focal_kd", temperature=1.0, gamma=0)
    assert loss(KDInputs(student_logits=t(S1), teacher_logits=t(T1))).item() == pytest.approx(
        0.727127, **TOL
    )


def test_focal_gradient_finite_on_saturated_logits():
    s = t([[0.0, 200.0]], grad=True)
    focal_soft_cross_entropy(s, t(T1), 1.0, 0.5).backward()
    assert torch.isfinite(s.grad).all()


def test_prediction_losses_hold_no_hard_label_term():
    # labels are ignored: the hard CE belongs to the objective (distill.alpha), not to a loss
    labelled = KDInputs(student_logits=t(S1), teacher_logits=t(T1), labels=torch.tensor([1]))
    no_labels = KDInputs(student_logits=t(S1), teacher_logits=t(T1))
    for name in ("kl", "soft_ce", "mse_logits", "focal_kd"):
        loss = build_loss(name, temperature=1.0)
        assert "labels" not in loss.needs
        assert torch.equal(loss(labelled), loss(no_labels))
    assert build_loss("kl", temperature=1.0)(labelled).item() == pytest.approx(0.054115, **TOL)


def test_worked_example_from_product_spec():
    """Binary task, teacher p = 0.6 for class 1, student q = 0.5, hard label 1, alpha = 0.5, T = 1.

    L_hard = -ln 0.5 = 0.693; L_distill = -0.6 * ln 0.5 = 0.416 (the seed's distill term counts
    only the positive class: binary_soft_ce); L_total = 0.5*0.693 + 0.5*0.416 = 0.5545, given as
    0.554. The seed document printed 0.414 and 0.559: arithmetic slips (0.6 * 0.693147 =
    0.415888, and the mean of 0.693 and 0.416 is 0.5545, not 0.559).
    """
    hard = hard_cross_entropy(t([[0.0, 0.0]]), torch.tensor([1]))  # student q = 0.5
    distill = binary_soft_ce(0.6, 0.5)
    total = combine_hard_soft(distill, hard, 0.5)
    assert hard.item() == pytest.approx(0.693, abs=5e-4)
    assert distill.item() == pytest.approx(0.416, abs=5e-4)
    assert total.item() == pytest.approx(0.554, abs=1e-3)
    assert total.item() == pytest.approx(0.554518, **TOL)
    # the full two-class soft CE of the same example is -(0.6 + 0.4) ln 0.5 = 0.693147
    full = soft_cross_entropy(t([[0.0, 0.0]]), t([[0.0, math.log(0.6 / 0.4)]]), 1.0)
    assert full.item() == pytest.approx(0.693147, **TOL)


def test_prediction_setup_checks_label_counts():
    with pytest.raises(ConfigError, match="3 classes, teacher 5"):
        build_loss("kl", temperature=2.0).setup(DIMS, ModelDims(12, 4, 2, 5))


# ----------------------------------------------------------------------------- hidden_mse

S_TOK = [[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]]  # mask [1, 1, 0] -> mean [2, 3]
S_MASK = [[1, 1, 0]]
T_TOK = [[[0.0, 0.0], [2.0, 2.0]]]  # mean [1, 1]
T_MASK = [[1, 1]]
D2 = ModelDims(hidden_size=2, num_layers=1, num_heads=1, num_labels=2)


def _hidden_inputs(**kw) -> KDInputs:
    return KDInputs(
        student_hidden={1: t(S_TOK, grad=True)},
        teacher_hidden={1: t(T_TOK)},
        student_mask=torch.tensor(S_MASK),
        teacher_mask=torch.tensor(T_MASK),
        **kw,
    )


def test_mean_pool_mse_hand_values():
    # means [2, 3] vs [1, 1] -> ((2-1)^2 + (3-1)^2) / 2 = 2.5
    sm, tm = torch.tensor(S_MASK), torch.tensor(T_MASK)
    assert mean_pool_mse(t(S_TOK), t(T_TOK), sm, tm).item() == pytest.approx(2.5, **TOL)
    # projection to 3 dims W = [[1,0],[0,1],[1,1]]: [2, 3, 5] vs [1, 1, 1] -> (1+4+16)/3 = 7
    w = t([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    t3 = t([[[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]]])
    assert mean_pool_mse(t(S_TOK), t3, sm, tm, w).item() == pytest.approx(7.0, **TOL)


def test_hidden_mse_module_mean_has_no_lambda():
    loss = build_loss("hidden_mse", layer_map=[[1, 1]], projection=False)
    loss.setup(D2, D2)
    assert loss(_hidden_inputs()).item() == pytest.approx(2.5, **TOL)
    # identity-initialised projection gives the same value at start
    loss = build_loss("hidden_mse", layer_map=[[1, 1]])
    loss.setup(D2, D2)
    assert loss(_hidden_inputs()).item() == pytest.approx(2.5, **TOL)
    for key in ("lambda", "lambda_"):  # the factor is the term's weight now
        with pytest.raises(ConfigError, match=f"unknown parameter '{key}'"):
            build_loss("hidden_mse", **{key: 2.0})


def test_hidden_mse_output_and_both():
    # pooled [1, 2] vs [0, 0] -> (1 + 4) / 2 = 2.5
    assert pooled_mse(t([[1.0, 2.0]]), t([[0.0, 0.0]])).item() == pytest.approx(2.5, **TOL)
    pooled = dict(student_pooled=t([[1.0, 2.0]], grad=True), teacher_pooled=t([[0.0, 0.0]]))
    out = build_loss("hidden_mse", features="output", projection=False)
    out.setup(D2, D2)
    assert out.student_layers() == [] and out.teacher_layers() == []
    assert out.needs == {"teacher", "pooled"}
    assert out(KDInputs(**pooled)).item() == pytest.approx(2.5, **TOL)
    both = build_loss("hidden_mse", features="both", layer_map=[[1, 1]], projection=False)
    both.setup(D2, D2)
    assert both(_hidden_inputs(**pooled)).item() == pytest.approx(5.0, **TOL)  # 2.5 + 2.5


def test_softmax_pool_kl_hand_value():
    # zero score vectors -> plain masked mean: student [2, 3], teacher [1, 1]
    # q = softmax([2, 3]) = [1/(1+e), e/(1+e)] = [0.268941, 0.731059], p = [0.5, 0.5]
    # KL = 0.5 ln(0.5/0.268941) + 0.5 ln(0.5/0.731059) = 0.5 ln(0.25/0.196612) = 0.120115
    sm, tm = torch.tensor(S_MASK), torch.tensor(T_MASK)
    zero = torch.zeros(2)
    value = softmax_pool_kl(t(S_TOK), t(T_TOK), sm, tm, zero, zero)
    assert value.item() == pytest.approx(0.120115, **TOL)
    loss = build_loss("hidden_mse", layer_map=[[1, 1]], align="softmax", projection=False)
    loss.setup(D2, D2)
    assert loss(_hidden_inputs()).item() == pytest.approx(0.120115, **TOL)


def test_attention_align_hand_values():
    eye = torch.eye(2)
    # one real teacher token [1, 1]: every student token attends only to it
    # errors: [1,2] -> (0 + 1)/2 = 0.5; [3,4] -> (4 + 9)/2 = 6.5; mean over 2 real tokens = 3.5
    tt = t([[[1.0, 1.0], [9.0, 9.0]]])
    v = attention_align_mse(
        t(S_TOK), tt, torch.tensor(S_MASK), torch.tensor([[1, 0]]), eye, eye, heads=1
    )
    assert v.item() == pytest.approx(3.5, **TOL)
    # student token [1, 0]; teacher tokens [1, 0], [0, 1]; identity Wq, Wk
    s1, tt2 = t([[[1.0, 0.0]]]), t([[[1.0, 0.0], [0.0, 1.0]]])
    ones1, ones2 = torch.ones(1, 1), torch.ones(1, 2)
    # heads=1, d=2: scores [1, 0]/sqrt 2 -> a = softmax([0.707107, 0]) = [0.669761, 0.330239]
    # target = [0.669761, 0.330239]; err = (0.330239^2 + 0.330239^2)/2 = 0.109057
    v1 = attention_align_mse(s1, tt2, ones1, ones2, eye, eye, heads=1)
    assert v1.item() == pytest.approx(0.109057, **TOL)
    # heads=2, d=1: head 0 (dim 0) scores [1, 0] -> a = [0.731059, 0.268941], target 0.731059
    # head 1 (dim 1) scores [0, 0] -> a = [0.5, 0.5], target 0.5
    # err = ((1 - 0.731059)^2 + 0.5^2)/2 = (0.072329 + 0.25)/2 = 0.161165
    v2 = attention_align_mse(s1, tt2, ones1, ones2, eye, eye, heads=2)
    assert v2.item() == pytest.approx(0.161165, **TOL)


@pytest.mark.parametrize("align", ["mean", "softmax", "attention"])
def test_hidden_mse_different_lengths_and_widths_grads(align):
    loss = build_loss("hidden_mse", align=align, heads=3, features="both")
    loss.setup(DIMS, TDIMS)
    assert loss.student_layers() == [1, 2]
    assert loss.teacher_layers() == [2, 4]  # auto: round(1*4/2)=2, round(2*4/2)=4
    s_hidden = {i: torch.randn(3, 5, 8, requires_grad=True) for i in (1, 2)}
    inputs = KDInputs(
        student_hidden=s_hidden,
        teacher_hidden={i: torch.randn(3, 7, 12) for i in (2, 4)},
        student_mask=torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]]),
        teacher_mask=torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5]),
        student_pooled=torch.randn(3, 8, requires_grad=True),
        teacher_pooled=torch.randn(3, 12),
    )
    value = loss(inputs)
    assert value.dim() == 0 and torch.isfinite(value)
    value.backward()
    for x in [*s_hidden.values(), inputs.student_pooled]:
        assert x.grad is not None and x.grad.abs().sum() > 0
    for key in ("s1_t2", "s2_t4", "output"):
        assert loss.proj[key].weight.grad.abs().sum() > 0
    if align == "softmax":
        assert loss.student_scores["s1_t2"].grad.abs().sum() > 0
    if align == "attention":
        assert loss.query["s1_t2"].weight.grad.abs().sum() > 0


def test_hidden_mse_errors():
    with pytest.raises(ConfigError, match="student width 8 differs from teacher width 12"):
        build_loss("hidden_mse", projection=False).setup(DIMS, TDIMS)
    with pytest.raises(ConfigError, match=r"pair \[3, 1\] is out of range"):
        build_loss("hidden_mse", layer_map=[[1, 1], [3, 1]]).setup(DIMS, TDIMS)
    with pytest.raises(ConfigError, match=r"pair \[1, 5\]"):
        build_loss("hidden_mse", layer_map=[[1, 5]]).setup(DIMS, TDIMS)
    with pytest.raises(ConfigError, match="heads = 5 must divide the teacher width 12"):
        build_loss("hidden_mse", align="attention", heads=5).setup(DIMS, TDIMS)
    with pytest.raises(RuntimeError, match="setup"):
        build_loss("hidden_mse")(KDInputs())
    loss = build_loss("hidden_mse", layer_map=[[0, 0]])
    loss.setup(DIMS, TDIMS)  # 0 = embeddings is valid for hidden states
    with pytest.raises(ValueError, match="layer 0"):
        loss(KDInputs(student_hidden={1: torch.randn(1, 2, 8)}, teacher_hidden={}))


def test_auto_layer_map():
    assert auto_layer_map(3, 12) == [(1, 4), (2, 8), (3, 12)]
    assert auto_layer_map(4, 6) == [(1, 2), (2, 3), (3, 5), (4, 6)]  # halves round up
    assert auto_layer_map(6, 6) == [(k, k) for k in range(1, 7)]
    assert auto_layer_map(4, 2) == [(1, 1), (2, 1), (3, 2), (4, 2)]


# ----------------------------------------------------------------------------- cosine


def test_cosine_hand_value_and_grads():
    # row 0: cos([1,0],[1,1]) = 1/sqrt 2 -> 0.292893; row 1: cos([0,2],[0,-1]) = -1 -> 2
    # mean = 1.146447
    s, te = t([[1.0, 0.0], [0.0, 2.0]], grad=True), t([[1.0, 1.0], [0.0, -1.0]])
    assert cosine_distance(s, te).item() == pytest.approx(1.146447, **TOL)
    loss = build_loss("cosine")
    loss.setup(D2, D2)
    assert loss.proj is None  # equal widths: no projection
    value = loss(KDInputs(student_pooled=s, teacher_pooled=te))
    assert value.item() == pytest.approx(1.146447, **TOL)
    value.backward()
    assert s.grad.abs().sum() > 0

    loss = build_loss("cosine")
    loss.setup(DIMS, TDIMS)
    sp = torch.randn(4, 8, requires_grad=True)
    loss(KDInputs(student_pooled=sp, teacher_pooled=torch.randn(4, 12))).backward()
    assert sp.grad.abs().sum() > 0 and loss.proj.weight.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="set projection: true"):
        build_loss("cosine", projection=False).setup(DIMS, TDIMS)


# ----------------------------------------------------------------------------- parallel_mse


def test_parallel_mse_hand_value_and_two_row_layout():
    s_src, s_tgt, t_src = t([[1.0, 2.0]]), t([[0.0, 0.0]]), t([[1.0, 0.0]])
    # MSE(s_src, t) = (0 + 4)/2 = 2; MSE(s_tgt, t) = (1 + 0)/2 = 0.5; sum 2.5
    assert parallel_mse(s_src, s_tgt, t_src).item() == pytest.approx(2.5, **TOL)
    # the training layout (rows [src; tgt] vs [t; t]) averages over 2N rows: 2.5 / 2 = 1.25
    loss = build_loss("parallel_mse")
    loss.setup(D2, D2)
    rows = KDInputs(
        student_pooled=torch.cat([s_src, s_tgt]), teacher_pooled=torch.cat([t_src, t_src])
    )
    assert loss(rows).item() == pytest.approx(1.25, **TOL)
    # and for random batches of N pairs, forward == parallel_mse / 2
    a, b, c = torch.randn(5, 6), torch.randn(5, 6), torch.randn(5, 6)
    assert embedding_mse(torch.cat([a, b]), torch.cat([c, c])).item() == pytest.approx(
        parallel_mse(a, b, c).item() / 2, abs=1e-5
    )


def test_parallel_mse_projection_grads():
    loss = build_loss("parallel_mse")
    loss.setup(DIMS, TDIMS)
    sp = torch.randn(4, 8, requires_grad=True)
    loss(KDInputs(student_pooled=sp, teacher_pooled=torch.randn(4, 12))).backward()
    assert sp.grad.abs().sum() > 0 and loss.proj.weight.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="student width 8 differs from teacher width 12"):
        build_loss("parallel_mse", projection=False).setup(DIMS, TDIMS)


# ----------------------------------------------------------------------------- attention_kl

# one head, 3 positions, the last is padding (mask [1, 1, 0])
A_TEACHER = [[[[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.3, 0.3, 0.4]]]]
A_STUDENT = [[[[0.25, 0.75, 0.0], [0.5, 0.5, 0.0], [0.1, 0.1, 0.8]]]]


def test_attention_kl_hand_value():
    # row 0: 0.5 ln(0.5/0.25) + 0.5 ln(0.5/0.75) = 0.5 ln(4/3) = 0.143841
    # row 1: 1 * ln(1/0.5) = 0.693147; row 2 is padding -> mean (0.143841 + 0.693147)/2
    value = attention_kl(t(A_STUDENT), t(A_TEACHER), torch.tensor([[1, 1, 0]]))
    assert value.item() == pytest.approx(0.418494, **TOL)


def test_attention_kl_module_rows_and_grads():
    d = ModelDims(hidden_size=4, num_layers=2, num_heads=1, num_labels=2)
    loss = build_loss("attention_kl")
    loss.setup(d, ModelDims(hidden_size=4, num_layers=3, num_heads=1, num_labels=2))
    assert loss.student_layers() == [2] and loss.teacher_layers() == [3]
    assert loss.same_tokenizer
    # row 1 is a translation (same_text False): ignored even though it would give a large KL
    noise = torch.softmax(torch.randn(1, 1, 3, 3) * 5, -1)
    s_att = torch.cat([t(A_STUDENT), noise]).requires_grad_(True)
    # the teacher batch is padded to 4 positions: cut to the common 3 (padding only)
    ta = torch.zeros(2, 1, 4, 4)
    ta[0, :, :3, :3] = t(A_TEACHER)[0]
    ta[1] = torch.eye(4)
    inputs = KDInputs(
        student_attentions={2: s_att},
        teacher_attentions={3: ta},
        student_mask=torch.tensor([[1, 1, 0], [1, 1, 1]]),
        teacher_mask=torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]]),
        same_text=torch.tensor([True, False]),
    )
    value = loss(inputs)
    assert value.item() == pytest.approx(0.418494, **TOL)
    value.backward()
    assert s_att.grad[0].abs().sum() > 0 and s_att.grad[1].abs().sum() == 0
    # no same-text row: a zero that still backpropagates
    s_att.grad = None
    inputs.same_text = torch.tensor([False, False])
    zero = loss(inputs)
    assert zero.item() == 0.0 and zero.grad_fn is not None
    zero.backward()
    assert torch.all(s_att.grad == 0)


def test_attention_kl_errors():
    with pytest.raises(ConfigError, match="student has 2 attention heads .* teacher 4"):
        build_loss("attention_kl").setup(DIMS, ModelDims(12, 4, 4, 3))
    with pytest.raises(ConfigError, match=r"pair \[0, 1\] is out of range"):
        build_loss("attention_kl", layer_map=[[0, 1]]).setup(DIMS, TDIMS)
    loss = build_loss("attention_kl", layer_map="auto")
    loss.setup(DIMS, TDIMS)
    assert loss.teacher_layers() == [2, 4]


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("name", ["kl", "mse_logits", "soft_ce", "focal_kd"])
def test_prediction_losses_reach_student_logits(name):
    s = torch.randn(4, 3, requires_grad=True)
    inputs = KDInputs(
        student_logits=s, teacher_logits=torch.randn(4, 3), labels=torch.tensor([0, 2, -100, 1])
    )
    value = build_loss(name, temperature=2.0)(inputs)
    value.backward()
    assert s.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- registry


def test_registry_builds_every_loss():
    assert set(LOSSES) == {
        "ce",
        "kl",
        "mse_logits",
        "soft_ce",
        "focal_kd",
        "hidden_mse",
        "cosine",
        "attention_kl",
        "parallel_mse",
    }
    for name, cls in LOSSES.items():
        loss = build_term_loss(name, {}, temperature=2.0)
        assert isinstance(loss, cls) and isinstance(loss, DistillLoss)
        assert loss.name == name and cls.__doc__ and cls.description
        assert loss.needs <= {"teacher", "logits", "pooled", "hidden", "attentions", "labels"}
        loss.setup(DIMS, ModelDims(12, 4, 2, 3))
        assert all(0 <= i <= DIMS.num_layers for i in loss.student_layers())
        assert all(0 <= i <= 4 for i in loss.teacher_layers())


def test_registry_errors_list_valid_choices():
    with pytest.raises(ConfigError, match="unknown loss 'nope'; valid losses: ce, kl"):
        build_loss("nope")
    with pytest.raises(ConfigError, match="unknown parameter 'temp'; valid parameters: "):
        build_loss("kl", temp=2)
    with pytest.raises(ConfigError, match="valid parameters: none"):
        build_loss("ce", alpha=0.5)
    with pytest.raises(ConfigError, match="unknown parameter 'alpha'; valid parameters: "):
        build_loss("kl", temperature=2.0, alpha=0.5)


def test_loss_params_and_no_hidden_temperature_default():
    # temperature has no default of its own in any loss: the recipe passes distill.temperature
    for name in ("kl", "soft_ce", "mse_logits", "focal_kd"):
        assert params_of(name)["temperature"] is None
        with pytest.raises(ConfigError, match="temperature have no default"):
            build_loss(name)
    assert params_of("kl") == {"temperature": None}
    assert params_of("focal_kd")["gamma"] == 2.0
    assert "lambda" not in params_of("hidden_mse") and "lambda_" not in params_of("hidden_mse")


def test_needs_narrow_with_params():
    assert build_loss("kl", temperature=2.0).needs == {"teacher", "logits"}
    assert build_loss("hidden_mse").needs == {"teacher", "hidden"}
    assert build_loss("hidden_mse", features="both").needs == {"teacher", "hidden", "pooled"}


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("kl", {"temperature": 0}, r"kl: temperature = 0.0 is out of range \(allowed: > 0\)"),
        ("soft_ce", {"temperature": -1}, "temperature"),
        ("kl", {"temperature": "hot"}, "must be a number"),
        ("focal_kd", {"temperature": 1, "gamma": -1}, r"gamma = -1.0 is out of range"),
        ("hidden_mse", {"heads": 0}, "heads = 0"),
        ("hidden_mse", {"features": "all"}, "features = 'all' .*context, output, both"),
        ("hidden_mse", {"align": "max"}, "align = 'max' .*mean, softmax, attention"),
        ("hidden_mse", {"layer_map": "last"}, "layer_map = 'last'"),
        ("hidden_mse", {"layer_map": [[1]]}, r"layer_map entry \[1\]"),
        ("hidden_mse", {"layer_map": []}, "layer_map"),
        ("hidden_mse", {"projection": "yes"}, "projection = 'yes' must be true or false"),
        ("attention_kl", {"layer_map": "first"}, "layer_map = 'first'"),
        ("cosine", {"projection": 1}, "projection"),
    ],
)
def test_param_validation(name, params, match):
    with pytest.raises(ConfigError, match=match):
        build_loss(name, **params)


def test_classes_exported_for_direct_construction():
    # the classes are importable from the package for direct construction too
    assert isinstance(HiddenMSELoss(align="attention"), DistillLoss)
    assert AttentionKLLoss.same_tokenizer and not HiddenMSELoss.same_tokenizer


# ----------------------------------------------------------------------------- recipe


def _recipe(*losses: LossConfig, temperature: float = 3.0, alpha: float = 0.0) -> Recipe:
    distill = DistillConfig(losses=list(losses), temperature=temperature, alpha=alpha)
    return build_recipe(distill, student_dims=DIMS, teacher_dims=TDIMS)


def test_recipe_temperature_default_and_override():
    # distill.temperature reaches every loss that takes one; a term's own temperature wins
    recipe = _recipe(
        LossConfig("kl"),
        LossConfig("soft_ce", params={"temperature": 1.0}),
        LossConfig("parallel_mse", weight=10.0),
        temperature=4.0,
    )
    assert recipe.temperature == 4.0
    temps = {term.name: getattr(term.loss, "temperature", None) for term in recipe.terms}
    assert temps == {"kl": 4.0, "soft_ce": 1.0, "parallel_mse": None}
    # the config's default (3.0) is the only default
    assert _recipe(LossConfig("focal_kd")).terms[0].loss.temperature == 3.0
    assert DistillConfig().temperature == 3.0


def test_recipe_terms_unique_names_and_weights():
    recipe = _recipe(
        LossConfig("hidden_mse", weight=2.0),
        LossConfig("kl"),
        LossConfig("hidden_mse", weight=0.5, params={"features": "output"}),
    )
    assert [(t.name, t.weight) for t in recipe.terms] == [
        ("hidden_mse", 2.0),
        ("kl", 1.0),
        ("hidden_mse_2", 0.5),
    ]
    assert recipe.terms[2].loss.features == "output"
    assert recipe.terms[0].loss.student_layers() == [1, 2]  # set up for the given dims


def test_recipe_invariants_and_hard_labels():
    hard = Recipe.hard_labels()
    assert hard.terms == () and hard.alpha == 1.0 and hard.needs == {"logits", "labels"}
    kl = build_term_loss("kl", {}, temperature=1.0)
    with pytest.raises(ValueError, match="alpha must be 1"):
        Recipe(terms=(), alpha=0.5, temperature=1.0)
    with pytest.raises(ValueError, match="unique"):
        Recipe(terms=(Term("kl", 1.0, kl), Term("kl", 2.0, kl)), alpha=0.0, temperature=1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Recipe(terms=(Term("kl", 1.0, kl),), alpha=1.5, temperature=1.0)


def test_recipe_needs_and_teacher_layers():
    recipe = _recipe(
        LossConfig("hidden_mse", params={"layer_map": [[1, 3]]}),
        LossConfig("attention_kl"),
        LossConfig("parallel_mse"),
    )
    assert recipe.teacher_hidden_layers() == {3}
    assert recipe.teacher_attention_layers() == {4}  # last <-> last
    assert "labels" not in recipe.needs  # alpha 0: no hard labels read
    assert "labels" in _recipe(LossConfig("kl"), alpha=0.2).needs
    recipe.check_tokenizers(same_vocabulary=True)
    with pytest.raises(ConfigError, match="attention_kl compare teacher and student token"):
        recipe.check_tokenizers(same_vocabulary=False)
    _recipe(LossConfig("kl")).check_tokenizers(same_vocabulary=False)  # logit losses: fine


def test_recipe_refuses_removed_params_and_a_second_hard_ce():
    with pytest.raises(ConfigError) as err:
        _recipe(LossConfig("hidden_mse", weight=0.5, params={"lambda": 4}))
    assert "'lambda' was removed; put the factor in the term's weight: " in str(err.value)
    assert "{name: hidden_mse, weight: 2}" in str(err.value)
    with pytest.raises(ConfigError, match="'alpha' is no longer a loss parameter; set distill"):
        _recipe(LossConfig("kl", params={"alpha": 0.5}))
    with pytest.raises(ConfigError, match="would count it twice"):
        _recipe(LossConfig("ce"), LossConfig("kl"), alpha=0.5)
    assert [t.name for t in _recipe(LossConfig("ce"), LossConfig("kl")).terms] == ["ce", "kl"]


def test_combine_hard_soft_adds_nothing_when_alpha_is_zero():
    distill = torch.tensor(0.123456789)
    assert combine_hard_soft(distill, None, 0.0) is distill
    # 0.25 * 0.8 + 0.75 * 0.4 = 0.2 + 0.3 = 0.5
    assert combine_hard_soft(t(0.4), t(0.8), 0.25).item() == pytest.approx(0.5, **TOL)


# ----------------------------------------------------------------------------- docstring examples


def _loss_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(xkd.losses.__path__))


@pytest.mark.parametrize("module", _loss_modules())
def test_docstring_examples_run(module):
    """Every example in xkd.losses docstrings runs and prints what it says (doctest)."""
    mod = importlib.import_module(f"xkd.losses.{module}")
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(mod, optionflags=flags, verbose=False, report=True)
    assert result.failed == 0
    loss_files = {cls.__module__.rsplit(".", 1)[1] for cls in LOSSES.values()} | {"recipe"}
    if module in loss_files:  # every loss (and the recipe) has a runnable example
        assert result.attempted > 0, f"xkd/losses/{module}.py has no docstring example"


def test_every_loss_docstring_has_a_reference_link_and_example():
    for cls in LOSSES.values():
        module = importlib.import_module(cls.__module__)
        assert "https://" in (module.__doc__ or ""), cls.__module__
        assert "https://" in (cls.__doc__ or "") or cls is LOSSES["ce"], cls.__name__
        assert ">>> " in (cls.__doc__ or ""), cls.__name__
