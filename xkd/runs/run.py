"""One run object for listing, the CLI and the app: :class:`Run`, read from a run folder.

``load_run(path)`` never raises for a broken file: a missing or unreadable ``config.yaml``,
``status.json`` or ``eval.json`` gives empty values, so one bad folder never hides the others.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xkd.errors import ConfigError
from xkd.runs.folder import ACTIVE_STATES, RunFolder
from xkd.runs.ids import is_valid_run_id, safe_run_path
from xkd.runs.schema import FORMAT, Headline, read_headline

__all__ = ["RUNS_DIR_ENV", "Run", "default_runs_dir", "delete_run", "list_runs", "load_run"]

RUNS_DIR_ENV = "XKD_RUNS_DIR"


def default_runs_dir() -> Path:
    """``$XKD_RUNS_DIR`` if set, else ``./runs`` (relative to the working directory)."""
    value = os.environ.get(RUNS_DIR_ENV)
    return Path(value) if value else Path("runs")


def _get(mapping: Any, dotted: str) -> Any:
    cur = mapping
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@dataclass
class Run:
    """A run folder as read now: its status (corrected to the truth), config and evaluation."""

    run_id: str
    path: Path
    status: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    eval: dict | None = None

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.path)

    # status
    @property
    def state(self) -> str | None:
        return _text(self.status.get("state"))

    @property
    def active(self) -> bool:
        """Queued or running (its process is alive: ``read_status`` checked)."""
        return self.state in ACTIVE_STATES

    @property
    def phase(self) -> str | None:
        return _text(self.status.get("phase"))

    @property
    def step(self) -> int | None:
        return _int(self.status.get("step"))

    @property
    def total_steps(self) -> int | None:
        return _int(self.status.get("total_steps"))

    @property
    def started(self) -> str | None:
        return _text(self.status.get("started"))

    @property
    def updated(self) -> str | None:
        return _text(self.status.get("updated"))

    @property
    def error(self) -> str | None:
        return _text(self.status.get("error"))

    # config
    @property
    def name(self) -> str | None:
        return _text(self.config.get("name"))

    @property
    def teacher(self) -> str | None:
        return _text(self.config.get("teacher"))

    @property
    def student(self) -> str | None:
        return _text(self.config.get("student"))

    @property
    def data_path(self) -> str | None:
        return _text(_get(self.config, "data.path"))

    @property
    def source_language(self) -> str | None:
        if self.eval and self.eval.get("source_language"):
            return str(self.eval["source_language"])
        return _text(_get(self.config, "data.source_language"))

    @property
    def target_languages(self) -> list[str]:
        if self.eval and isinstance(self.eval.get("target_languages"), list):
            return [str(t) for t in self.eval["target_languages"]]
        targets = _get(self.config, "data.target_languages")
        if isinstance(targets, str):
            targets = [t.strip() for t in targets.split(",") if t.strip()]
        return [str(t) for t in targets] if isinstance(targets, list) else []

    # evaluation
    @property
    def labels(self) -> list[str]:
        if self.eval and isinstance(self.eval.get("labels"), list):
            return [str(x) for x in self.eval["labels"]]
        return []

    @property
    def headline(self) -> Headline | None:
        """The evaluator's headline (``eval.json["headline"]``); ``None`` before evaluation."""
        return read_headline(self.eval)

    @property
    def format(self) -> int | None:
        """The run-folder format of ``eval.json`` (1: written before the typed contract)."""
        if not self.eval:
            return None
        return _int(self.eval.get("format")) or 1

    @property
    def older_format(self) -> bool:
        return self.format is not None and self.format < FORMAT

    def as_dict(self) -> dict[str, Any]:
        """Everything a listing shows, flat (``xkd runs --json``)."""
        head = self.headline
        return {
            "run_id": self.run_id,
            "name": self.name,
            "state": self.state,
            "phase": self.phase,
            "step": self.step,
            "total_steps": self.total_steps,
            "started": self.started,
            "updated": self.updated,
            "teacher": self.teacher,
            "student": self.student,
            "data_path": self.data_path,
            "source_language": self.source_language,
            "target_languages": self.target_languages,
            "headline": head.to_dict() if head else None,
            "format": self.format,
            "error": self.error,
            "path": str(self.path),
        }


def load_run(path: str | os.PathLike) -> Run:
    """The :class:`Run` in folder ``path`` (broken or missing files give empty values)."""
    folder = RunFolder(path)
    try:
        config = folder.read_config()
    except Exception:  # noqa: BLE001 - a broken config.yaml must not hide the run
        config = {}
    return Run(
        run_id=folder.run_id,
        path=folder.path,
        status=folder.read_status(),
        config=config,
        eval=folder.read_eval(),
    )


def list_runs(runs_dir: str | os.PathLike | None = None) -> list[Run]:
    """All runs in ``runs_dir`` (default :func:`default_runs_dir`), newest first.

    A run is a sub-folder whose name is a valid run id; other entries are ignored.
    """
    base = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    if not base.is_dir():
        return []
    runs = [
        load_run(entry)
        for entry in base.iterdir()
        if is_valid_run_id(entry.name) and entry.is_dir()
    ]
    runs.sort(key=lambda r: r.run_id, reverse=True)
    return runs


def delete_run(runs_dir: str | os.PathLike, run_id: str) -> Path:
    """Delete the folder of ``run_id``; refuses unsafe ids and queued/running runs.

    Returns the deleted path. Raises :class:`~xkd.errors.ConfigError` when refused or missing.
    """
    path = safe_run_path(runs_dir, run_id)
    if not path.is_dir():
        raise ConfigError(f"no run {run_id!r} in {Path(runs_dir)}")
    status = RunFolder(path).read_status()
    if status.get("state") in ACTIVE_STATES:
        raise ConfigError(
            f"run {run_id!r} is {status['state']} (pid {status.get('pid')}); "
            "stop it first (Runs page, or `kill` the pid) and then delete it"
        )
    shutil.rmtree(path)
    return path
