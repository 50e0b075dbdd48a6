"""Teacher cache, training loop (checkpoint/resume), and the end-to-end run-folder contract."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from tests.conftest import make_parallel_frame, tiny_overrides
from xkd.cli import main
from xkd.config import TrainConfig
from xkd.losses import Recipe, Term, build_loss
from xkd.train.cache import TeacherCache
from xkd.train.callbacks import Callback
from xkd.train.examples import Examples
from xkd.train.loop import epoch_batches, tokenize_examples, train_model
from xkd.train.objective import KDObjective


@pytest.fixture()
def tiny():
    from xkd.testing.models import tiny_model

    texts = make_parallel_frame()["text"].tolist()
    return tiny_model(
        labels=["food", "sport", "money"], texts=texts, layers=2, hidden=32, heads=2, seed=0
    )


def counting(model):
    """A copy of ``model`` that counts the rows its forward sees (``.rows``)."""
    import copy

    counted = copy.deepcopy(model)
    counted.rows = 0

    def count(module, args, kwargs):
        module.rows += (kwargs.get("input_ids") if "input_ids" in kwargs else args[0]).shape[0]

    counted.register_forward_pre_hook(count, with_kwargs=True)
    return counted


def test_cache_runs_teacher_once_per_distinct_text(tiny):
    teacher = counting(tiny).eval()
    cache = TeacherCache(teacher, max_length=16, batch_size=4, hidden_layers=[1, 2])
    texts = ["a b c", "d e", "a b c", "f g h i", "d e"]
    cache.ensure(texts)
    cache.ensure(texts + ["new text"])
    assert teacher.rows == 4 == cache.encoded_texts
    # cached pooled/logits equal a direct forward; logits are head(pooled)
    with torch.inference_mode():
        enc = tiny.tokenize(["f g h i"], max_length=16)
        out = tiny(**enc, output_hidden_states=True)
    row = cache.ids(["f g h i"])[0]
    torch.testing.assert_close(cache.pooled[row], out.pooled[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cache.logits[row], out.logits[0], atol=1e-5, rtol=1e-5)
    batch = cache.batch([row])
    n = int(enc["attention_mask"].sum())
    torch.testing.assert_close(
        batch["hidden"][2][0, :n], out.hidden_states[2][0, :n], atol=2e-2, rtol=1e-2
    )


def test_cache_save_and_load_roundtrip(tiny, tmp_path):
    cache = TeacherCache(tiny, max_length=16, hidden_layers=[1])
    cache.ensure(["one two", "three four five"])
    cache.save(tmp_path / "c.safetensors")
    fresh = TeacherCache(counting(tiny).eval(), max_length=16, hidden_layers=[1])
    assert fresh.load(tmp_path / "c.safetensors", ["three four five", "one two", "unknown"]) == 2
    fresh.ensure(["one two", "three four five"])
    assert fresh.teacher.rows == 0
    torch.testing.assert_close(
        fresh.pooled[fresh.ids(["one two"])[0]], cache.pooled[cache.ids(["one two"])[0]]
    )


def test_epoch_batches_cover_every_example_once_and_are_deterministic():
    lengths = [5, 3, 9, 1, 7, 2, 8, 4, 6, 10]
    a = epoch_batches(lengths, 3, seed=1, epoch=0)
    assert sorted(i for b in a for i in b) == list(range(10))
    assert a == epoch_batches(lengths, 3, seed=1, epoch=0)
    assert a != epoch_batches(lengths, 3, seed=1, epoch=1)


def _objective(model, cache):
    terms = (
        Term(name="kl", weight=1.0, loss=build_loss("kl", temperature=2.0)),
        Term(name="parallel_mse", weight=1.0, loss=build_loss("parallel_mse")),
    )
    dims = model.dims(3)
    for term in terms:
        term.loss.setup(dims, dims)
    return KDObjective(model, Recipe(terms=terms, alpha=0.5, temperature=2.0), cache)


class StopAfter(Callback):
    def __init__(self, n):
        self.n = n
        self.steps = 0

    def on_step(self, phase, step, total_steps, logs):
        self.steps = step

    def should_stop(self):
        return self.steps >= self.n


def test_stop_and_resume_matches_uninterrupted_training(tiny, tmp_path):
    import copy

    frame = make_parallel_frame()
    en = frame[frame.language == "en"]
    it = frame[frame.language == "it"]
    ex = Examples(
        en.text.tolist() + it.text.tolist(),
        en.text.tolist() + en.text.tolist(),
        [0] * len(en) + [-100] * len(it),
        ["en"] * len(en) + ["it"] * len(it),
    )
    teacher = copy.deepcopy(tiny)
    cache = TeacherCache(teacher, max_length=16)
    cache.ensure(ex.teacher_texts)
    cfg = TrainConfig(epochs=2, batch_size=8, lr=1e-3, seed=3, log_every=1, device="cpu")

    def run(stop_at=None, resume=False, model=None, ckpt=None):
        model = model or copy.deepcopy(tiny)
        obj = _objective(model, cache)
        data = tokenize_examples(ex, model.tokenizer, 16, cache.ids(ex.teacher_texts))
        cbs = StopAfter(stop_at) if stop_at else None
        state = train_model(obj, data, cfg, callbacks=cbs, checkpoint_dir=ckpt, resume=resume)
        return model, state

    full, full_state = run()
    _, stopped = run(stop_at=5, ckpt=tmp_path)
    assert stopped.stopped and stopped.step == 5 and (tmp_path / "student" / "state.json").exists()
    resumed, state = run(resume=True, ckpt=tmp_path)
    assert state.step == full_state.step and not state.stopped
    for (name, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)
    assert [r["loss"] for r in state.history] == pytest.approx(
        [r["loss"] for r in full_state.history[5:]], rel=1e-5
    )


# ---------------------------------------------------------------------------------------------
# End to end through the CLI (seconds)


@pytest.fixture(scope="module")
def finished_run(tiny_teacher_dir, tiny_csv, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    sets = tiny_overrides(tiny_teacher_dir, tiny_csv)
    args = ["train", "--runs-dir", str(runs), "--quiet"] + [x for s in sets for x in ("--set", s)]
    args += ["--set", "distill.losses=[{name: parallel_mse, weight: 5}, {name: kl}]"]
    assert main(args) == 0
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return runs, run_dir


def test_run_folder_contract(finished_run):
    _, run = finished_run
    for name in (
        "config.yaml",
        "status.json",
        "metrics.jsonl",
        "eval.json",
        "embeddings.parquet",
        "predictions.parquet",
        "env.json",
    ):
        assert (run / name).is_file(), name
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "finished" and status["error"] is None
    assert {"step", "total_steps", "started", "updated"} <= set(status)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["student"] == "from-teacher:1" and cfg["data"]["source_language"] == "en"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    kd = [r for r in records if r["phase"] == "student" and r["kind"] == "train"]
    assert kd and {"kind", "step", "epoch", "loss", "lr", "terms"} <= set(kd[0])
    assert set(kd[0]["terms"]) == {"kl", "parallel_mse"}
    assert [r for r in records if r["phase"] == "baseline"]
    ev = json.loads((run / "eval.json").read_text())
    for lang in ("en", "it"):
        e = ev["languages"][lang]
        assert {"n", "prior", "teacher", "student", "baseline"} <= set(e)
        assert 0 <= e["student"]["accuracy"] <= 1 and "macro_f1" in e["baseline"]
    assert {"retrieval", "pair_cosine", "agreement", "kl", "sizes", "throughput"} <= set(ev)
    assert ev["format"] == 2 and set(ev["headline"]) >= {"kd_gain", "source_kept"}
    assert set(ev["retrieval"]["it"]["student"]) == {"src_to_tgt", "tgt_to_src"}
    emb = pd.read_parquet(run / "embeddings.parquet")
    assert {"text", "language", "label", "pair_id", "model", "vector"} <= set(emb.columns)
    assert set(emb["model"]) == {"teacher", "student", "baseline"}
    assert (run / "student" / "README.md").read_text().count("from-teacher:1")
    assert not list(run.rglob("*.bin")) and not list(run.rglob("*.pkl"))


def test_saved_student_reproduces_the_evaluated_predictions(finished_run):
    from xkd.models import load_model

    _, run = finished_run
    preds = pd.read_parquet(run / "predictions.parquet")
    student = load_model(str(run / "student"))
    logits = student.predict_logits(preds["text"].tolist()[:10], max_length=16)
    np.testing.assert_allclose(logits, np.stack(preds["student_logits"].tolist()[:10]), atol=1e-4)


def test_runs_eval_export_commands(finished_run, tmp_path, capsys):
    runs, run = finished_run
    assert main(["runs", "--runs-dir", str(runs), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["run_id"] == run.name and listed[0]["state"] == "finished"
    before = json.loads((run / "eval.json").read_text())
    assert main(["eval", run.name, "--runs-dir", str(runs), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    for lang, entry in before["languages"].items():  # same models, same data: same numbers
        for model in ("teacher", "student", "baseline"):
            assert again["languages"][lang][model]["accuracy"] == entry[model]["accuracy"]
    assert main(["export", run.name, str(tmp_path / "out"), "--runs-dir", str(runs)]) == 0
    assert (tmp_path / "out" / "xkd_config.json").exists()


def test_bad_input_exits_2_with_message(tmp_path, capsys):
    assert main(["train", "--runs-dir", str(tmp_path), "--set", "distill.temperature=0"]) == 2
    assert "temperature" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--runs-dir",
                str(tmp_path),
                "--set",
                "data.path=/nonexistent/file.csv",
                "--quiet",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "/nonexistent/file.csv" in err and "Traceback" not in err
    assert main(["eval", "../etc", "--runs-dir", str(tmp_path)]) == 2


def test_teacher_encoder_runs_once_per_text_in_a_whole_run(
    tiny_teacher_dir, tiny_csv, tmp_path, monkeypatch
):
    """A whole run (head fit, baseline, KD, eval) never re-encodes a text with the teacher."""
    from xkd.models import XKDModel

    seen: list[str] = []
    teachers: set[int] = set()
    original = XKDModel.tokenize

    def spy(self, texts, max_length=64):
        if id(self) in teachers:
            seen.extend(texts)
        return original(self, texts, max_length=max_length)

    import xkd.models as models

    real_load = models.load_model

    def load_and_mark(*a, **k):
        m = real_load(*a, **k)
        teachers.add(id(m))
        return m

    monkeypatch.setattr(XKDModel, "tokenize", spy)
    monkeypatch.setattr(models, "load_model", load_and_mark)
    # speed measurement re-runs models on purpose (timing, not outputs): not under test here
    monkeypatch.setattr("xkd.evaluate.evaluator.throughput", lambda *a, **k: 1.0)
    sets = tiny_overrides(tiny_teacher_dir, tiny_csv, **{"train.epochs": 1})
    args = ["train", "--runs-dir", str(tmp_path), "--quiet"] + [
        x for s in sets for x in ("--set", s)
    ]
    assert main(args) == 0
    ev = json.loads(next(tmp_path.glob("*/eval.json")).read_text())
    assert seen and len(seen) == len(set(seen)) == ev["teacher_info"]["teacher_texts_encoded"]


def test_eval_every_logs_dev_accuracy_per_language(tiny_teacher_dir, tmp_path):
    from tests.conftest import make_parallel_frame

    frame = make_parallel_frame()
    frame.loc[frame.index % 5 == 0, "split"] = "dev"
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    sets = tiny_overrides(
        tiny_teacher_dir, path, **{"train.eval_every": 2, "train.epochs": 1, "baseline": "false"}
    )
    args = ["train", "--runs-dir", str(tmp_path / "runs"), "--quiet"] + [
        x for s in sets for x in ("--set", s)
    ]
    assert main(args) == 0
    metrics = next((tmp_path / "runs").glob("*/metrics.jsonl")).read_text().splitlines()
    records = [json.loads(line) for line in metrics]
    assert all(r["kind"] in ("train", "eval", "alignment") for r in records)
    evals = [r for r in records if r["kind"] == "eval"]
    assert evals and all(set(r["accuracy"]) == {"en", "it"} for r in evals)
    assert all(0 <= v <= 1 for r in evals for v in r["accuracy"].values())
    trains = [r for r in records if r["kind"] == "train"]
    assert trains and all("accuracy" not in r and "loss" not in r["terms"] for r in trains)
    assert all(set(r["terms"]) == {"parallel_mse", "kl"} for r in trains if r["phase"] == "student")
    assert [r["step"] for r in evals] == list(range(2, 2 * len(evals) + 1, 2))


def test_resume_falls_back_to_the_previous_checkpoint_after_a_kill_mid_swap(tmp_path):
    from xkd.train.checkpoints import latest_checkpoint

    ckpt = tmp_path / "student"
    old = tmp_path / "student.old"
    old.mkdir()
    for name in ("state.json", "objective.safetensors"):
        (old / name).write_text("x")
    assert latest_checkpoint(ckpt) == old  # killed between the two renames
    ckpt.mkdir()
    (ckpt / "state.json").write_text("x")
    assert latest_checkpoint(ckpt) == old  # a half-written folder is not used
    (ckpt / "objective.safetensors").write_text("x")
    assert latest_checkpoint(ckpt) == ckpt


def test_clip_gradients_matches_torch_and_skips_the_multiply_below_the_limit():
    from accelerate import Accelerator

    from xkd.train.loop import clip_gradients

    torch.manual_seed(0)
    accelerator = Accelerator(cpu=True)
    for scale, clipped in ((0.01, False), (10.0, True)):
        params = [torch.nn.Parameter(torch.randn(5, 3)) for _ in range(3)]
        twins = [torch.nn.Parameter(p.detach().clone()) for p in params]
        for p, q in zip(params, twins, strict=True):
            p.grad = torch.randn_like(p) * scale
            q.grad = p.grad.clone()
        expect = torch.nn.utils.clip_grad_norm_(twins, 1.0)
        before = [p.grad.data_ptr() for p in params]
        norm = clip_gradients(accelerator, params, 1.0)
        assert abs(norm - float(expect)) < 1e-5 and (norm > 1.0) == clipped
        for p, q in zip(params, twins, strict=True):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-6, atol=1e-7)
        assert [p.grad.data_ptr() for p in params] == before  # in place
