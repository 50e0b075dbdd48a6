"""Unit tests of xkd.app: loss lab, page data, run data, estimate, tokenizer report, files."""

from __future__ import annotations

import io
import json
import math
import shlex
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest

from xkd.app import (
    accuracy,
    alignment,
    distributions,
    files,
    heatmap,
    labels,
    losslab,
    rundata,
    runs_view,
)
from xkd.app import commands as CMD
from xkd.app import estimate as E
from xkd.app import tokenizer_report as T
from xkd.errors import ConfigError
from xkd.runs import RunFolder, load_run
from xkd.runs.projections import projection_frame
from xkd.testing import runs as samples

# ------------------------------------------------------------------------------ loss lab


def test_worked_example_reproduces_0_554():
    r = losslab.worked_example()
    assert r.total == pytest.approx(0.554, abs=1e-3)
    assert r.total == pytest.approx(0.554518, abs=1e-5)
    assert r.term("hard_ce").value == pytest.approx(0.693, abs=5e-4)
    assert r.term("binary_soft_ce").value == pytest.approx(0.416, abs=5e-4)
    assert r.term("hard_ce").share + r.term("binary_soft_ce").share == pytest.approx(1.0)
    assert r.teacher_probs[1] == pytest.approx(0.6)
    assert r.student_probs[1] == pytest.approx(0.5)


def _finite_diff(fn, x, eps=1e-4):
    grad = []
    for i in range(len(x)):
        up = list(x)
        down = list(x)
        up[i] += eps
        down[i] -= eps
        grad.append((fn(up) - fn(down)) / (2 * eps))
    return grad


@pytest.mark.parametrize("soft", ["kl", "soft_ce", "mse_logits", "focal_kd"])
@pytest.mark.parametrize("temperature,alpha,gamma", [(1.0, 0.0, 2.0), (2.5, 0.3, 1.0)])
def test_gradients_match_finite_differences(soft, temperature, alpha, gamma):
    rng = np.random.default_rng(1)
    teacher = rng.normal(size=4).tolist()
    student = rng.normal(size=4).tolist()
    kw = dict(temperature=temperature, alpha=alpha, gamma=gamma, soft=soft)
    r = losslab.loss_terms(teacher, student, 2, **kw)
    for term in r.terms:
        fd = _finite_diff(
            lambda s, name=term.name: losslab.loss_terms(teacher, s, 2, **kw).term(name).value,
            student,
        )
        np.testing.assert_allclose(term.grad, fd, atol=2e-3, rtol=2e-2)
    fd_total = _finite_diff(lambda s: losslab.loss_terms(teacher, s, 2, **kw).total, student)
    np.testing.assert_allclose(r.total_grad, fd_total, atol=2e-3, rtol=2e-2)
    # the total is the weighted sum of its two terms, and so is its gradient
    hard, chosen = r.term("hard_ce"), r.term(soft)
    assert r.total == pytest.approx(alpha * hard.value + (1 - alpha) * chosen.value, rel=1e-5)
    expected = alpha * np.array(hard.grad) + (1 - alpha) * np.array(chosen.grad)
    np.testing.assert_allclose(r.total_grad, expected, atol=1e-6)


def test_kl_and_soft_ce_share_gradients():
    r = losslab.loss_terms([2.0, 0.5, -1.0], [0.5, 0.3, 0.1], 0, temperature=3.0, alpha=0.0)
    np.testing.assert_allclose(r.term("kl").grad, r.term("soft_ce").grad, atol=1e-6)
    assert r.term("hard_ce").weight == 0.0
    assert r.term("hard_ce").share is None or r.term("hard_ce").share == 0
    assert r.term("kl").share == pytest.approx(1.0)
    assert any("T²" in n for n in r.notes)
    frame = r.frame()
    assert frame["term"].iloc[-1].startswith("total")
    assert set(r.gradient_frame()["term"]) >= {"kl", "total"}


@pytest.mark.parametrize(
    "args,match",
    [
        (([1.0, 2.0], [1.0], 0), "one logit per class"),
        (([1.0], [1.0], 0), "two classes"),
        (([1.0, 2.0], [1.0, 0.0], 5), "label"),
    ],
)
def test_loss_terms_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        losslab.loss_terms(*args)


