"""Run folders: atomic writes, status truth, metrics log, ids, listing, device lock, launch/stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from xkd.errors import ConfigError
from xkd.runs import (
    DeviceLock,
    RunFolder,
    atomic_write_json,
    atomic_write_text,
    create_run_folder,
    default_runs_dir,
    delete_run,
    is_alive,
    is_valid_run_id,
    launch_run,
    list_runs,
    new_run_id,
    safe_run_path,
    slugify,
    stop_run,
)
from xkd.runs import ids as ids_module

SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]


def _dead_pid() -> int:
    proc = subprocess.Popen(SLEEPER)
    proc.kill()
    proc.wait()
    return proc.pid


# ---------------------------------------------------------------- atomic writes


def test_atomic_writes_leave_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    big = "x" * 200_000 + "END"
    atomic_write_text(target, big)
    atomic_write_text(target, big + "2")
    assert target.read_text() == big + "2"
    atomic_write_json(tmp_path / "b.json", {"a": [1, 2], "p": Path("q")})
    assert json.loads((tmp_path / "b.json").read_text()) == {"a": [1, 2], "p": "q"}
    names = sorted(p.name for p in tmp_path.rglob("*"))
    assert names == ["a.txt", "b.json", "sub"]


def test_atomic_write_failure_keeps_old_file(tmp_path):
    target = tmp_path / "c.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"v": object()})
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]


# ------------------------------------------------------------------------ status


def test_status_merge_and_timestamps(tmp_path):
    rf = RunFolder(tmp_path / "r")
    assert rf.read_status() == {}
    rf.write_status("queued", total_steps=10)
    s = rf.write_status("running", step=3, phase="student")
    assert s["state"] == "running" and s["step"] == 3 and s["total_steps"] == 10
    assert s["started"] and s["updated"].endswith("+00:00")
    s2 = rf.write_status(None, step=4)
    assert s2["state"] == "running" and s2["started"] == s["started"]
    assert rf.read_status()["step"] == 4
    with pytest.raises(ValueError):
        rf.write_status("exploded")


def test_status_truth_dead_pid_is_interrupted(tmp_path):
    rf = RunFolder(tmp_path / "r")
    proc = subprocess.Popen(SLEEPER)
    try:
        rf.write_status("running", pid=proc.pid, step=5)
        assert rf.read_status()["state"] == "running"
        assert is_alive(rf.read_status())
    finally:
        proc.kill()
        proc.wait()
    status = rf.read_status()
    assert status["state"] == "interrupted"
    assert "pid" in status["error"]
    # the correction is written back to disk
    assert json.loads(rf.status_path.read_text())["state"] == "interrupted"


def test_status_truth_detects_reused_pid(tmp_path):
    rf = RunFolder(tmp_path / "r")
    # our own pid is alive, but the recorded start time belongs to another process
    rf.write_status("running", pid=os.getpid(), pid_create_time=12345.0)
    assert rf.read_status()["state"] == "interrupted"
    rf2 = RunFolder(tmp_path / "r2")
    rf2.write_status("running", pid=os.getpid())
    assert rf2.read_status()["state"] == "running"


def test_finished_status_is_not_rewritten(tmp_path):
    rf = RunFolder(tmp_path / "r")
    rf.write_status("finished", pid=_dead_pid())
    assert rf.read_status()["state"] == "finished"


# ----------------------------------------------------------------------- metrics


def test_metrics_torn_line_ignored(tmp_path):
    rf = RunFolder(tmp_path / "r")
    rf.append_metrics({"step": 1, "loss": 0.5})
    rf.append_metrics({"step": 2, "loss": 0.4})
    with open(rf.metrics_path, "a") as fh:
        fh.write('{"step": 3, "lo')  # killed mid-line
    assert [r["step"] for r in rf.read_metrics()] == [1, 2]
    rf.append_metrics({"step": 3, "loss": 0.3})  # a resumed run keeps appending
    assert [r["step"] for r in rf.read_metrics()] == [1, 2, 3]
    assert RunFolder(tmp_path / "none").read_metrics() == []


def test_eval_and_config_roundtrip(tmp_path):
    rf = RunFolder(tmp_path / "r")
    assert rf.read_eval() is None
    with pytest.raises(ValueError, match="headline"):
        rf.write_eval({"languages": {"en": {"n": 3}}})
    with pytest.raises(ValueError, match="unknown eval.json field.*summary"):
        rf.write_eval({"headline": {}, "summary": {}})
    with pytest.raises(ValueError, match="unknown headline field"):
        rf.write_eval({"headline": {"kd_gainz": 0.1}})
    rf.write_eval({"languages": {"en": {"n": 3}}, "headline": {"kd_gain": 0.1}})
    assert rf.read_eval() == {
        "format": 2,
        "languages": {"en": {"n": 3}},
        "headline": {"kd_gain": 0.1},
    }
    with pytest.raises(ValueError, match="unknown status.json field"):
        rf.write_status("running", stepz=3)
    rf.write_config({"name": "x", "data": {"path": "demo"}})
    assert rf.read_config()["data"]["path"] == "demo"
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        rf.log_exception()
    assert "RuntimeError: boom" in rf.log_path.read_text()


def test_env_json_has_no_secrets(tmp_path, monkeypatch):
    secret = "hf_supersecretvalue123"
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.setenv("XKD_API_KEY", "another-secret-456")
    monkeypatch.setenv("HF_HOME", "/tmp/hf-home")
    rf = RunFolder(tmp_path / "r")
    env = rf.write_env(extra={"note": f"token={secret}", "wandb_key": "k", "device": "cpu"})
    text = rf.env_path.read_text()
    assert secret not in text and "another-secret-456" not in text
    assert "HF_TOKEN" not in text and "wandb_key" not in text
    assert env["environment"]["HF_HOME"] == "/tmp/hf-home"
    assert env["device"] == "cpu" and env["note"] == "<redacted>"
    assert env["python"] == sys.version.split()[0] and env["cpu_count"] == os.cpu_count()
    assert "numpy" in env["packages"] and "tokenizers" in env["packages"]


# ---------------------------------------------------------------------------- ids


def test_slugify():
    assert slugify("My Run: KD/sw 2!") == "my-run-kd-sw-2"
    assert slugify(None) == "run" and slugify("***") == "run"
    long = slugify("a" * 30 + " " + "b" * 30)
    assert len(long) <= 40 and not long.endswith("-")


def test_run_ids_unique_and_valid(tmp_path):
    made = [create_run_folder(tmp_path, "demo")[0] for _ in range(200)]
    assert len(set(made)) == 200
    assert all(is_valid_run_id(r) for r in made)
    assert len(list(tmp_path.iterdir())) == 200
    rid = new_run_id("Hello World")
    assert is_valid_run_id(rid) and "-hello-world-" in rid


def test_run_id_forced_collisions(tmp_path, monkeypatch):
    suffixes = iter(["aaaa", "aaaa", "aaaa", "bbbb", "cccc"])
    monkeypatch.setattr(ids_module, "_random_suffix", lambda: next(suffixes))
    fixed = ids_module.datetime(2025, 1, 2, 3, 4, 5, tzinfo=ids_module.timezone.utc)

    class FrozenDatetime(ids_module.datetime):
        @classmethod
        def now(cls, tz=None):
            return fixed

    monkeypatch.setattr(ids_module, "datetime", FrozenDatetime)
    first, _ = create_run_folder(tmp_path, "x")
    second, _ = create_run_folder(tmp_path, "x")  # two collisions, then bbbb
    assert first == "20250102-030405-x-aaaa"
    assert second == "20250102-030405-x-bbbb"
    monkeypatch.setattr(ids_module, "_random_suffix", lambda: "aaaa")
    with pytest.raises(ConfigError, match="unique"):
        create_run_folder(tmp_path, "x", max_tries=3)


@pytest.mark.parametrize(
    "bad", ["../x", "/etc", "a/b", "a\\b", "..", "20250101-000000-x-abcd/..", "x", ""]
)
def test_safe_run_path_refuses(tmp_path, bad):
    with pytest.raises(ConfigError):
        safe_run_path(tmp_path, bad)


def test_safe_run_path_ok_and_symlink_escape(tmp_path):
    rid = "20250101-000000-ok-abcd"
    assert safe_run_path(tmp_path, rid) == (tmp_path / rid).resolve()
    outside = tmp_path / "outside"
    outside.mkdir()
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "20250101-000000-link-abcd").symlink_to(outside)
    with pytest.raises(ConfigError, match="outside"):
        safe_run_path(runs, "20250101-000000-link-abcd")


# ----------------------------------------------------------------------- registry


def _make_run(runs, run_id, *, state="finished", config=None, result=None, pid=None):
    rf = RunFolder(runs / run_id)
    rf.ensure()
    rf.write_status(state, step=10, total_steps=10, pid=pid)
    if config is not None:
        rf.config_path.write_text(yaml.safe_dump(config))
    if result is not None:  # written as an older xkd did (no format, no headline)
        atomic_write_json(rf.eval_path, result)
    return rf


def test_list_runs_and_table(tmp_path):
    runs = tmp_path / "runs"
    cfg = {
        "name": "kd sw",
        "teacher": "minilm",
        "student": "from-teacher:3",
        "data": {"path": "demo", "source_language": "en", "target_languages": ["sw", "yo"]},
    }
    result = {
        "source_language": "en",
        "languages": {
            "en": {"n": 4, "teacher": {"accuracy": 0.9}, "student": {"accuracy": 0.8}},
            "sw": {"n": 4, "student": {"accuracy": 0.6}, "baseline": {"accuracy": 0.4}},
            "yo": {"n": 4, "student": {"accuracy": 0.5}, "baseline": {"accuracy": 0.2}},
        },
    }
    _make_run(runs, "20250101-000000-old-aaaa", config=cfg, result=result)
    _make_run(runs, "20250301-000000-new-bbbb", state="running", pid=_dead_pid())
    (runs / "20250201-000000-broken-cccc").mkdir()
    (runs / "20250201-000000-broken-cccc" / "config.yaml").write_text("{: not yaml")
    (runs / ".locks").mkdir()
    (runs / "notes.txt").write_text("ignored")

    infos = list_runs(runs)
    assert [i.run_id for i in infos] == [
        "20250301-000000-new-bbbb",
        "20250201-000000-broken-cccc",
        "20250101-000000-old-aaaa",
    ]
    newest, broken, old = infos
    assert newest.state == "interrupted"
    assert broken.state is None and broken.teacher is None
    assert old.state == "finished" and old.step == 10 and old.total_steps == 10
    assert (old.name, old.teacher, old.student) == ("kd sw", "minilm", "from-teacher:3")
    assert (old.data_path, old.source_language, old.target_languages) == (
        "demo",
        "en",
        ["sw", "yo"],
    )
    assert old.format == 1 and old.older_format  # read, and said to be from an older xkd
    head = old.headline  # computed by the evaluator's own Headline.compute for old folders
    assert head.student_target_accuracy == pytest.approx(0.55)
    assert head.baseline_target_accuracy == pytest.approx(0.3)
    assert head.kd_gain == pytest.approx(0.25)
    assert head.teacher_source_accuracy == pytest.approx(0.9)
    assert head.student_source_accuracy == pytest.approx(0.8)
    assert newest.headline is None and not newest.active

    rows = [r.as_dict() for r in infos]
    assert rows[2]["target_languages"] == ["sw", "yo"]
    assert rows[2]["headline"]["kd_gain"] == pytest.approx(0.25)
    assert list_runs(tmp_path / "missing") == []


def test_xkd_runs_table_fits_100_columns(tmp_path, capsys):
    from xkd.cli import main

    runs = tmp_path / "runs"
    cfg = {
        "teacher": "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
        "student": "from-teacher:3",
        "data": {
            "path": str(tmp_path / "a" / "very" / "long" / "data.csv"),
            "source_language": "en",
        },
    }
    result = {
        "source_language": "en",
        "languages": {
            "en": {"n": 4, "teacher": {"accuracy": 0.9}, "student": {"accuracy": 0.8}},
            "sw": {"n": 4, "student": {"accuracy": 0.6}, "baseline": {"accuracy": None}},
        },
    }
    _make_run(runs, "20250101-000000-a-long-run-name-aaaa", config=cfg, result=result)
    _make_run(runs, "20250102-000000-b-bbbb", state="failed")
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    assert all(len(line) <= 100 for line in out.splitlines()), out
    assert "None" not in out and str(tmp_path) not in out and "nan" not in out
    assert "60.0" in out and "failed" in out
    assert main(["runs", "--runs-dir", str(runs), "--paths"]) == 0
    assert str(runs) in capsys.readouterr().out
    assert main(["runs", "--runs-dir", str(runs), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[1]["data_path"] == cfg["data"]["path"] and listed[1]["path"]


def test_default_runs_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("XKD_RUNS_DIR", raising=False)
    assert default_runs_dir() == Path("runs")
    monkeypatch.setenv("XKD_RUNS_DIR", str(tmp_path))
    assert default_runs_dir() == tmp_path


def test_delete_run(tmp_path):
    runs = tmp_path / "runs"
    _make_run(runs, "20250101-000000-done-aaaa")
    proc = subprocess.Popen(SLEEPER)
    try:
        _make_run(runs, "20250101-000000-live-bbbb", state="running", pid=proc.pid)
        with pytest.raises(ConfigError, match="running"):
            delete_run(runs, "20250101-000000-live-bbbb")
    finally:
        proc.kill()
        proc.wait()
    delete_run(runs, "20250101-000000-done-aaaa")
    assert not (runs / "20250101-000000-done-aaaa").exists()
    with pytest.raises(ConfigError):
        delete_run(runs, "../runs")
    with pytest.raises(ConfigError, match="no run"):
        delete_run(runs, "20250101-000000-gone-cccc")


# -------------------------------------------------------------------- device lock


def test_device_lock_exclusive(tmp_path):
    first = DeviceLock("cuda:0", directory=tmp_path)
    second = DeviceLock("cuda:0", directory=tmp_path)
    other = DeviceLock("cpu", directory=tmp_path)
    assert second.holder() is None
    assert first.acquire(run_id="20250101-000000-a-aaaa")
    assert not second.acquire(run_id="20250101-000000-b-bbbb")
    assert other.acquire()
    who = second.holder()
    assert who["pid"] == os.getpid() and who["run_id"] == "20250101-000000-a-aaaa"
    assert second.is_locked()
    with pytest.raises(ConfigError, match="busy"), second:
        pass
    first.release()
    assert second.holder() is None
    assert second.acquire()
    second.release()
    other.release()


def test_device_lock_other_process(tmp_path):
    code = (
        "import sys, time; from xkd.runs import DeviceLock; "
        f"l = DeviceLock('cpu', directory={str(tmp_path)!r}); "
        "print(l.acquire(run_id='20250101-000000-p-aaaa'), flush=True); time.sleep(30)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "True"
        lock = DeviceLock("cpu", directory=tmp_path)
        assert not lock.acquire()
        assert lock.holder()["pid"] == proc.pid
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    # the OS released the dead holder's lock
    assert lock.holder() is None
    assert lock.acquire()
    lock.release()


# ---------------------------------------------------------------- launch and stop


def _wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_default_command_uses_cli():
    from xkd.runs import default_command

    cmd = default_command("c.yaml", "runs/x")
    assert cmd[:4] == [sys.executable, "-m", "xkd.cli", "train"]
    assert cmd[4:] == ["--config", "c.yaml", "--run-dir", "runs/x"]


def test_launch_and_stop_with_sigterm(tmp_path):
    runs = tmp_path / "runs"
    run_id, run_dir = create_run_folder(runs, "launch")
    cmd = [
        sys.executable,
        "-u",
        "-c",
        "import sys, time; print('hello', sys.argv[1:]); time.sleep(30)",
    ]
    pid = launch_run("cfg.yaml", run_dir, runs_dir=runs, command=cmd, extra_args=["--x"])
    rf = RunFolder(run_dir)
    status = rf.read_status()
    assert status["state"] == "queued" and status["pid"] == pid and is_alive(status)
    assert _wait_for(lambda: "hello ['--x']" in rf.process_log_path.read_text())
    final = stop_run(run_dir, timeout=5)
    assert final["state"] == "stopped"
    assert not is_alive(final)
    assert rf.read_status()["state"] == "stopped"
    assert stop_run(run_dir)["state"] == "stopped"  # stopping again is harmless


def test_stop_escalates_to_sigkill(tmp_path):
    runs = tmp_path / "runs"
    _, run_dir = create_run_folder(runs, "stubborn")
    code = (
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('rea' + 'dy', flush=True); time.sleep(30)"  # the log also holds the command
    )
    launch_run("cfg.yaml", run_dir, runs_dir=runs, command=[sys.executable, "-c", code])
    rf = RunFolder(run_dir)
    assert _wait_for(lambda: "\nready" in rf.process_log_path.read_text())
    t0 = time.monotonic()
    final = stop_run(run_dir, timeout=0.5)
    assert time.monotonic() - t0 < 5
    assert final["state"] == "stopped" and "killed" in final["note"]


def test_trainer_written_stopped_is_kept(tmp_path):
    runs = tmp_path / "runs"
    _, run_dir = create_run_folder(runs, "graceful")
    code = (
        "import signal, sys, time; from xkd.runs import RunFolder; "
        "rf = RunFolder(sys.argv[1]); "
        "signal.signal(signal.SIGTERM, lambda *a: (rf.write_status('stopped', step=7), sys.exit(0))); "
        "rf.write_status('running', pid=__import__('os').getpid(), step=1); time.sleep(30)"
    )
    launch_run(
        "cfg.yaml", run_dir, runs_dir=runs, command=[sys.executable, "-c", code, str(run_dir)]
    )
    rf = RunFolder(run_dir)
    assert _wait_for(lambda: rf.read_status().get("state") == "running")
    final = stop_run(run_dir, timeout=5)
    assert final["state"] == "stopped" and final["step"] == 7 and "note" not in final


def test_launch_refuses_run_dir_outside_runs(tmp_path):
    with pytest.raises(ConfigError, match="not directly inside"):
        launch_run("c.yaml", tmp_path / "elsewhere", runs_dir=tmp_path / "runs", command=SLEEPER)


def test_read_status_truth_when_folder_is_read_only(tmp_path, monkeypatch):
    import xkd.runs.folder as folder_module

    rf = RunFolder(tmp_path / "r")
    rf.write_status("running", pid=_dead_pid())

    def refuse(*args, **kwargs):
        raise PermissionError("read-only")

    monkeypatch.setattr(folder_module, "atomic_write_json", refuse)
    assert rf.read_status()["state"] == "interrupted"
    assert json.loads(rf.status_path.read_text())["state"] == "running"


# ------------------------------------------------------------------ metrics records


def test_metrics_records_are_read_by_kind_old_and_new(tmp_path):
    from xkd.runs import read_metrics

    rf = RunFolder(tmp_path / "r")
    # format 1 (no kind): flat loss terms, and dev accuracy as eval_<lang>_accuracy
    rf.append_metrics(
        {"phase": "student", "step": 1, "epoch": 0.1, "loss": 2.0, "kl": 1.5, "lr": 1e-4}
    )
    rf.append_metrics(
        {"phase": "student", "step": 2, "eval_en_accuracy": 0.5, "eval_it_accuracy": 0.4}
    )
    # format 2
    rf.append_metrics(
        {
            "kind": "train",
            "phase": "student",
            "step": 3,
            "epoch": 0.3,
            "loss": 1.0,
            "lr": 1e-4,
            "terms": {"kl": 0.9},
        }
    )
    rf.append_metrics(
        {"kind": "eval", "phase": "student", "step": 4, "epoch": 0.4, "accuracy": {"en": 0.6}}
    )
    rf.append_metrics({"kind": "alignment", "phase": "student", "step": 4})  # a later feature's
    train = read_metrics(rf, "train")
    assert [r["step"] for r in train] == [1, 3]
    assert train[0]["terms"] == {"kl": 1.5} and train[1]["terms"] == {"kl": 0.9}
    assert all("eval_en_accuracy" not in r["terms"] for r in train)  # dev accuracy is no loss term
    evals = read_metrics(tmp_path / "r", "eval")
    assert [r["accuracy"] for r in evals] == [{"en": 0.5, "it": 0.4}, {"en": 0.6}]
    with pytest.raises(ValueError, match="unknown metrics kind"):
        read_metrics(rf, "losses")


def test_a_run_folder_of_the_previous_format_still_opens(tmp_path, capsys):
    """A real `xkd train --preset demo` folder written before the typed contract (format 1)."""
    import shutil

    from xkd.cli import main
    from xkd.runs import load_run, read_metrics

    src = Path(__file__).parent / "data" / "format1-runs"
    runs = tmp_path / "runs"
    shutil.copytree(src, runs, ignore=shutil.ignore_patterns("README.md"))
    (run,) = list_runs(runs)
    assert run.state == "finished" and run.older_format and run.format == 1
    old = run.eval["summary"]
    head = run.headline  # recomputed from the per-language scores by Headline.compute
    for key in ("student_target_accuracy", "baseline_target_accuracy", "kd_gain", "source_kept"):
        assert getattr(head, key) == pytest.approx(old[key]), key
    assert head.targets_above_prior == old["targets_above_prior"] == 6
    train = read_metrics(run.folder, "train")
    assert train and set(train[-1]["terms"]) == {"parallel_mse", "kl"}
    assert {r["phase"] for r in train} == {"baseline", "student"}
    assert load_run(run.path).labels == run.eval["labels"]
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "finished (old)" in out and "+52.0" in out


def test_a_lock_taken_an_instant_ago_still_gets_a_message_that_says_what_to_do(tmp_path):
    """Between another process's flock and its writing who it is, the holder reads as nobody."""
    from xkd.runs import DeviceBusyError, acquire_device

    other = DeviceLock("cpu")  # the machine's lock folder (per test: XKD_LOCK_DIR)
    assert other.acquire(run_id="20250101-000000-other-abcd")
    other.path.write_text("")  # the holder has the lock but has not written its record yet
    with pytest.raises(DeviceBusyError, match="busy.*--wait"):
        acquire_device(tmp_path, "cpu", run_id="20250101-000000-mine-abcd")
    other.release()


