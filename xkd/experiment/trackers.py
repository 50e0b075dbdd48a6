"""Mirroring a run's metrics to experiment trackers (``train.report_to``) through Accelerate.

The run folder stays the source of truth: ``metrics.jsonl`` is written first (the run writer
comes before these callbacks), and a tracker is a mirror of it. Every metrics record becomes
flat scalars at the record's ``step``::

    train/<phase>/loss, train/<phase>/lr, train/<phase>/terms/<term>
    eval/<phase>/accuracy/<language>
    alignment/<model>/<language>/retrieval_s2t, alignment/<model>/language_id, ...

through Accelerate's tracker classes (:mod:`accelerate.tracking`). The run id is the tracker's
run name and the flattened run config its hyperparameters. TensorBoard writes under
``<run>/trackers/tensorboard/<run id>/``, W&B under ``<run>/trackers/wandb/``, MLflow (unless
``MLFLOW_TRACKING_URI`` names a server) to a file store in ``<run>/trackers/mlflow/``; trackio
keeps its own local store (``TRACKIO_DIR``). A missing package is a ``ConfigError`` when the
callbacks are built (before any work); a tracker that fails later is noted in ``logs/run.log``
and dropped, and the run goes on.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from typing import Any

from xkd.config import REPORT_TO, RunConfig
from xkd.errors import ConfigError
from xkd.runs.folder import RunFolder
from xkd.runs.schema import parse_record
from xkd.train.callbacks import Callback
from xkd.train.precision import trains_on_cpu

__all__ = [
    "TrackerCallback",
    "check_installed",
    "close_trackers",
    "flat_config",
    "group",
    "scalars",
    "tracker_callbacks",
]

#: tracker name -> (modules any of which is enough, the package to install)
PACKAGES: dict[str, tuple[tuple[str, ...], str]] = {
    "tensorboard": (("tensorboard", "tensorboardX"), "tensorboard"),
    "mlflow": (("mlflow",), "mlflow"),
    "wandb": (("wandb",), "wandb"),
    "trackio": (("trackio",), "trackio"),
}
assert set(PACKAGES) == set(REPORT_TO)

#: the project name in trackers that group runs by project (W&B, trackio, MLflow's experiment)
PROJECT = "xkd"

_META = ("kind", "phase", "step", "model")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_installed(names: list[str]) -> None:
    """A ``ConfigError`` naming the package to install for the first tracker that lacks it."""
    for name in names:
        modules, package = PACKAGES[name]
        if not any(_installed(m) for m in modules):
            raise ConfigError(
                f"train.report_to includes {name}, but the package `{package}` is not "
                f"installed: pip install {package} (or remove {name} from train.report_to)"
            )


def tracker_callbacks(cfg: RunConfig, folder: RunFolder) -> list[Callback]:
    """One callback per tracker in ``cfg.train.report_to`` (none when it is empty); raises a
    ``ConfigError`` for a missing package. The trackers start at the run's first event."""
    names = list(dict.fromkeys(cfg.train.report_to))
    check_installed(names)
    params = flat_config(cfg.to_dict())
    cpu = trains_on_cpu(cfg.train.device)
    return [TrackerCallback(name, folder, params, cpu=cpu) for name in names]


def close_trackers(callbacks) -> None:
    """Finish every tracker among ``callbacks`` (a list or a ``CallbackList``)."""
    for cb in getattr(callbacks, "callbacks", callbacks):
        if isinstance(cb, TrackerCallback):
            cb.close()