def test_binary_term_needs_two_classes():
    with pytest.raises(ValueError, match="two classes"):
        losslab.loss_terms([1, 2, 3], [0, 0, 0], 1, soft="binary_soft_ce")
    r = losslab.loss_terms([1, 2, 3], [0, 0, 0], 1, soft="kl")
    assert "binary_soft_ce" not in {t.name for t in r.terms}


def test_parse_logits():
    assert losslab.parse_logits("1, -2.5 3;4") == [1.0, -2.5, 3.0, 4.0]
    with pytest.raises(ValueError):
        losslab.parse_logits("a, b")
    with pytest.raises(ValueError):
        losslab.parse_logits("")


def test_feature_mse_value_and_gradient():
    hs, ht = [1.0, 0.0], [0.5, 0.5, 1.0]
    w = [[1, 0], [0, 1], [0.5, 0.5]]
    value, grad = losslab.feature_mse(hs, ht, w)
    proj = np.array(w) @ np.array(hs)
    assert value == pytest.approx(float(np.mean((proj - np.array(ht)) ** 2)), rel=1e-5)
    fd = _finite_diff(lambda v: losslab.feature_mse(v, ht, w)[0], hs, eps=1e-3)
    np.testing.assert_allclose(grad, fd, atol=1e-3)
    with pytest.raises(ValueError, match="same length"):
        losslab.feature_mse([1.0], [1.0, 2.0])


# ------------------------------------------------------------------------ page data (views)


@pytest.fixture
def sample_run(tmp_path):
    path = samples.write_sample_run(tmp_path / "runs")
    return load_run(path)


def test_accuracy_table_kept_on_source_transfer_ratio_on_targets(sample_run):
    preds = rundata.read_predictions(sample_run.path)
    table = accuracy.accuracy_table(sample_run.eval, preds)
    assert table["language"].tolist()[0] == "en"  # source first
    assert set(table["role"]) == {"source", "target"}
    src, tgt = table.iloc[0], table.iloc[1]
    assert src["% of teacher kept"] == pytest.approx(100 * src["student"] / src["teacher"])
    assert math.isnan(src["transfer ratio"]) and math.isnan(tgt["% of teacher kept"])
    ratios = accuracy.transfer_ratios(preds, sample_run.labels, "en").set_index("language")
    assert tgt["transfer ratio"] == pytest.approx(ratios.loc[tgt["language"], "transfer ratio"])
    assert tgt["KD gain (points)"] == pytest.approx(100 * (tgt["student"] - tgt["baseline"]))
    long = accuracy.accuracy_long(sample_run.eval)
    assert set(long["model"]) == {"teacher", "student", "baseline"}
    assert accuracy.accuracy_table(None).empty
    assert accuracy.accuracy_table({"languages": {}}).empty


def _logits(pred: int, n: int = 2) -> np.ndarray:
    out = np.zeros(n, dtype=np.float32)
    out[pred] = 5.0
    return out


def _preds(rows) -> pd.DataFrame:
    """rows: (language, pair_id, label index, teacher's argmax, student's argmax)."""
    labels = ["a", "b"]
    return pd.DataFrame(
        [
            {
                "text": f"{lang}{pair}",
                "language": lang,
                "label": labels[y] if y is not None else None,
                "pair_id": pair,
                "teacher_logits": _logits(t),
                "student_logits": _logits(s),
            }
            for lang, pair, y, t, s in rows
        ]
    )