def test_the_device_lock_is_machine_wide_across_runs_folders(tmp_path, machine_lock_dir):
    """Two runs folders, one device: the second run is refused, or queues with wait=True and
    starts when the first releases the device."""
    import threading

    from xkd.runs import DeviceBusyError, acquire_device
    from xkd.runs.lock import lock_dir

    assert lock_dir() == machine_lock_dir
    first = acquire_device(tmp_path / "alice-runs", "cpu", run_id="20250101-000000-a-aaaa")
    with pytest.raises(DeviceBusyError, match="20250101-000000-a-aaaa"):
        acquire_device(tmp_path / "bob-runs", "cpu", run_id="20250101-000000-b-bbbb")
    queued: list[str] = []
    threading.Timer(0.5, first.release).start()
    second = acquire_device(
        tmp_path / "bob-runs",
        "cpu",
        run_id="20250101-000000-b-bbbb",
        wait=True,
        on_queued=queued.append,
        poll_s=0.05,
    )
    assert second.held and not first.held
    assert queued and "20250101-000000-a-aaaa" in queued[0]
    assert DeviceLock("cpu").holder()["run_id"] == "20250101-000000-b-bbbb"
    second.release()


def test_the_default_lock_folder_is_shared_by_the_machine(monkeypatch, tmp_path):
    import stat
    import tempfile

    from xkd.runs.lock import LOCK_DIR_ENV, lock_dir

    monkeypatch.delenv(LOCK_DIR_ENV)
    assert lock_dir() == Path(tempfile.gettempdir()) / "xkd-device-locks"
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    lock = DeviceLock("cuda:7")
    assert lock.path.parent == tmp_path / "xkd-device-locks"
    assert lock.acquire()
    assert stat.S_IMODE(lock.path.parent.stat().st_mode) == 0o1777
    assert stat.S_IMODE(lock.path.stat().st_mode) == 0o666
    lock.release()
    assert DeviceLock("cuda:7").acquire()  # an existing file opens without O_CREAT
