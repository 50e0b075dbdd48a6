"""Listing and deleting runs, and the per-device lock that keeps two runs off one device."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xkd.errors import ConfigError
from xkd.runs.folder import ACTIVE_STATES, RunFolder, pid_alive, process_create_time, utc_now
from xkd.runs.ids import is_valid_run_id, safe_run_path, slugify

try:
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DeviceLock",
    "RunInfo",
    "default_runs_dir",
    "delete_run",
    "list_runs",
    "read_run",
    "runs_table",
]

RUNS_DIR_ENV = "XKD_RUNS_DIR"


def default_runs_dir() -> Path:
    """``$XKD_RUNS_DIR`` if set, else ``./runs`` (relative to the working directory)."""
    value = os.environ.get(RUNS_DIR_ENV)
    return Path(value) if value else Path("runs")


@dataclass
class RunInfo:
    """One row of the runs list: status truth, config summary and headline numbers."""

    run_id: str
    path: Path
    state: str | None = None
    step: int | None = None
    total_steps: int | None = None
    started: str | None = None
    updated: str | None = None
    phase: str | None = None
    error: str | None = None
    name: str | None = None
    teacher: str | None = None
    student: str | None = None
    data_path: str | None = None
    source_language: str | None = None
    target_languages: list[str] = field(default_factory=list)
    #: mean over target languages of the student's / baseline's accuracy (eval.json)
    student_target_accuracy: float | None = None
    baseline_target_accuracy: float | None = None
    #: accuracy on the source language (eval.json)
    teacher_source_accuracy: float | None = None
    student_source_accuracy: float | None = None

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.path)

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def _get(mapping: Any, dotted: str) -> Any:
    cur = mapping
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _str_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _accuracy(entry: Any, who: str) -> float | None:
    value = _get(entry, f"{who}.accuracy")
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _headline(info: RunInfo, result: dict) -> None:
    languages = result.get("languages")
    if not isinstance(languages, dict) or not languages:
        return
    source = _str_or_none(result.get("source_language")) or info.source_language
    targets = [lang for lang in info.target_languages if lang in languages]
    if not targets:
        targets = [lang for lang in languages if lang != source]
    info.student_target_accuracy = _mean([_accuracy(languages[t], "student") for t in targets])
    info.baseline_target_accuracy = _mean([_accuracy(languages[t], "baseline") for t in targets])
    if source in languages:
        info.teacher_source_accuracy = _accuracy(languages[source], "teacher")
        info.student_source_accuracy = _accuracy(languages[source], "student")


def read_run(path: str | os.PathLike) -> RunInfo:
    """Summarise one run folder (never raises for a broken config or eval file)."""
    folder = RunFolder(path)
    status = folder.read_status()
    info = RunInfo(
        run_id=folder.run_id,
        path=folder.path,
        state=_str_or_none(status.get("state")),
        step=_int_or_none(status.get("step")),
        total_steps=_int_or_none(status.get("total_steps")),
        started=_str_or_none(status.get("started")),
        updated=_str_or_none(status.get("updated")),
        phase=_str_or_none(status.get("phase")),
        error=_str_or_none(status.get("error")),
    )
    try:
        config = folder.read_config()
    except Exception:  # noqa: BLE001 - a broken config.yaml must not hide the run
        config = {}
    info.name = _str_or_none(config.get("name"))
    info.teacher = _str_or_none(config.get("teacher"))
    info.student = _str_or_none(config.get("student"))
    info.data_path = _str_or_none(_get(config, "data.path"))
    info.source_language = _str_or_none(_get(config, "data.source_language"))
    targets = _get(config, "data.target_languages")
    if isinstance(targets, str):
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    info.target_languages = [str(t) for t in targets] if isinstance(targets, list) else []
    result = folder.read_eval()
    if result:
        if info.source_language is None:
            info.source_language = _str_or_none(result.get("source_language"))
        _headline(info, result)
    return info


def list_runs(runs_dir: str | os.PathLike | None = None) -> list[RunInfo]:
    """All runs in ``runs_dir`` (default :func:`default_runs_dir`), newest first.

    A run is a sub-folder whose name is a valid run id; other entries are ignored.
    """
    base = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    if not base.is_dir():
        return []
    runs = []
    for entry in base.iterdir():
        if not is_valid_run_id(entry.name) or not entry.is_dir():
            continue
        runs.append(read_run(entry))
    runs.sort(key=lambda r: r.run_id, reverse=True)
    return runs


_TABLE_COLUMNS = [
    "run_id",
    "name",
    "state",
    "phase",
    "step",
    "total_steps",
    "started",
    "updated",
    "teacher",
    "student",
    "data_path",
    "source_language",
    "target_languages",
    "student_target_accuracy",
    "baseline_target_accuracy",
    "teacher_source_accuracy",
    "student_source_accuracy",
    "error",
    "path",
]


def runs_table(runs: list[RunInfo]):
    """A pandas DataFrame with one row per run (``target_languages`` joined with commas)."""
    import pandas as pd

    rows = []
    for info in runs:
        row = info.as_dict()
        row["target_languages"] = ",".join(info.target_languages)
        rows.append({c: row.get(c) for c in _TABLE_COLUMNS})
    frame = pd.DataFrame(rows, columns=_TABLE_COLUMNS)
    for col in (
        "student_target_accuracy",
        "baseline_target_accuracy",
        "teacher_source_accuracy",
        "student_source_accuracy",
    ):
        frame[col] = frame[col].astype("float64")
    for col in ("step", "total_steps"):
        frame[col] = frame[col].astype("Int64")
    return frame


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
            "stop it first (`xkd runs stop`) and then delete it"
        )
    shutil.rmtree(path)
    return path


class DeviceLock:
    """An exclusive per-device lock file ``runs_dir/.locks/<device>.lock``.

    ``acquire()`` is non-blocking and returns whether the lock was taken; the holder's pid,
    run id and time are written into the file, and ``holder()`` reads them (``None`` when
    nobody holds the lock). The OS drops the lock when the holding process dies, so a
    crashed run never blocks the device. Usable as a context manager (raises
    :class:`~xkd.errors.ConfigError` when busy).
    """

    def __init__(self, runs_dir: str | os.PathLike, device: str) -> None:
        self.device = str(device)
        self.path = Path(runs_dir) / ".locks" / f"{slugify(self.device.replace(':', '-'))}.lock"
        self._fd: int | None = None

    def __repr__(self) -> str:
        return f"DeviceLock({str(self.path)!r}, held={self.held})"

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self, run_id: str | None = None) -> bool:
        """Try to take the lock without waiting; True on success (or if already held)."""
        if self._fd is not None:
            return True
        if fcntl is None:  # pragma: no cover
            raise ConfigError("device locks need a POSIX system (fcntl)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        info = {
            "pid": os.getpid(),
            "pid_create_time": process_create_time(os.getpid()),
            "run_id": run_id,
            "device": self.device,
            "since": utc_now(),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return True

    def release(self) -> None:
        """Release the lock (no-op when not held) and clear the holder information."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def holder(self) -> dict | None:
        """``{"pid", "run_id", "device", "since"}`` of the current holder, or ``None``.

        Read from the lock file without touching the lock itself (probing it could make a
        concurrent ``acquire`` fail). A holder whose process has died counts as none: the
        OS has already released its lock.
        """
        try:
            text = self.path.read_text(encoding="utf-8").strip()
            data = json.loads(text) if text else None
        except (OSError, json.JSONDecodeError):
            return None
        if not isinstance(data, dict):
            return None
        if not pid_alive(data.get("pid"), data.get("pid_create_time")):
            return None
        return data

    def is_locked(self) -> bool:
        """Whether a live process (this one included) holds the lock."""
        return self._fd is not None or self.holder() is not None

    def __enter__(self) -> DeviceLock:
        if not self.acquire():
            who = self.holder() or {}
            raise ConfigError(
                f"device {self.device!r} is busy with run {who.get('run_id')!r} "
                f"(pid {who.get('pid')}); wait for it or stop it first"
            )
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # pragma: no cover - best effort
        with contextlib.suppress(Exception):
            self.release()