def test_transfer_ratio_compares_the_student_abroad_with_the_teacher_on_the_same_items():
    preds = _preds(
        [
            # source: the teacher is right on p1, p2, p3 and wrong on p4 (and on the unpaired p9)
            ("en", "p1", 0, 0, 1),
            ("en", "p2", 1, 1, 1),
            ("en", "p3", 0, 0, 0),
            ("en", "p4", 1, 0, 0),
            ("en", "p9", 0, 1, 1),
            # it: paired with p1..p4; the student is right on p1, p2, p4; the teacher is wrong
            # on every Italian row (its own target accuracy, 0, must not be the reference)
            ("it", "p1", 0, 1, 0),
            ("it", "p2", 1, 0, 1),
            ("it", "p3", 0, 1, 1),
            ("it", "p4", 1, 0, 1),
            ("it", None, 0, 1, 0),  # no pair: left out
            ("it", "p8", 0, 1, 0),  # no source row with this pair: left out
            # de: the teacher got none of the paired source items right -> undefined
            ("de", "p4", 1, 1, 1),
            # fr: labelled rows but none paired -> undefined
            ("fr", "p7", 0, 0, 0),
        ]
    )
    ratios = accuracy.transfer_ratios(preds, ["a", "b"], "en").set_index("language")
    it = ratios.loc["it"]
    assert it["n_pairs"] == 4
    assert it["student accuracy"] == pytest.approx(3 / 4)
    assert it["teacher source accuracy"] == pytest.approx(3 / 4)
    assert it["transfer ratio"] == pytest.approx(100.0) and it["note"] == ""
    de = ratios.loc["de"]
    assert math.isnan(de["transfer ratio"]) and "none of the 1 paired en" in de["note"]
    fr = ratios.loc["fr"]
    assert fr["n_pairs"] == 0 and math.isnan(fr["transfer ratio"]) and "pair_id" in fr["note"]
    assert "en" not in ratios.index
    # a student better abroad than the teacher at home: above 100 %, and the page says why
    better = _preds(
        [("en", "p1", 0, 0, 0), ("en", "p2", 0, 1, 0), *[("it", p, 0, 1, 0) for p in ("p1", "p2")]]
    )
    assert accuracy.transfer_ratios(better, ["a", "b"], "en")["transfer ratio"].tolist() == [
        pytest.approx(200.0)
    ]
    assert accuracy.transfer_ratios(None, ["a"], "en").empty
    assert accuracy.transfer_ratios(preds.drop(columns="student_logits"), ["a"], "en").empty


def test_accuracy_display_has_no_none_nan_or_unexplained_ratio():
    preds = _preds(
        [("en", "p1", 0, 0, 0), ("en", "p2", 0, 1, 0), ("it", "p1", 0, 1, 0)]
        + [("it", "p2", 0, 1, 0), ("de", "p2", 0, 0, 0)]
    )
    result = {
        "source_language": "en",
        "labels": ["a", "b"],
        "languages": {
            "en": {"n": 2, "prior": 1.0, "teacher": {"accuracy": 0.5}, "student": {"accuracy": 1}},
            "it": {"n": 2, "prior": 1.0, "teacher": {"accuracy": 0.0}, "student": {"accuracy": 1}},
            "de": {"n": 1, "prior": 1.0, "teacher": {"accuracy": 1.0}, "student": {"accuracy": 1}},
        },
    }
    table = accuracy.accuracy_table(result, preds)
    shown = accuracy.accuracy_display(table, all_columns=True)
    text = shown.to_string()
    assert "None" not in text and "nan" not in text.lower()
    assert labels.STUDENT in shown.columns and labels.BASELINE in shown.columns
    assert shown.set_index("language").loc["it", labels.TRANSFER_RATIO] == "200.0%"
    assert shown.set_index("language").loc["de", labels.TRANSFER_RATIO] == "–"
    notes = " ".join(accuracy.ratio_notes(table, "en"))
    assert "de is –" in notes and "none of the 1 paired en items" in notes
    assert "above 100 % (it)" in notes
    # without predictions.parquet every target ratio is explained, none is made up
    bare = accuracy.accuracy_table(result)
    assert bare["transfer ratio"].isna().iloc[1:].all()
    assert "no predictions.parquet" in " ".join(accuracy.ratio_notes(bare, "en"))


def test_accuracy_table_without_baseline():
    result = {
        "source_language": "en",
        "languages": {"en": {"n": 3, "prior": 0.5, "teacher": {"accuracy": 0.8}}},
    }
    table = accuracy.accuracy_table(result)
    assert math.isnan(table.loc[0, "student"])
    assert math.isnan(table.loc[0, "% of teacher kept"])
    assert accuracy.accuracy_display(table).iloc[0][labels.STUDENT] == "–"
    assert accuracy.ratio_notes(table, "en")[0].startswith(f"{labels.TEACHER_KEPT} for en is –")