def flat_config(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train.lr": 1e-4, ...}``: nested mappings flattened with dots; lists as JSON text
    (trackers take scalars only)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(flat_config(value, f"{prefix}{key}."))
        elif value is None or isinstance(value, bool | int | float | str):
            out[prefix + key] = value
        else:
            out[prefix + key] = json.dumps(value, sort_keys=True, default=str)
    return out


def group(record: dict[str, Any], phase: str = "") -> str:
    """``<kind>/<phase>`` (``alignment/<model>``): the prefix of a record's scalars."""
    kind = record.get("kind", "train")
    who = record.get("model") if kind == "alignment" else record.get("phase") or phase
    return f"{kind}/{who}"


def scalars(record: dict[str, Any], phase: str = "") -> dict[str, float]:
    """The flat scalars of one metrics record (see the module docstring); non-numbers dropped."""
    prefix = group(record, phase)
    out: dict[str, float] = {}

    def walk(name: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{name}/{k}", v)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = value

    for key, value in record.items():
        if key not in _META:
            walk(prefix if key == "languages" else f"{prefix}/{key}", value)
    return out


class TrackerCallback(Callback):
    """Mirrors metrics records into one Accelerate tracker (``name`` of ``train.report_to``)."""

    def __init__(
        self, name: str, folder: RunFolder, params: dict[str, Any], *, cpu: bool = True
    ) -> None:
        self.name = name
        self.cpu = cpu
        self.folder = folder
        self.params = params
        self.tracker = None
        self.dead = False
        self._restore: str | None = None
        self._prefixes: set[str] = set()

    # ------------------------------------------------------------------------------- hooks
    def on_phase(self, phase, total_steps):
        self._guard(self._start)

    def on_log(self, phase, record):
        typed = parse_record(record)
        if typed is None:
            return
        record = typed.to_dict()
        values = scalars(record, phase)
        if values:
            self._guard(lambda: self._log(values, int(typed.step), group(record, phase)))

    def close(self) -> None:
        """Finish the tracker (event files complete); safe to call more than once."""
        tracker, self.tracker = self.tracker, None
        if tracker is not None and not self.dead:
            self._guard(tracker.finish)
        elif tracker is not None:  # it failed earlier: still try to close its files, quietly
            try:
                tracker.finish()
            except Exception:  # noqa: BLE001
                pass
        if self._restore is not None:
            import mlflow

            mlflow.set_tracking_uri(self._restore)
            self._restore = None

    # ----------------------------------------------------------------------------- helpers
    def _start(self) -> None:
        if self.tracker is not None:
            return
        from accelerate import PartialState

        # Accelerate's trackers log through its logger, which needs the process state: the one
        # the training loop's Accelerator makes (an existing one, e.g. several processes, is kept)
        PartialState(cpu=self.cpu)
        tracker = self._make()
        tracker.main_process_only = False  # only the main process has these callbacks
        tracker.start()
        self.tracker = tracker
        tracker.store_init_configuration(self.params)

    def _make(self):
        from accelerate import tracking

        run_id = self.folder.run_id
        logs = self.folder.path / "trackers" / self.name
        if self.name == "tensorboard":
            return tracking.TensorBoardTracker(run_id, logs)
        if self.name == "wandb":
            logs.mkdir(parents=True, exist_ok=True)
            project = os.environ.get("WANDB_PROJECT") or PROJECT
            return tracking.WandBTracker(project, name=run_id, dir=str(logs))
        if self.name == "trackio":
            return tracking.TrackioTracker(
                os.environ.get("TRACKIO_PROJECT") or PROJECT, name=run_id
            )
        if not os.environ.get("MLFLOW_TRACKING_URI"):  # mlflow: a file store in the run folder
            import mlflow

            logs.mkdir(parents=True, exist_ok=True)
            self._restore = mlflow.get_tracking_uri()
            mlflow.set_tracking_uri(logs.resolve().as_uri())
        return tracking.MLflowTracker(experiment_name=PROJECT, run_name=run_id)

    def _log(self, values: dict[str, float], step: int, prefix: str) -> None:
        self._start()
        if self.name != "wandb":
            self.tracker.log(values, step=step)
            return
        # W&B drops a step lower than one it has seen, and each phase counts from 0: every
        # record group gets its own step metric instead
        if prefix not in self._prefixes:
            self._prefixes.add(prefix)
            self.tracker.run.define_metric(f"{prefix}/step")
            self.tracker.run.define_metric(f"{prefix}/*", step_metric=f"{prefix}/step")
        self.tracker.log({**values, f"{prefix}/step": step})

    def _guard(self, action) -> None:
        """Run ``action``; a failure is noted and this tracker dropped (the run goes on)."""
        if self.dead:
            return
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - a mirror must never end the run
            self.dead = True
            text = (
                f"train.report_to: {self.name} failed ({type(exc).__name__}: {exc}); it gets "
                "no more metrics (metrics.jsonl has them all)"
            )
            try:
                self.folder.append_log(f"note: {text}")
            except OSError:
                pass
            print(f"xkd: note: {text}", file=sys.stderr, flush=True)
