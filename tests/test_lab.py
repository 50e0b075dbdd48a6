"""Unit tests of xkd.app: loss lab, views, run data, estimate, tokenizer report, launch helpers."""

from __future__ import annotations

import io
import math
import shlex
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest

from xkd.app import estimate as E
from xkd.app import files, losslab, rundata, samples, views
from xkd.app import tokenizer_report as T
from xkd.errors import ConfigError

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


# --------------------------------------------------------------------------------- views


@pytest.fixture
def sample_run(tmp_path):
    path = samples.write_sample_run(tmp_path / "runs")
    return rundata.load_run(path)


def test_accuracy_table_and_kept(sample_run):
    table = views.accuracy_table(sample_run.eval)
    assert table["language"].tolist()[0] == "en"  # source first
    assert set(table["role"]) == {"source", "target"}
    row = table.iloc[1]
    assert row["% of teacher kept"] == pytest.approx(100 * row["student"] / row["teacher"])
    assert row["KD gain (points)"] == pytest.approx(100 * (row["student"] - row["baseline"]))
    long = views.accuracy_long(sample_run.eval)
    assert set(long["model"]) == {"teacher", "student", "baseline"}
    assert views.accuracy_table(None).empty
    assert views.accuracy_table({"languages": {}}).empty


def test_accuracy_table_without_baseline():
    result = {
        "source_language": "en",
        "languages": {"en": {"n": 3, "prior": 0.5, "teacher": {"accuracy": 0.8}}},
    }
    table = views.accuracy_table(result)
    assert math.isnan(table.loc[0, "student"])
    assert math.isnan(table.loc[0, "% of teacher kept"])


def test_heatmap_frame(sample_run, tmp_path):
    other = rundata.load_run(samples.write_sample_run(tmp_path / "runs", seed=3))
    results = {sample_run.run_id: sample_run.eval, other.run_id: other.eval, "broken": None}
    heat = views.heatmap_frame(results, "student accuracy")
    assert heat.shape == (2, 3)
    assert list(heat.columns) == ["de", "en", "it"]
    kept = views.heatmap_frame(results, "% of teacher kept")
    assert (kept.to_numpy() > 1).all()  # a percentage
    with pytest.raises(ValueError):
        views.heatmap_frame(results, "nope")
    assert views.heatmap_frame({}, "student accuracy").empty


def test_prediction_table_filters_and_kl(sample_run):
    from xkd.evaluate import metrics as M

    preds = rundata.read_predictions(sample_run.path)
    table = views.prediction_table(preds, sample_run.labels, temperature=2.0)
    assert len(table) == len(preds)
    t = np.stack(preds["teacher_logits"].to_list())
    s = np.stack(preds["student_logits"].to_list())
    for i in (0, 5):
        assert table.loc[i, "kl"] == pytest.approx(M.mean_kl(t[i : i + 1], s[i : i + 1], 2.0))
    assert table["agree"].tolist() == (t.argmax(1) == s.argmax(1)).tolist()
    it = views.filter_predictions(table, languages=["it"])
    assert set(it["language"]) == {"it"}
    wrong = views.filter_predictions(table, correctness="student wrong")
    assert not wrong["student_correct"].any()
    dis = views.filter_predictions(table, agreement="disagree")
    assert not dis["agree"].any()
    assert views.filter_predictions(table, text="PASTA")["text"].str.contains("pasta").all()
    # a hotter temperature lowers confidence
    hot = views.prediction_table(preds, sample_run.labels, temperature=8.0)
    assert (hot["teacher_conf"] <= table["teacher_conf"] + 1e-12).all()
    bars = views.example_bars(preds, 0, sample_run.labels, 2.0)
    assert (bars[bars["model"] == "teacher"]["signed"] <= 0).all()
    assert bars.groupby("model")["probability"].sum().tolist() == pytest.approx([1.0, 1.0])
    assert views.example_kl(preds, 0, 2.0) == pytest.approx(table.loc[0, "kl"])
    assert views.prediction_table(None, []).empty


def test_calibration_and_agreement_frames(sample_run):
    preds = rundata.read_predictions(sample_run.path)
    conf = views.confidence_frame(preds, sample_run.labels)
    assert set(conf["model"]) == {"teacher", "student", "baseline"}
    assert conf["confidence"].between(0, 1).all()
    rel = views.reliability_frame(preds, sample_run.labels, n_bins=5)
    assert rel.groupby("model")["count"].sum().tolist() == [len(preds)] * 3
    agr = views.agreement_frame(preds, sample_run.labels)
    assert agr["language"].tolist() == ["de", "en", "it"]
    expected = sample_run.eval["languages"]["it"]["agreement"]
    assert agr.set_index("language").loc["it", "agreement"] == pytest.approx(expected)