def test_heatmap_frame(sample_run, tmp_path):
    other = load_run(samples.write_sample_run(tmp_path / "runs", seed=3))
    results = {sample_run.run_id: sample_run.eval, other.run_id: other.eval, "broken": None}
    student = f"{labels.STUDENT} accuracy"
    heat = heatmap.heatmap_frame(results, student)
    assert heat.shape == (2, 3)
    assert list(heat.columns) == ["de", "en", "it"]
    preds = {r.run_id: rundata.read_predictions(r.path) for r in (sample_run, other)}
    ratio = heatmap.heatmap_frame(results, f"{labels.TRANSFER_RATIO} (%)", preds)
    assert list(ratio.columns) == ["de", "it"]  # targets only
    assert (ratio.to_numpy() > 1).all()  # a percentage
    assert "None" not in heatmap.heatmap_display(ratio, f"{labels.TRANSFER_RATIO} (%)").to_string()
    gain = heatmap.heatmap_display(
        heatmap.heatmap_frame(results, "KD gain (points)"), "KD gain (points)"
    )
    assert gain.iloc[0, 1].endswith(" pts")
    with pytest.raises(ValueError):
        heatmap.heatmap_frame(results, "nope")
    assert heatmap.heatmap_frame({}, student).empty


def test_prediction_table_filters_and_kl(sample_run):
    from xkd.evaluate import metrics as M

    preds = rundata.read_predictions(sample_run.path)
    table = distributions.prediction_table(preds, sample_run.labels, temperature=2.0)
    assert len(table) == len(preds)
    t = np.stack(preds["teacher_logits"].to_list())
    s = np.stack(preds["student_logits"].to_list())
    for i in (0, 5):
        assert table.loc[i, "kl"] == pytest.approx(M.mean_kl(t[i : i + 1], s[i : i + 1], 2.0))
    assert table["agree"].tolist() == (t.argmax(1) == s.argmax(1)).tolist()
    it = distributions.filter_predictions(table, languages=["it"])
    assert set(it["language"]) == {"it"}
    wrong = distributions.filter_predictions(table, correctness="student wrong")
    assert not wrong["student_correct"].any()
    dis = distributions.filter_predictions(table, agreement="disagree")
    assert not dis["agree"].any()
    pasta = distributions.filter_predictions(table, text="PASTA")
    assert pasta["text"].str.contains("pasta").all()
    # a hotter temperature lowers confidence
    hot = distributions.prediction_table(preds, sample_run.labels, temperature=8.0)
    assert (hot["teacher_conf"] <= table["teacher_conf"] + 1e-12).all()
    bars = distributions.example_bars(preds, 0, sample_run.labels, 2.0)
    assert (bars[bars["model"] == "teacher"]["signed"] <= 0).all()
    assert bars.groupby("model")["probability"].sum().tolist() == pytest.approx([1.0, 1.0])
    assert distributions.example_kl(preds, 0, 2.0) == pytest.approx(table.loc[0, "kl"])
    assert distributions.prediction_table(None, []).empty


def test_calibration_and_agreement_frames(sample_run):
    preds = rundata.read_predictions(sample_run.path)
    conf = distributions.confidence_frame(preds, sample_run.labels)
    assert set(conf["model"]) == {"teacher", "student", "baseline"}
    assert conf["confidence"].between(0, 1).all()
    rel = distributions.reliability_frame(preds, sample_run.labels, n_bins=5)
    assert rel.groupby("model")["count"].sum().tolist() == [len(preds)] * 3
    agr = distributions.agreement_frame(preds, sample_run.labels)
    assert agr["language"].tolist() == ["de", "en", "it"]
    expected = sample_run.eval["languages"]["it"]["agreement"]
    assert agr.set_index("language").loc["it", "agreement"] == pytest.approx(expected)


def test_alignment_table_from_eval_matches_embeddings(sample_run):
    emb = rundata.read_embeddings(sample_run.path)
    from_eval = alignment.alignment_table(sample_run.eval)
    computed = alignment.alignment_table(None, emb, "en")
    key = ["language", "model"]
    a = from_eval.sort_values(key).reset_index(drop=True)
    b = computed.sort_values(key).reset_index(drop=True)
    assert len(a) == len(b) == 6
    for col in ("src→tgt @1", "tgt→src @1", "pair cosine"):
        np.testing.assert_allclose(a[col], b[col], atol=1e-6)
    assert alignment.alignment_table(None, None).empty


