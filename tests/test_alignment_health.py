"""Alignment health during training (xkd.evaluate.health, xkd.experiment.probes) and the
map over training time (xkd.runs.maps)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import xkd
from tests.conftest import tiny_overrides
from xkd.evaluate.health import PairSet, health, language_id_accuracy, linear_cka
from xkd.evaluate.projection import Pca2D
from xkd.experiment.probes import alignment_steps
from xkd.runs import RunFolder, read_metrics
from xkd.runs.maps import read_maps


# -- measures -------------------------------------------------------------------------------
def test_linear_cka_by_hand_and_its_invariances():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.5]])
    # hand computation on the centred matrices
    xc = x - x.mean(0)
    y = x @ np.array([[0.0, 2.0], [-2.0, 0.0]]) + 3.0  # rotation, scale, shift
    assert linear_cka(x, y) == pytest.approx(1.0)
    z = np.array([[1.0], [-1.0], [1.0], [-1.0]])
    zc = z - z.mean(0)
    expect = np.linalg.norm(zc.T @ xc) ** 2 / (
        np.linalg.norm(xc.T @ xc) * np.linalg.norm(zc.T @ zc)
    )
    assert linear_cka(x, z) == pytest.approx(expect)
    assert 0 <= linear_cka(x, z) < 1
    assert np.isnan(linear_cka(x[:1], z[:1]))


def test_language_id_probe_separates_languages_only_when_the_space_does():
    rng = np.random.default_rng(0)
    langs = np.array(["en"] * 40 + ["de"] * 40)
    split = rng.normal(size=(80, 8)) + np.where(langs[:, None] == "en", 4.0, -4.0)
    mixed = rng.normal(size=(80, 8))
    assert language_id_accuracy(split, langs) == 1.0
    assert language_id_accuracy(mixed, langs) < 0.75
    assert np.isnan(language_id_accuracy(mixed, np.array(["en"] * 80)))


def _frame() -> pd.DataFrame:
    rows = []
    for i in range(6):
        rows.append({"text": f"hello {i}", "language": "en", "split": "test", "pair_id": str(i)})
        rows.append({"text": f"hallo {i}", "language": "de", "split": "test", "pair_id": str(i)})
        if i < 4:
            rows.append({"text": f"ciao {i}", "language": "it", "split": "test", "pair_id": str(i)})
    rows.append({"text": "train only", "language": "de", "split": "train", "pair_id": "9"})
    return pd.DataFrame(rows)


def test_pair_set_and_health_on_a_known_geometry():
    pairs = PairSet.from_frame(_frame(), source_language="en", targets=["de", "it"])
    assert len(pairs) == 10 and pairs.languages == ["de", "it"]
    assert len(pairs.texts) == 6 + 6 + 4  # each sentence once, sources first
    assert pairs.text_languages[:6] == ["en"] * 6
    # translations embedded exactly on their source: perfect retrieval, cosine 1, CKA 1
    base = np.random.default_rng(1).normal(size=(6, 5))
    emb = np.zeros((len(pairs.texts), 5))
    emb[:6] = base
    for row in pairs.pairs.itertuples():
        emb[row.target] = base[int(row.pair_id)]
    out = health(pairs, emb, reference=emb)
    de = out["languages"]["de"]
    assert de["n_pairs"] == 6 and de["retrieval_s2t"] == de["retrieval_t2s"] == 1.0
    assert de["pair_cosine"] == pytest.approx(1.0) and de["cka"] == pytest.approx(1.0)
    assert out["language_id_chance"] == pytest.approx(6 / 16)
    # a language-specific offset: retrieval and cosine fall, the language probe sees it
    shifted = emb.copy()
    shifted[6:12] += 10.0
    worse = health(pairs, shifted, reference=emb)["languages"]["de"]
    assert worse["pair_cosine"] < de["pair_cosine"]
    assert health(pairs, shifted)["languages"]["de"].get("cka") is None


def test_alignment_steps_include_start_and_end():
    assert alignment_steps(100, 3) == {0, 25, 50, 75, 100}
    assert alignment_steps(100, 0) == set()
    assert alignment_steps(2, 10) == {0, 2}  # a short run: no point in between
    assert alignment_steps(290, 8) == {0, 32, 64, 97, 129, 161, 193, 226, 258, 290}
    assert len(alignment_steps(100, 8)) == 2 + 4  # at most one point per 25 steps


def test_the_projection_is_fitted_once_so_unchanged_points_do_not_move():
    rng = np.random.default_rng(0)
    fitted = rng.normal(size=(30, 6))
    pca = Pca2D.fit(fitted)
    step_a = rng.normal(size=(20, 6))
    step_b = step_a.copy()
    step_b[5:] += rng.normal(size=(15, 6))  # the model changed points 5.. only
    xy_a, xy_b = pca.transform(step_a), pca.transform(step_b)
    np.testing.assert_allclose(xy_a[:5], xy_b[:5])
    assert not np.allclose(xy_a[5:], xy_b[5:])
    with pytest.raises(ValueError, match="width"):
        pca.transform(rng.normal(size=(3, 4)))


# -- in a run -------------------------------------------------------------------------------
def _config(teacher_dir, data_path, **extra) -> dict:
    from xkd import config as C
    from xkd.presets import preset

    data = preset("demo")
    for assignment in tiny_overrides(teacher_dir, data_path, **extra):
        C.set_key(data, assignment)
    return data


def test_a_run_records_alignment_health_from_step_0_and_stores_its_maps(
    tiny_teacher_dir, tiny_csv, tmp_path, monkeypatch
):
    monkeypatch.setattr("xkd.experiment.probes.MIN_STEPS_PER_POINT", 1)  # points in a short run
    cfg = _config(tiny_teacher_dir, tiny_csv)
    cfg["train"]["alignment_points"] = 2
    result = xkd.distill(cfg, runs_dir=tmp_path / "runs")
    folder = RunFolder(result.run_dir)
    records = read_metrics(folder, "alignment")
    student = [r for r in records if r["model"] == "student"]
    total = max(r["step"] for r in read_metrics(folder, "train") if r["phase"] == "student")
    assert [r["step"] for r in student] == sorted(alignment_steps(total, 2))
    assert {r["model"] for r in records} == {"student", "teacher", "baseline"}
    (teacher,) = [r for r in records if r["model"] == "teacher"]
    assert teacher["step"] == 0 and teacher["phase"] == "student"
    (baseline,) = [r for r in records if r["model"] == "baseline"]
    assert baseline["phase"] == "baseline"
    for r in student:
        for entry in r["languages"].values():
            assert {"retrieval_s2t", "retrieval_t2s", "pair_cosine", "cka"} <= set(entry)
        assert r["seconds"] >= 0 and r["language_id"] is not None
    # at step 0 the student is its initial weights, at the end the trained student: they differ
    assert student[0]["languages"] != student[-1]["languages"]
    texts, pairs, coords = read_maps(folder)
    assert len(texts) == len(set(zip(texts["text"], texts["language"])))
    assert set(pairs["target"]) <= set(texts["index"])
    steps = coords[coords["model"] == "student"]["step"].unique().tolist()
    assert sorted(steps) == [r["step"] for r in student]
    assert (folder.alignment_dir / "projection.safetensors").is_file()
    n = len(texts)
    assert coords.groupby(["phase", "model", "step"]).size().eq(n).all()
    # the stored embeddings replay the stored map through the one projection
    from safetensors.numpy import load_file

    proj = load_file(str(folder.alignment_dir / "projection.safetensors"))
    emb = load_file(
        str(folder.alignment_dir / "embeddings" / f"student-student-{total:07d}.safetensors")
    )
    last = coords[(coords["model"] == "student") & (coords["step"] == total)]
    xy = (emb["embeddings"].astype(np.float64) - proj["mean"]) @ proj["components"].T
    np.testing.assert_allclose(last[["x", "y"]].to_numpy(), xy, atol=2e-2)


def test_alignment_points_0_turns_it_off(tiny_teacher_dir, tiny_csv, tmp_path):
    cfg = _config(tiny_teacher_dir, tiny_csv, baseline="false")
    cfg["train"]["alignment_points"] = 0
    result = xkd.distill(cfg, runs_dir=tmp_path / "runs")
    folder = RunFolder(result.run_dir)
    assert read_metrics(folder, "alignment") == []
    assert not folder.alignment_dir.exists()


class _StopInStudent:
    """Stop the run once the student reaches ``step``."""

    def __init__(self, step: int) -> None:
        self.step, self.now = step, (None, 0)

    def on_step(self, phase, step, total_steps, logs):
        self.now = (phase, step)

    def should_stop(self):
        return self.now[0] == "student" and self.now[1] >= self.step

    def __getattr__(self, name):  # the other callback hooks do nothing
        return lambda *args, **kwargs: None


def test_a_resumed_run_continues_its_alignment_records_and_maps(
    tiny_teacher_dir, tiny_csv, tmp_path, monkeypatch
):
    monkeypatch.setattr("xkd.experiment.probes.MIN_STEPS_PER_POINT", 1)
    from xkd.experiment import Experiment

    cfg = _config(tiny_teacher_dir, tiny_csv, baseline="false")
    cfg["train"]["alignment_points"] = 8
    run_dir = tmp_path / "run"
    stopped = Experiment(cfg, run_dir=run_dir, callbacks=[_StopInStudent(4)]).run()
    assert stopped.state == "stopped"
    folder = RunFolder(run_dir)
    before = [r["step"] for r in read_metrics(folder, "alignment") if r["model"] == "student"]
    assert before[0] == 0 and max(before) <= 4
    done = Experiment(cfg, run_dir=run_dir, resume=True).run()
    assert done.state == "finished"
    records = read_metrics(folder, "alignment")
    steps = [r["step"] for r in records if r["model"] == "student"]
    assert steps == sorted(set(steps)), steps  # step 0 once, then onwards, no repeats
    assert len(steps) > len(before) and max(steps) > 4
    assert [r["step"] for r in records if r["model"] == "teacher"] == [0]
    _, _, coords = read_maps(folder)
    assert sorted(coords[coords["model"] == "student"]["step"].unique()) == steps


def test_mixed_pool_retrieval_by_hand():
    from xkd.evaluate.health import mixed_pool_retrieval

    # two groups (a, b) in en and de; de sentences sit next to each other (a language cluster)
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.72], [0.72, 0.7]])
    pairs = ["a", "b", "a", "b"]
    langs = ["en", "en", "de", "de"]
    # de:a (row 2) is nearest to de:b (row 3), a miss; de:b nearest to de:a, a miss
    assert mixed_pool_retrieval(emb, pairs, langs, "de") == 0.0
    neutral = np.array([[1.0, 0.0], [0.0, 1.0], [0.99, 0.05], [0.05, 0.99]])
    assert mixed_pool_retrieval(neutral, pairs, langs, "de") == 1.0
    assert np.isnan(mixed_pool_retrieval(neutral, pairs, langs, "fr"))


def test_eval_json_has_language_bias_for_every_model(tiny_teacher_dir, tiny_csv, tmp_path):
    cfg = _config(tiny_teacher_dir, tiny_csv)
    cfg["train"]["alignment_points"] = 0
    result = xkd.distill(cfg, runs_dir=tmp_path / "runs")
    bias = RunFolder(result.run_dir).read_eval()["language_bias"]
    retrieval = RunFolder(result.run_dir).read_eval()["retrieval"]
    assert set(bias) == set(retrieval) and bias
    for lang, models in bias.items():
        assert set(models) == {"teacher", "student", "baseline"}
        for name, v in models.items():
            assert v["own"] == retrieval[lang][name]["tgt_to_src"]
            assert v["drop"] == pytest.approx(v["own"] - v["mixed"])


def test_shortfalls_name_the_likeliest_cause():
    from xkd.evaluate.attribution import shortfalls

    base = {"prior": 0.25, "n_test": 100, "teacher_source": 0.9, "student": 0.5}
    attr = {
        "ja": base
        | {
            "teacher_gap": 0.4,
            "unknown_rate": 0.58,
            "script": "Cjk",
            "tokens_per_word": 1.0,
            "parallel_pairs": 500,
        },
        "fi": base
        | {
            "teacher_gap": 0.3,
            "unknown_rate": 0.0,
            "script": "Latin",
            "tokens_per_word": 4.0,
            "parallel_pairs": 500,
        },
        "sw": base
        | {
            "teacher_gap": 0.3,
            "unknown_rate": 0.0,
            "script": "Latin",
            "tokens_per_word": 1.4,
            "parallel_pairs": 40,
        },
        "zh": base
        | {
            "teacher_gap": 0.3,
            "unknown_rate": 0.01,
            "script": "Cjk",
            "tokens_per_word": 9.0,
            "chars_per_token": 1.0,
            "parallel_pairs": 500,
        },
        "de": base
        | {
            "teacher_gap": 0.05,
            "unknown_rate": 0.0,
            "script": "Latin",
            "tokens_per_word": 1.3,
            "parallel_pairs": 500,
        },
    }
    causes = shortfalls(attr, source_fertility=1.2)
    assert causes["de"] is None
    assert causes["ja"].startswith("58% unknown tokens") and "Cjk" in causes["ja"]
    assert "tokens per word" in causes["fi"] and "3.3x" in causes["fi"]
    assert causes["sw"].startswith("only 40 parallel pairs")
    assert causes["zh"].startswith("1.0 characters per token (Cjk script)")  # not "tokens/word"


def test_eval_json_attributes_each_target_languages_gap(tiny_teacher_dir, tiny_csv, tmp_path):
    cfg = _config(tiny_teacher_dir, tiny_csv)
    cfg["train"]["alignment_points"] = 0
    result = xkd.distill(cfg, runs_dir=tmp_path / "runs")
    saved = RunFolder(result.run_dir).read_eval()
    attr = saved["attribution"]
    assert set(attr) == set(saved["target_languages"]) and attr
    for lang, a in attr.items():
        entry = saved["languages"][lang]
        assert a["kd_gain"] == pytest.approx(
            entry["student"]["accuracy"] - entry["baseline"]["accuracy"]
        )
        assert a["parallel_pairs"] > 0 and a["script"] == "Latin"
        assert 0 <= a["unknown_rate"] <= 1 and a["tokens_per_word"] > 0
        if a["teacher_gap"] is not None:
            assert a["teacher_gap"] == pytest.approx(a["teacher_source"] - a["student"])
        assert isinstance(a["short"], bool) and (a["cause"] is None) == (not a["short"])
    from xkd.app.attribution import GAIN_INTERVAL, attribution_table

    table = attribution_table(saved).set_index("language")  # every gain with its interval
    for lang in attr:
        g = saved["languages"][lang]["kd_gain"]
        assert table.loc[lang, GAIN_INTERVAL] == f"[{g['low']:.3f}, {g['high']:.3f}]"


def test_vocabulary_fixes_are_valid_configs_of_the_run():
    from xkd.app.attribution import vocabulary_fixes, vocabulary_languages
    from xkd.config import from_dict
    from xkd.presets import preset

    result = {
        "attribution": {
            "ja": {"short": True, "cause": "58% unknown tokens: ..."},
            "de": {"short": True, "cause": "only 40 parallel pairs: ..."},
            "it": {"short": False, "cause": None},
        }
    }
    assert vocabulary_languages(result) == ["ja"]
    fixes = vocabulary_fixes(preset("demo"))
    pieces = from_dict(fixes["pieces"][1])
    assert pieces.model.vocab_pieces == 2000 and pieces.model.extend_vocab is True
    assert from_dict(fixes["scratch"][1]).student == "scratch"


def test_a_student_of_another_width_gets_its_own_projection_and_no_cka(
    tiny_teacher_dir, tiny_csv, tmp_path
):
    cfg = _config(tiny_teacher_dir, tiny_csv, student="scratch", baseline="false")
    cfg["model"].update({"scratch_hidden": 16, "scratch_layers": 1, "vocab_size": 200})
    cfg["model"]["extend_vocab"] = False
    cfg["train"]["alignment_points"] = 1
    result = xkd.distill(cfg, runs_dir=tmp_path / "runs")
    folder = RunFolder(result.run_dir)
    student = [r for r in read_metrics(folder, "alignment") if r["model"] == "student"]
    assert student and all("cka" not in e for r in student for e in r["languages"].values())
    from xkd.app.health import fitted_on, map_at

    assert fitted_on(folder.path) == "student step 0"
    points, _ = map_at(folder.path, student[-1]["step"])
    assert set(points["model"]) == {"student"}  # the teacher's 32-wide map does not fit
