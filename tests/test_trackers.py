"""``train.report_to``: metrics mirrored to experiment trackers through Accelerate's tracker API;
the run folder stays the source of truth."""

from __future__ import annotations

import pytest

from tests.conftest import tiny_overrides
from xkd import config as C
from xkd.errors import ConfigError
from xkd.experiment import Experiment
from xkd.experiment import trackers as T
from xkd.experiment.progress import RunWriter
from xkd.runs import RunFolder, read_metrics
from xkd.train.callbacks import Callback, CallbackList, StopFlag


def _config(teacher_dir, data_path, **extra) -> dict:
    from xkd.presets import preset

    data = preset("demo")
    sets = {"train.mixed_precision": "no", **extra}
    for assignment in tiny_overrides(teacher_dir, data_path, **sets):
        C.set_key(data, assignment)
    return data


def _scalars(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return acc


def test_tensorboard_gets_the_same_numbers_as_metrics_jsonl(tiny_teacher_dir, tiny_csv, tmp_path):
    cfg = _config(tiny_teacher_dir, tiny_csv, **{"train.report_to": "tensorboard"})
    result = Experiment(cfg, run_dir=tmp_path / "r").run()
    assert result.state == "finished"
    folder = RunFolder(result.run_dir)
    acc = _scalars(folder.path / "trackers" / "tensorboard" / folder.run_id)
    tags = set(acc.Tags()["scalars"])

    train = read_metrics(folder, "train")
    for phase in ("baseline", "student"):
        records = [r for r in train if r["phase"] == phase]
        assert records, phase
        events = acc.Scalars(f"train/{phase}/loss")
        assert [e.step for e in events] == [r["step"] for r in records]
        assert [e.value for e in events] == pytest.approx([r["loss"] for r in records], rel=1e-6)
    student = [r for r in train if r["phase"] == "student"]
    for term in student[0]["terms"]:  # the demo recipe: parallel_mse and kl
        events = acc.Scalars(f"train/student/terms/{term}")
        assert [e.value for e in events] == pytest.approx([r["terms"][term] for r in student])

    alignment = [r for r in read_metrics(folder, "alignment") if r["model"] == "student"]
    assert alignment
    events = acc.Scalars("alignment/student/it/retrieval_s2t")
    assert [e.step for e in events] == [r["step"] for r in alignment]
    assert [e.value for e in events] == pytest.approx(
        [r["languages"]["it"]["retrieval_s2t"] for r in alignment]
    )
    assert "alignment/teacher/it/retrieval_s2t" in tags
    # the run config, flattened, as hyperparameters (Accelerate also writes them as YAML)
    (hparams,) = (folder.path / "trackers" / "tensorboard").rglob("hparams.yml")
    assert "train.report_to: '[\"tensorboard\"]'" in hparams.read_text()


def test_a_stopped_run_closes_its_tracker(tiny_teacher_dir, tiny_csv, tmp_path):
    stop = StopFlag()
    stop.requested = True
    cfg = _config(tiny_teacher_dir, tiny_csv, **{"train.report_to": "tensorboard"})
    exp = Experiment(cfg, run_dir=tmp_path / "r", callbacks=[stop])
    (tracker,) = [cb for cb in exp.callbacks.callbacks if isinstance(cb, T.TrackerCallback)]
    assert exp.run().state == "stopped"
    assert tracker.tracker is None and not tracker.dead  # started, then finished
    assert list((tmp_path / "r" / "trackers" / "tensorboard").rglob("events.out.tfevents.*"))


@pytest.mark.parametrize("name", ["tensorboard", "mlflow", "wandb", "trackio"])
def test_a_missing_package_is_a_config_error_before_any_work(
    name, tiny_teacher_dir, tiny_csv, tmp_path, monkeypatch
):
    monkeypatch.setattr(T, "_installed", lambda module: False)
    seen: list[str] = []

    class Phases(Callback):
        def on_phase(self, phase, total_steps):
            seen.append(phase)

    cfg = _config(tiny_teacher_dir, tiny_csv, **{"train.report_to": f"[{name}]"})
    runs = tmp_path / "runs"
    with pytest.raises(ConfigError, match=rf"includes {name}, .*`{name}`.*pip install {name}"):
        Experiment(cfg, runs_dir=runs, callbacks=[Phases()]).run()
    assert seen == []
    assert not runs.exists() or not any(runs.iterdir())  # not even a run folder


def test_report_to_names_are_checked_and_read_from_the_command_line():
    from xkd.presets import preset

    data = preset("demo")
    assert C.from_dict(data).train.report_to == []
    with pytest.raises(ConfigError, match=r"unknown neptune; use any of tensorboard, mlflow, wan"):
        C.from_dict(C.merge(data, {"train": {"report_to": ["tensorboard", "neptune"]}}))
    C.set_key(data, "train.report_to=tensorboard,mlflow")
    assert C.from_dict(data).train.report_to == ["tensorboard", "mlflow"]
    C.set_key(data, "train.report_to=[wandb]")
    assert C.from_dict(data).train.report_to == ["wandb"]


def test_scalars_flatten_each_kind_of_record():
    train = {"kind": "train", "phase": "student", "step": 4, "epoch": 0.5, "loss": 1.5}
    train |= {"lr": 1e-4, "terms": {"kl": 0.25}}
    assert T.scalars(train) == {
        "train/student/epoch": 0.5,
        "train/student/loss": 1.5,
        "train/student/lr": 1e-4,
        "train/student/terms/kl": 0.25,
    }
    ev = {"kind": "eval", "phase": "student", "step": 4, "accuracy": {"de": 0.5}, "epoch": None}
    assert T.scalars(ev) == {"eval/student/accuracy/de": 0.5}
    align = {"kind": "alignment", "phase": "student", "step": 0, "model": "teacher"}
    align |= {"languages": {"de": {"retrieval_s2t": 0.75, "cka": None}}, "language_id": 0.5}
    assert T.scalars(align) == {
        "alignment/teacher/de/retrieval_s2t": 0.75,
        "alignment/teacher/language_id": 0.5,
    }


def test_an_eval_record_reaches_tensorboard_at_its_step(tmp_path):
    folder = RunFolder(tmp_path / "r")
    folder.path.mkdir()
    tracker = T.TrackerCallback("tensorboard", folder, {"train.lr": 1e-4, "name": None})
    callbacks = CallbackList([RunWriter(folder), tracker])
    callbacks.on_phase("student", 10)
    for step, acc in ((5, 0.5), (10, 0.75)):
        record = {"kind": "eval", "phase": "student", "step": step, "accuracy": {"de": acc}}
        callbacks.on_log("student", record)
    T.close_trackers(callbacks)
    assert not tracker.dead
    events = _scalars(folder.path / "trackers" / "tensorboard" / "r").Scalars(
        "eval/student/accuracy/de"
    )
    assert [(e.step, e.value) for e in events] == [(5, 0.5), (10, 0.75)]


class _Broken:
    """A tracker that starts and then fails on every log."""

    finished = False

    def start(self):
        pass

    def store_init_configuration(self, values):
        pass

    def log(self, values, step=None):
        raise RuntimeError("tracker server went away")

    def finish(self):
        _Broken.finished = True


def test_a_failing_tracker_loses_nothing_of_the_run_folder(tmp_path, monkeypatch, capsys):
    folder = RunFolder(tmp_path / "r")
    folder.path.mkdir()
    tracker = T.TrackerCallback("tensorboard", folder, {"train.lr": 1e-4})
    monkeypatch.setattr(tracker, "_make", _Broken)
    callbacks = CallbackList([RunWriter(folder), tracker])
    callbacks.on_phase("student", 3)
    for step in (1, 2, 3):
        record = {"kind": "train", "phase": "student", "step": step, "epoch": 0.1, "loss": 1.0}
        callbacks.on_log("student", record)
    assert [r["step"] for r in read_metrics(folder, "train")] == [1, 2, 3]
    assert tracker.dead
    assert "tensorboard failed (RuntimeError: tracker server went away)" in capsys.readouterr().err
    assert "tracker server went away" in folder.log_path.read_text()
    T.close_trackers(callbacks)
    assert _Broken.finished and tracker.tracker is None