def test_projection_frame_is_cached_and_joint(sample_run):
    emb = rundata.read_embeddings(sample_run.path)
    cache = sample_run.folder.cache_dir
    proj, notes = projection_frame(emb, method="pca", cache_dir=cache)
    assert set(proj["model"]) == {"teacher", "student"}
    assert len(proj) == 2 * len(emb) // 3
    assert list(cache.glob("*.parquet"))
    again, _ = projection_frame(emb, method="pca", cache_dir=cache)
    pd.testing.assert_frame_equal(proj, again)
    centred, _ = projection_frame(emb, method="pca", center=True, languages=["en", "it"])
    assert set(centred["language"]) == {"en", "it"}
    small, notes = projection_frame(emb, method="pca", max_points=30)
    assert len(small) <= 30 and notes
    lines = alignment.translation_segments(proj, "en")
    assert set(lines) == {"teacher", "student"}
    xs, ys = lines["student"]
    assert len(xs) == len(ys) and xs.count(None) == 24  # 12 pairs × 2 targets


def test_projection_with_different_widths_projects_separately():
    rows = []
    for i in range(6):
        common = dict(text=f"t{i}", language="en", label="a", pair_id=str(i))
        rows.append(dict(common, model="teacher", vector=np.ones(4) * i))
        rows.append(dict(common, model="student", vector=np.arange(3.0) + i))
    proj, notes = projection_frame(pd.DataFrame(rows), method="pca")
    assert len(proj) == 12 and any("widths" in n for n in notes)


def test_neighbours_table_excludes_self(sample_run):
    emb = rundata.read_embeddings(sample_run.path)
    nn = alignment.neighbours_table(emb, [0, 1], k=3)
    assert len(nn) == 6
    assert (nn["query"] != nn["neighbour"]).all() | (
        nn["query language"] != nn["neighbour language"]
    ).all()
    assert nn.groupby(["query", "model"])["cosine"].apply(lambda s: s.is_monotonic_decreasing).all()
    assert alignment.neighbours_table(emb, []).empty


def test_config_diff_and_recipe():
    a = samples.sample_config("a")
    b = samples.sample_config("b")
    b["distill"]["temperature"] = 1.0
    diff = runs_view.config_diff({"r1": a, "r2": b})
    assert set(diff["key"]) == {"name", "distill.temperature"}
    full = runs_view.config_diff({"r1": a, "r2": b}, all_keys=True)
    assert len(full) > len(diff)
    assert runs_view.recipe_text(a) == "parallel_mse×10 + kl×1 (T=3.0, α=0.0)"
    assert runs_view.flatten({"a": {"b": 1, "c": [1]}}) == {"a.b": 1, "a.c": [1]}


def test_runs_overview_shows_the_evaluators_headline_once(sample_run, tmp_path, live_pid):
    samples.write_sample_run(tmp_path / "runs", state="running", pid=live_pid, name="going")
    runs = rundata.all_runs(tmp_path / "runs")
    table = runs_view.runs_overview(runs)
    row = table.set_index("run").loc[sample_run.run_id]
    assert row["state"] == "finished"
    head = sample_run.headline
    assert row[labels.KD_GAIN] == pytest.approx(head.kd_gain)
    assert row[labels.STUDENT_TARGETS] == pytest.approx(head.student_target_accuracy)
    assert "parallel_mse" in row["recipe"]
    # one column per headline number, one label per concept
    gains = [c for c in table.columns if "gain" in c.lower()]
    assert gains == [labels.KD_GAIN, labels.KD_GAIN_INTERVAL]  # the gain, then its interval
    assert [c for c in table.columns if "baseline" in c.lower()] == [labels.BASELINE_TARGETS]
    shown = runs_view.overview_display(table).set_index("run")
    assert shown.loc[sample_run.run_id, labels.KD_GAIN] == f"{100 * head.kd_gain:+.1f} pts"
    low, high = 100 * head.kd_gain_low, 100 * head.kd_gain_high
    assert shown.loc[sample_run.run_id, labels.KD_GAIN_INTERVAL] == f"[{low:+.1f}, {high:+.1f}] pts"
    going = shown.drop(sample_run.run_id).iloc[0]
    assert going[labels.KD_GAIN] == "–" and going[labels.STUDENT_TARGETS] == "–"
    assert "None" not in shown.to_string()


