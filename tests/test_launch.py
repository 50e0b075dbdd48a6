"""Launching a run in the background (xkd.runs.launch): the busy policy, the command, the demo."""

from __future__ import annotations

import os
import time

import pytest

from xkd.config import from_dict
from xkd.errors import ConfigError
from xkd.presets import preset
from xkd.runs import DeviceBusyError, DeviceLock, RunFolder, busy_message, load_run
from xkd.runs import launch as RL
from xkd.testing.runs import write_sample_run


def _cpu_demo():
    cfg = from_dict(preset("demo"))
    cfg.train.device = "cpu"
    return cfg


@pytest.fixture
def fake_launch_run(monkeypatch):
    calls = []

    def fake(config_path, run_dir, **kw):
        calls.append((config_path, run_dir, kw))
        return 4242

    monkeypatch.setattr(RL, "launch_run", fake)
    return calls


def test_launch_writes_the_config_and_starts_the_cli(tmp_path, fake_launch_run):
    launched = RL.launch(_cpu_demo(), tmp_path)
    assert launched.pid == 4242 and launched.path.parent == tmp_path.resolve()
    folder = RunFolder(launched.path)
    assert from_dict(folder.read_config()) == _cpu_demo()
    ((config_path, run_dir, kw),) = fake_launch_run
    assert config_path == folder.config_path and run_dir == launched.path
    assert kw["runs_dir"] == tmp_path.resolve()
    assert kw["extra_args"] == ["--runs-dir", str(tmp_path.resolve()), "--quiet"]
    assert str(tmp_path) not in kw["env"].get("PYTHONPATH", "")  # the package root, not runs


@pytest.mark.parametrize("holder", ["lock", "running run"])
def test_a_busy_device_is_refused_with_the_library_message(
    tmp_path, live_pid, fake_launch_run, holder
):
    lock = DeviceLock("cpu")
    if holder == "lock":
        assert lock.acquire(run_id="other")
    else:
        write_sample_run(tmp_path, state="running", pid=live_pid)
    try:
        message = busy_message(tmp_path, "cpu")
        assert message
        before = sorted(p.name for p in tmp_path.iterdir())
        with pytest.raises(DeviceBusyError) as err:
            RL.launch(_cpu_demo(), tmp_path)
        assert str(err.value) == message  # exactly the CLI's policy and words
        assert isinstance(err.value, ConfigError)
        assert sorted(p.name for p in tmp_path.iterdir()) == before  # no folder made
        assert not fake_launch_run
    finally:
        lock.release()
    cuda1 = _cpu_demo()
    cuda1.train.device = "cuda:1"
    assert RL.launch(cuda1, tmp_path).pid == 4242  # another device is free


def test_the_demo_launches_once_into_an_empty_folder(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(RL, "launch", lambda cfg, base: calls.append(cfg.name) or "launched")
    assert RL.maybe_launch_demo(tmp_path / "empty", env={}) is None
    assert RL.maybe_launch_demo(tmp_path / "empty", env={RL.DEMO_ENV: "1"}) == "launched"
    assert RL.maybe_launch_demo(tmp_path / "empty", env={RL.DEMO_ENV: "1"}) is None
    write_sample_run(tmp_path / "full")
    assert RL.maybe_launch_demo(tmp_path / "full", env={RL.DEMO_ENV: "1"}) is None
    assert calls == ["demo"]


@pytest.mark.slow
def test_launch_trains_a_tiny_run_in_a_subprocess(tmp_path, tiny_teacher_dir, tiny_csv):
    from xkd.app.form import LabForm, LossRow

    form = LabForm.from_config(preset("demo"))
    form.teacher, form.student = str(tiny_teacher_dir), "from-teacher:1"
    form.data_kind, form.data_path = "local path", str(tiny_csv)
    form.max_length, form.epochs, form.batch_size, form.device = 16, 1.0, 8, "cpu"
    form.name, form.losses = "tiny", [LossRow("kl")]
    cfg = form.to_config()
    launched = RL.launch(cfg, tmp_path)
    with pytest.raises(DeviceBusyError, match="one run per device|busy"):
        RL.launch(cfg, tmp_path)
    deadline = time.time() + 120
    while time.time() < deadline and load_run(launched.path).active:
        time.sleep(0.5)
    run = load_run(launched.path)
    log = (launched.path / "logs" / "process.log").read_text(errors="replace")
    assert run.state == "finished", log[-3000:]
    assert run.headline is not None and run.headline.student_target_accuracy is not None
    assert os.path.isdir(launched.path / "student")
