"""Several processes: the Lab's torchrun and accelerate commands, run on two CPU processes.

The launches train tiny dropout-free models, so two processes that split every batch must give
the single-process run's losses (each record within 1e-4: only the order of float sums
differs) and its accuracies (each language within one example).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import make_parallel_frame, tiny_overrides

from xkd.train.loop import local_part
from xkd.train.processes import Processes, launched

BIN = Path(sys.executable).parent


def test_local_part_splits_a_batch_and_weights_it_to_the_batch_mean():
    batch = [3, 1, 4, 1, 5, 9, 2]
    parts = [local_part(batch, Processes(rank=r, world_size=2)) for r in (0, 1)]
    assert [p for p, _ in parts] == [[3, 4, 5, 2], [1, 1, 9]]
    # DDP averages the processes' gradients: the mean of (weight x local mean) is the batch mean
    weighted = [w * sum(p) / len(p) for p, w in parts]
    assert sum(weighted) / 2 == pytest.approx(sum(batch) / len(batch))
    assert local_part([5], Processes(rank=1, world_size=2)) == ([5], 0.0)  # nothing left: weight 0
    assert local_part(batch, Processes()) == (batch, 1.0)


def test_launched_reads_the_launcher_environment(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert launched() == Processes(rank=3, world_size=4, local_rank=1)
    assert not launched().is_main
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert launched() == Processes() and Processes().is_main


@pytest.fixture(scope="module")
def dropout_free_teacher(tmp_path_factory):
    from xkd.testing.models import tiny_model

    frame = make_parallel_frame()
    model = tiny_model(labels=None, texts=frame["text"].tolist(), layers=2, hidden=32, seed=0)
    path = tmp_path_factory.mktemp("models") / "teacher"
    model.save_pretrained(path)
    config = json.loads((path / "config.json").read_text())
    config |= {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    (path / "config.json").write_text(json.dumps(config))
    return path


def _commands(teacher, data, **extra):
    from xkd.app.commands import commands
    from xkd.cli import build_config

    # fp32: a CPU with native bf16 would train under bf16 autocast (train.mixed_precision=auto),
    # whose rounding differs between one process's batch and two halves by more than the
    # tolerance below, which is fp32's
    extra = {"train.mixed_precision": "no", **extra}
    cfg = build_config(None, "demo", tiny_overrides(teacher, data, **extra))
    return commands(cfg, processes=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _argv(command: str, runs: Path, *more: str) -> list[str]:
    argv = shlex.split(command)
    if argv[0] == "xkd":
        argv = [sys.executable, "-m", "xkd.cli", *argv[1:]]
    else:
        argv[0] = str(BIN / argv[0])
    return [*argv, "--runs-dir", str(runs), "--quiet", *more]


def _env() -> dict:
    return {**os.environ, "PET_MASTER_PORT": str(_free_port()), "OMP_NUM_THREADS": "1"}


def _run(argv: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def _only_run(runs: Path) -> Path:
    folders = [p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(folders) == 1, folders  # one run folder for the whole launch
    return folders[0]


def _train_losses(run: Path) -> list[tuple]:
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["phase"], r["step"], r["loss"]) for r in records if r["kind"] == "train"]


def _accuracy(run: Path) -> dict:
    languages = json.loads((run / "eval.json").read_text())["languages"]
    return {
        (lang, model): row[model]["accuracy"]
        for lang, row in languages.items()
        for model in ("teacher", "student", "baseline")
    }


def _same_metrics(a: Path, b: Path, n_eval: int, *, tol: float = 5e-4) -> None:
    """Two runs took the same steps with the same losses, up to fp32 reordering: a split batch
    sums its gradients in another order, and Adam's normalised steps carry that on (CI saw
    drifts of 1.0e-4 to 1.6e-4 by step 6 on losses of 1 to 2)."""
    la, lb = _train_losses(a), _train_losses(b)
    assert [x[:2] for x in la] == [x[:2] for x in lb]  # the same steps: each batch was split
    for x, y in zip(la, lb, strict=True):
        assert x[2] == pytest.approx(y[2], abs=tol), (x, y)
    acc_a, acc_b = _accuracy(a), _accuracy(b)
    assert acc_a.keys() == acc_b.keys()
    for key, value in acc_a.items():
        assert abs(value - acc_b[key]) <= 1 / n_eval + 1e-9, key


@pytest.mark.slow
def test_two_processes_match_one_and_write_one_run_folder(tmp_path, tiny_csv, dropout_free_teacher):
    cmds = _commands(dropout_free_teacher, tiny_csv)
    _run(_argv(cmds["xkd"], tmp_path / "one"))
    single = _only_run(tmp_path / "one")
    n_eval = int((make_parallel_frame().query("split == 'test' and language == 'en'")).shape[0])
    for launcher in ("torchrun", "accelerate"):
        runs = tmp_path / launcher
        out = _run(_argv(cmds[launcher], runs))
        run = _only_run(runs)
        assert out.stdout.count(str(run)) == 2  # printed once (start, end), by the main process
        status = json.loads((run / "status.json").read_text())
        assert status["state"] == "finished"
        env = json.loads((run / "env.json").read_text())
        assert env["processes"]["world_size"] == 2 and env["processes"]["backend"] == "gloo"
        for model in ("student", "baseline", "teacher"):
            assert (run / model / "config.json").exists()
        _same_metrics(single, run, n_eval)
    assert json.loads((single / "env.json").read_text())["processes"] == {"world_size": 1}


def _wait_for_step(run_parent: Path, phase: str, step: int, proc, timeout: float = 300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        for status in run_parent.glob("*/status.json"):
            try:
                s = json.loads(status.read_text())
            except json.JSONDecodeError:
                continue
            if s.get("phase") == phase and (s.get("step") or 0) >= step:
                return status.parent, s
        time.sleep(0.2)
    raise AssertionError(f"no {phase} step {step} within {timeout} s")


@pytest.mark.slow
def test_a_stopped_two_process_run_resumes_under_the_same_launch(
    tmp_path, tiny_csv, dropout_free_teacher
):
    """SIGTERM to the main process stops both at the same step (checkpoint saved); the same
    launch with ``--resume`` finishes it, with the uninterrupted launch's results."""
    cmds = _commands(dropout_free_teacher, tiny_csv, **{"train.epochs": 12})
    whole = tmp_path / "whole"
    _run(_argv(cmds["torchrun"], whole))
    runs = tmp_path / "stopped"
    proc = subprocess.Popen(
        _argv(cmds["torchrun"], runs), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env()
    )
    run, status = _wait_for_step(runs, "student", 3, proc)
    os.kill(status["pid"], signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-4000:]
    stopped = json.loads((run / "status.json").read_text())
    assert stopped["state"] == "stopped", stopped
    assert (run / "checkpoints" / "student" / "state.json").exists()
    argv = _argv(cmds["torchrun"], runs)
    resume = [*argv[: argv.index("train") + 1], "--resume", str(run), "--runs-dir", str(runs)]
    _run(resume)
    assert json.loads((run / "status.json").read_text())["state"] == "finished"
    assert json.loads((run / "env.json").read_text())["processes"]["world_size"] == 2
    done = _train_losses(run)
    final = {(p, s): loss for p, s, loss in done}
    for phase, step, loss in _train_losses(_only_run(whole)):
        assert final[(phase, step)] == pytest.approx(loss, abs=1e-4), (phase, step)