def test_headline_metrics_read_the_run_headline(sample_run):
    metrics = labels.headline_metrics(sample_run.headline)
    assert [m.label for m in metrics] == [
        labels.STUDENT_TARGETS,
        labels.BASELINE_TARGETS,
        labels.KD_GAIN,
        labels.TEACHER_KEPT,
    ]
    head = sample_run.headline
    assert metrics[2].value == f"{100 * head.kd_gain:+.1f} pts"
    assert metrics[0].value == f"{100 * head.student_target_accuracy:.1f}%"
    assert [m.value for m in labels.headline_metrics(None)] == ["–"] * 4


# ------------------------------------------------------------------------------- run data


def test_running_run_reads_partially(tmp_path, live_pid):
    path = samples.write_sample_run(tmp_path, state="running", pid=live_pid)
    run = load_run(path)
    assert run.state == "running" and run.active
    assert run.eval is None and run.labels == [] and run.headline is None
    assert rundata.read_predictions(path) is None
    assert rundata.read_embeddings(path) is None
    frame = rundata.metrics_frame(path)
    assert set(frame["phase"]) == {"baseline", "student"}
    long = rundata.curves_long(frame, "r")
    assert {"loss", "kl", "parallel_mse", "ce"} <= set(long["term"])
    assert "lr" not in set(long["term"]) and "epoch" not in set(long["term"])
    prog = rundata.progress(run.status)
    assert prog.fraction == pytest.approx(0.5 + 0.45 / 3)  # baseline done, a third of student
    assert "student" in prog.text and "20/60" in prog.text


def test_dev_accuracy_is_never_drawn_among_the_loss_curves(tmp_path, live_pid):
    path = samples.write_sample_run(tmp_path, state="running", pid=live_pid)
    folder = RunFolder(path)
    # a record in the format before ``kind`` (flat eval_<lang>_accuracy keys) as well
    folder.append_metrics({"phase": "student", "step": 25, "epoch": 0.4, "eval_it_accuracy": 0.7})
    terms = set(rundata.curves_long(rundata.metrics_frame(path), "r")["term"])
    assert terms == {"loss", "ce", "kl", "parallel_mse"}
    assert not any("accuracy" in t or t in ("it", "de") for t in terms)
    dev = rundata.accuracy_curves(path, "r")
    assert set(dev["language"]) == {"it", "de"}
    assert dev[dev["step"] == 25]["accuracy"].tolist() == [0.7]
    assert dev["accuracy"].between(0, 1).all()
    assert len(dev) == 2 * 2 + 1  # two eval records × two languages, and the old-format one
    assert len(rundata.metrics_frame(path)) == 40 // 5 + 20 // 5  # train records only