def test_alignment_table_from_eval_matches_embeddings(sample_run):
    emb = rundata.read_embeddings(sample_run.path)
    from_eval = views.alignment_table(sample_run.eval)
    computed = views.alignment_table(None, emb, "en")
    key = ["language", "model"]
    a = from_eval.sort_values(key).reset_index(drop=True)
    b = computed.sort_values(key).reset_index(drop=True)
    assert len(a) == len(b) == 6
    for col in ("src→tgt @1", "tgt→src @1", "pair cosine"):
        np.testing.assert_allclose(a[col], b[col], atol=1e-6)
    assert views.alignment_table(None, None).empty


def test_projection_frame_is_cached_and_joint(sample_run):
    emb = rundata.read_embeddings(sample_run.path)
    cache = sample_run.folder.cache_dir
    proj, notes = views.projection_frame(emb, method="pca", cache_dir=cache)
    assert set(proj["model"]) == {"teacher", "student"}
    assert len(proj) == 2 * len(emb) // 3
    assert list(cache.glob("*.parquet"))
    again, _ = views.projection_frame(emb, method="pca", cache_dir=cache)
    pd.testing.assert_frame_equal(proj, again)
    centred, _ = views.projection_frame(emb, method="pca", center=True, languages=["en", "it"])
    assert set(centred["language"]) == {"en", "it"}
    small, notes = views.projection_frame(emb, method="pca", max_points=30)
    assert len(small) <= 30 and notes
    lines = views.translation_segments(proj, "en")
    assert set(lines) == {"teacher", "student"}
    xs, ys = lines["student"]
    assert len(xs) == len(ys) and xs.count(None) == 24  # 12 pairs × 2 targets


def test_projection_with_different_widths_projects_separately():
    rows = []
    for i in range(6):
        rows.append(
            dict(
                text=f"t{i}",
                language="en",
                label="a",
                pair_id=str(i),
                model="teacher",
                vector=np.ones(4) * i,
            )
        )
        rows.append(
            dict(
                text=f"t{i}",
                language="en",
                label="a",
                pair_id=str(i),
                model="student",
                vector=np.arange(3.0) + i,
            )
        )
    proj, notes = views.projection_frame(pd.DataFrame(rows), method="pca")
    assert len(proj) == 12 and any("widths" in n for n in notes)


def test_neighbours_table_excludes_self(sample_run):
    emb = rundata.read_embeddings(sample_run.path)
    nn = views.neighbours_table(emb, [0, 1], k=3)
    assert len(nn) == 6
    assert (nn["query"] != nn["neighbour"]).all() | (
        nn["query language"] != nn["neighbour language"]
    ).all()
    assert nn.groupby(["query", "model"])["cosine"].apply(lambda s: s.is_monotonic_decreasing).all()
    assert views.neighbours_table(emb, []).empty


def test_config_diff_and_recipe():
    a = samples.sample_config("a")
    b = samples.sample_config("b")
    b["distill"]["temperature"] = 1.0
    diff = views.config_diff({"r1": a, "r2": b})
    assert set(diff["key"]) == {"name", "distill.temperature"}
    full = views.config_diff({"r1": a, "r2": b}, all_keys=True)
    assert len(full) > len(diff)
    assert views.recipe_text(a) == "parallel_mse×10 + kl×1 (T=3.0, α=0.0)"
    assert views.flatten({"a": {"b": 1, "c": [1]}}) == {"a.b": 1, "a.c": [1]}


def test_runs_overview(sample_run, tmp_path):
    runs = rundata.all_runs(tmp_path / "runs")
    table = views.runs_overview(
        runs, {sample_run.run_id: sample_run.config}, {sample_run.run_id: sample_run.eval}
    )
    assert table.loc[0, "state"] == "finished"
    assert table.loc[0, "KD gain (points)"] == pytest.approx(
        100 * sample_run.eval["summary"]["kd_gain"]
    )
    assert "parallel_mse" in table.loc[0, "recipe"]


# ------------------------------------------------------------------------------- run data


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_running_run_reads_partially(tmp_path, live_pid):
    path = samples.write_sample_run(tmp_path, state="running", pid=live_pid)
    run = rundata.load_run(path)
    assert run.state == "running" and run.active
    assert run.eval is None and run.labels == []
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


def test_dead_pid_reads_as_interrupted(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    path = samples.write_sample_run(tmp_path, state="running", pid=proc.pid)
    assert rundata.load_run(path).state == "interrupted"


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
    assert rundata.device_label() == "cpu" or rundata.device_label().startswith(("cuda", "mps"))


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
    cmds = E.commands(cfg)
    assert cmds["accelerate"].startswith("accelerate launch -m xkd.cli train --preset demo")
    argv = shlex.split(cmds["xkd"])
    assert argv[:4] == ["xkd", "train", "--preset", "demo"]
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    assert build_config(None, "demo", sets) == cfg
    assert E.commands(_demo_cfg())["xkd"] == "xkd train --preset demo"
    assert "\\\n  --set" in E.pretty_command(cmds["xkd"], width=40)


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
