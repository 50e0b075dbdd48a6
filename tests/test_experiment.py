"""The experiment as a library call: steps, typed state, the one stop signal, the device lock."""

from __future__ import annotations

import threading

import pytest

import xkd
from tests.conftest import tiny_overrides
from xkd.experiment import Experiment, RunResult
from xkd.runs import DeviceBusyError, DeviceLock, RunFolder, load_run, read_metrics
from xkd.runs.schema import Headline
from xkd.train.callbacks import Callback, StopFlag


def _config(teacher_dir, data_path, **extra) -> dict:
    from xkd import config as C
    from xkd.presets import preset

    data = preset("demo")
    for assignment in tiny_overrides(teacher_dir, data_path, **extra):
        C.set_key(data, assignment)
    return data


class Phases(Callback):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_phase(self, phase, total_steps):
        if not self.seen or self.seen[-1] != phase:
            self.seen.append(phase)


def test_experiment_run_returns_result_with_the_evaluators_headline(
    tiny_teacher_dir, tiny_csv, tmp_path
):
    phases = Phases()
    result = xkd.distill(
        _config(tiny_teacher_dir, tiny_csv), runs_dir=tmp_path / "runs", callbacks=[phases]
    )
    assert isinstance(result, RunResult) and result.state == "finished" and not result.stopped
    assert phases.seen == ["data", "teacher", "baseline", "student", "eval"]
    saved = RunFolder(result.run_dir).read_eval()
    assert saved["format"] == 2
    assert result.headline == Headline.from_dict(saved["headline"])
    assert result.headline.kd_gain == pytest.approx(
        result.headline.student_target_accuracy - result.headline.baseline_target_accuracy
    )
    run = load_run(result.run_dir)
    assert run.headline == result.headline and not run.older_format
    assert {r["kind"] for r in read_metrics(run.folder, "train")} == {"train"}
    for role in ("teacher", "student", "baseline"):
        assert run.folder.model_dir(role).is_dir()
    assert run.folder.teacher_cache_path.is_file()


def test_steps_fill_the_typed_state_in_order(tiny_teacher_dir, tiny_csv, tmp_path):
    exp = Experiment(_config(tiny_teacher_dir, tiny_csv, baseline="false"), run_dir=tmp_path / "r")
    exp.load_data()
    assert exp.state.targets == ["it"] and exp.state.teacher is None
    exp.load_teacher()
    exp.fine_tune_teacher()  # the demo recipe keeps the teacher frozen: nothing to do
    assert exp.state.teacher.head is None
    exp.build_student()
    exp.build_losses()
    exp.cache_teacher()
    assert exp.state.cache.encoded_texts > 0
    exp.fit_teacher_head()
    assert exp.state.teacher.head is not None and exp.state.baseline_init is None
    # a from-teacher student gets the head fitted for the teacher
    assert exp.state.student.head.weight.equal(exp.state.teacher.head.weight)


def test_a_stop_request_ends_as_stopped(tiny_teacher_dir, tiny_csv, tmp_path):
    stop = StopFlag()
    stop.requested = True
    result = Experiment(
        _config(tiny_teacher_dir, tiny_csv), run_dir=tmp_path / "r", callbacks=[stop]
    ).run()
    assert result.state == "stopped" and result.stopped and result.headline is None
    assert RunFolder(tmp_path / "r").read_status()["state"] == "stopped"


def test_library_refuses_a_busy_device_like_the_cli(tiny_teacher_dir, tiny_csv, tmp_path):
    runs = tmp_path / "runs"
    holder = DeviceLock("cpu")
    assert holder.acquire(run_id="20250101-000000-other-abcd")
    try:
        with pytest.raises(DeviceBusyError, match="20250101-000000-other-abcd.*--wait"):
            xkd.distill(_config(tiny_teacher_dir, tiny_csv), runs_dir=runs)
    finally:
        holder.release()
    (run,) = xkd.list_runs(runs)
    assert run.state == "failed" and "busy" in run.error
    assert not run.folder.student_dir.exists()


def test_library_queues_behind_a_busy_device_with_wait(tiny_teacher_dir, tiny_csv, tmp_path):
    runs = tmp_path / "runs"
    holder = DeviceLock("cpu")
    assert holder.acquire(run_id="20250101-000000-other-abcd")
    released = threading.Event()
    started_after_release: list[bool] = []

    class First(Callback):
        def on_phase(self, phase, total_steps):
            if phase == "data":
                started_after_release.append(released.is_set())

    def release_later():
        released.wait(0.0)
        threading.Event().wait(1.0)
        released.set()
        holder.release()

    thread = threading.Thread(target=release_later)
    thread.start()
    try:
        exp = Experiment(
            _config(tiny_teacher_dir, tiny_csv, baseline="false"),
            runs_dir=runs,
            callbacks=[First()],
            wait=True,
        )
        result = exp.run()
    finally:
        thread.join()
    assert result.state == "finished"
    assert started_after_release == [True]
    assert "busy" in (exp.folder.read_status().get("note") or "")