def test_dead_pid_reads_as_interrupted(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    path = samples.write_sample_run(tmp_path, state="running", pid=proc.pid)
    assert load_run(path).state == "interrupted"


def test_progress_and_eta():
    assert rundata.progress({"state": "finished", "phase": "done"}).fraction == 1.0
    assert rundata.progress({}).fraction == 0.0
    p = rundata.progress({"state": "running", "phase": "student", "step": 5, "total_steps": 10})
    assert p.fraction == pytest.approx(0.03 + 0.17 + 0.3 + 0.45 * 0.5)
    q = rundata.progress(
        {"state": "running", "phase": "student", "step": 5, "total_steps": 10}, baseline=False
    )
    assert q.fraction == pytest.approx(0.2 + 0.75 * 0.5)
    tracker = rundata.EtaTracker()
    assert tracker.observe("student", 0, 100, now=0.0) is None
    assert tracker.observe("student", 10, 100, now=5.0) == pytest.approx(45.0)
    assert tracker.observe("eval", 0, 1, now=6.0) is None  # a new phase restarts the clock
    assert rundata.format_seconds(75) == "1 min 15 s"
    assert rundata.format_seconds(3 * 3600 + 60) == "3 h 01 min"
    assert rundata.format_seconds(None) == "?"


def test_pick_run(sample_run, tmp_path):
    runs = rundata.all_runs(tmp_path / "runs")
    assert rundata.pick_run(runs, "missing") == sample_run.run_id
    assert rundata.pick_run([], None) is None
    from xkd.runs import device_name

    # the sidebar names the device a run with train.device=auto takes (one device-name function)
    assert rundata.device_label().split(" · ")[0] == device_name("auto")


# ------------------------------------------------------------------------------- estimate


def _demo_cfg(**changes):
    from xkd.config import from_dict, merge
    from xkd.presets import preset

    return from_dict(merge(preset("demo"), changes))


def test_commands_round_trip_through_the_cli():
    from xkd.cli import build_config

    cfg = _demo_cfg(
        name="my run",
        data={"target_languages": ["it", "de"]},
        distill={"losses": [{"name": "focal_kd", "weight": 0.5, "params": {"gamma": 1.0}}]},
        train={"epochs": 1, "lr": 3e-4},
    )
    cmds = CMD.commands(cfg)
    assert cmds["accelerate"].startswith(
        "accelerate launch --multi_gpu --num_processes 2 -m xkd.cli train --preset demo"
    )
    assert cmds["torchrun"].startswith("torchrun --nproc_per_node 2 -m xkd.cli train --preset")
    assert cmds["torchrun"].endswith(cmds["xkd"].removeprefix("xkd "))
    argv = shlex.split(cmds["xkd"])
    assert argv[:4] == ["xkd", "train", "--preset", "demo"]
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    assert build_config(None, "demo", sets) == cfg
    assert CMD.commands(_demo_cfg())["xkd"] == "xkd train --preset demo"
    assert "\\\n  --set" in CMD.pretty_command(cmds["xkd"], width=40)


def test_estimate_is_positive_and_scales_with_epochs():
    from xkd.data import load_data

    ds = load_data("demo")
    one = E.estimate(_demo_cfg(train={"epochs": 1}), ds, flops_per_second=1e11)
    three = E.estimate(_demo_cfg(train={"epochs": 3}), ds, flops_per_second=1e11)
    assert one.total_seconds > 0 and one.peak_memory_mb > 500
    assert three.seconds["student"] == pytest.approx(3 * one.seconds["student"], rel=0.05)
    assert one.teacher.params == pytest.approx(22.7e6, rel=0.05)  # all-MiniLM-L6-v2
    assert one.student.num_hidden_layers == 3
    assert one.data.counted and one.data.source_train == 700
    assert any("estimate" in n for n in one.notes)
    assert {r["phase"] for r in one.rows()} == {"load", "teacher", "baseline", "student", "eval"}


def test_estimate_without_data_or_known_model():
    cfg = _demo_cfg(teacher="no/such-model-anywhere", student="scratch")
    est = E.estimate(cfg, None, flops_per_second=1e10)
    assert est.teacher.assumed
    assert est.student.hidden_size == cfg.model.scratch_hidden
    assert any("assumed" in n for n in est.notes)


# ----------------------------------------------------------------------- tokenizer report


def test_tokenizer_report_on_tiny_teacher(tiny_teacher_dir, tiny_csv):
    from xkd.data import load_data

    cfg = _demo_cfg(
        teacher=str(tiny_teacher_dir), student="from-teacher:1", data={"path": str(tiny_csv)}
    )
    report = T.report_for_config(cfg, load_data(str(tiny_csv)))
    frame = report.frame
    assert frame["language"].tolist() == ["en", "it"]
    assert set(frame["model"]) == {"teacher = student"}
    assert frame["unknown-token rate"].between(0, 1).all()
    assert (frame["tokens per word"] > 0).all()


def test_tokenizer_stats_counts_unknown_tokens(tiny_teacher_dir):
    tok = T.load_tokenizer(str(tiny_teacher_dir))
    stats = T.tokenizer_stats(tok, ["i like bread", "ℵℶℷ ℸ"], max_length=4)
    assert 0 < stats["unknown-token rate"] <= 1
    assert stats["texts"] == 2
    assert T.load_tokenizer("no/such-model-anywhere") is None


# ------------------------------------------------------------------------ uploads, export
# (the form: tests/test_form.py; launching: tests/test_launch.py)


def test_uploads_are_sanitised_and_deduplicated(tmp_path):
    assert files.sanitise_filename("../../etc/My data (1).CSV") == "My-data-1.csv"
    assert files.sanitise_filename("C:\\x\\a.jsonl") == "a.jsonl"
    with pytest.raises(ConfigError):
        files.sanitise_filename("evil.sh")
    a = files.save_upload(tmp_path, "d.csv", b"text,language\nhi,en\n")
    b = files.save_upload(tmp_path, "d.csv", b"text,language\nhi,en\n")
    c = files.save_upload(tmp_path, "d.csv", b"text,language\nciao,it\n")
    assert a == b != c
    assert a.parent == (tmp_path / "uploads").resolve()
    dataset, reason = files.data_summary(str(a))
    assert reason is None and dataset.languages() == ["en"]
    assert files.data_summary("hf:x/y")[0] is None
    assert files.data_summary(str(tmp_path / "missing.csv"))[1]


def test_model_zip(sample_run):
    data = files.model_zip(sample_run.path, "student")
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert f"{sample_run.run_id}-student/config.json" in names
    with pytest.raises(ConfigError, match="baseline"):
        files.model_zip(sample_run.path, "baseline")


def test_every_accuracy_and_gain_on_the_accuracy_page_has_its_interval(sample_run):
    import re

    preds = rundata.read_predictions(sample_run.path)
    table = accuracy.accuracy_table(sample_run.eval, preds)
    for m in ("teacher", "student", "baseline"):
        assert (table[f"{m} low"] <= table[m]).all() and (table[m] <= table[f"{m} high"]).all()
    shown = accuracy.accuracy_display(table)
    cell = re.compile(r"^\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]$")
    assert all(cell.match(v) for v in shown[labels.STUDENT]), shown[labels.STUDENT]
    gain = re.compile(r"^[+-]\d+\.\d pts \[[+-]\d+\.\d, [+-]\d+\.\d\]$")
    assert all(gain.match(v) for v in shown[labels.KD_GAIN]), shown[labels.KD_GAIN]
    assert all(v.startswith(("yes", "no")) for v in shown[accuracy.SIGNIFICANT])
    # a run evaluated before eval.json held intervals: computed from its predictions
    old = json.loads(json.dumps(sample_run.eval))
    for entry in old["languages"].values():
        entry.pop("kd_gain")
        for m in ("teacher", "student", "baseline"):
            entry[m].pop("accuracy_ci")
    again = accuracy.accuracy_table(old, preds)
    assert again["KD gain low"].tolist() == table["KD gain low"].tolist()
    long = accuracy.accuracy_long(sample_run.eval, preds)
    assert (long["plus"] >= 0).all() and (long["minus"] >= 0).all()
    # the heatmap's table too
    results = {sample_run.run_id: sample_run.eval}
    heat = heatmap.heatmap_frame(results, "KD gain (points)")
    text = heatmap.heatmap_display(
        heat, "KD gain (points)", heatmap.heatmap_ends(results, "KD gain (points)")
    )
    assert all(gain.match(v) for v in text.iloc[0, 1:]), text


def test_the_estimate_counts_the_pairs_the_run_trains_on():
    """data.max_pairs_per_language caps the task data's own pairs: the estimate and the run's
    KD examples agree per language."""
    from xkd.config import from_dict
    from xkd.data import load_data
    from xkd.presets import preset
    from xkd.train.examples import kd_examples, resolve_targets

    ds = load_data("demo")
    for budget in (None, 8):
        data = preset("demo")
        data["data"]["max_pairs_per_language"] = budget
        cfg = from_dict(data)
        counts = E.count_data(cfg, ds).kd_per_language
        targets = resolve_targets(cfg.data, ds.languages())
        kd = kd_examples(ds.frame, cfg.data, ds.labels, targets)
        assert counts == {lang: kd.languages.count(lang) for lang in set(kd.languages)}
        if budget:
            assert all(n == budget for lang, n in counts.items() if lang != "en")
