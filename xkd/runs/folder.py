"""One run folder ``runs/<run_id>/``: its files, atomic writes and the truthful status.

Layout::

    config.yaml          the resolved RunConfig
    status.json          {state, step, total_steps, started, updated, error, pid, phase, ...}
    metrics.jsonl        one JSON record per line (training curves)
    eval.json            per-language evaluation
    embeddings.parquet   pooled embeddings for the app's projections
    predictions.parquet  per-example predictions
    env.json             versions and hardware (never secrets)
    teacher/ student/ baseline/   save_pretrained folders of the three models
    checkpoints/<phase>/ resumable training state
    cache/teacher.safetensors     the teacher's cached outputs; cache/ also holds projections
    logs/run.log         tracebacks and notes; logs/process.log is the subprocess output

:class:`RunFolder` owns every one of these paths: no other module joins run-folder path strings.
The records inside are declared in :mod:`xkd.runs.schema`.

Every whole-file write goes to a temp file in the same folder, is fsynced, then moved into
place with ``os.replace``, so a reader sees the old or the new file, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import traceback
from pathlib import Path
from typing import Any

from xkd.runs.env import environment_info, redact
from xkd.runs.files import atomic_write_json, atomic_write_text, json_default, read_json, utc_now
from xkd.runs.procs import pid_alive, process_create_time
from xkd.runs.schema import FORMAT, check_eval, check_status_fields

try:  # POSIX only; on other systems status writes are simply not serialised
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ACTIVE_STATES",
    "STATES",
    "RunFolder",
    "atomic_write_json",
    "atomic_write_text",
    "pid_alive",
    "process_create_time",
    "redact",
    "utc_now",
]

STATES = ("queued", "running", "finished", "failed", "stopped", "interrupted")
ACTIVE_STATES = ("queued", "running")


class RunFolder:
    """The files of one run; ``RunFolder(path)`` does not touch the disk until asked to."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunFolder) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    # ----------------------------------------------------------------- paths
    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def eval_path(self) -> Path:
        return self.path / "eval.json"

    @property
    def embeddings_path(self) -> Path:
        return self.path / "embeddings.parquet"

    @property
    def predictions_path(self) -> Path:
        return self.path / "predictions.parquet"

    @property
    def env_path(self) -> Path:
        return self.path / "env.json"

    #: the models a run saves, as ``save_pretrained`` folders
    MODELS = ("teacher", "student", "baseline")

    def model_dir(self, role: str) -> Path:
        """``teacher/``, ``student/`` or ``baseline/``."""
        if role not in self.MODELS:
            raise ValueError(
                f"unknown model role {role!r}; expected one of {', '.join(self.MODELS)}"
            )
        return self.path / role

    @property
    def teacher_dir(self) -> Path:
        return self.model_dir("teacher")

    @property
    def student_dir(self) -> Path:
        return self.model_dir("student")

    @property
    def baseline_dir(self) -> Path:
        return self.model_dir("baseline")

    @property
    def checkpoints_dir(self) -> Path:
        """``checkpoints/``: one sub-folder per training phase."""
        return self.path / "checkpoints"

    @property
    def teacher_cache_path(self) -> Path:
        """``cache/teacher.safetensors``: the teacher's outputs, computed once per text."""
        return self.cache_dir / "teacher.safetensors"

    def extra_teacher_cache_path(self, i: int) -> Path:  # teachers[i - 1]'s outputs
        return self.cache_dir / f"teacher-{i}.safetensors"

    @property
    def teacher_tokens_dir(self) -> Path:
        """``cache/teacher-tokens/``: the teacher's token features in shards, read by row."""
        return self.cache_dir / "teacher-tokens"

    @property
    def alignment_dir(self) -> Path:
        """``alignment/``: the held-out pairs' maps and embeddings per step (xkd.runs.maps)."""
        return self.path / "alignment"

    @property
    def logs_dir(self) -> Path:
        return self.path / "logs"

    @property
    def log_path(self) -> Path:
        """``logs/run.log``: tracebacks and notes written by the trainer."""
        return self.logs_dir / "run.log"

    @property
    def process_log_path(self) -> Path:
        """``logs/process.log``: stdout and stderr of a launched subprocess."""
        return self.logs_dir / "process.log"

    @property
    def cache_dir(self) -> Path:
        """``cache/``: derived data the app may recompute (e.g. projections)."""
        return self.path / "cache"

    def exists(self) -> bool:
        return self.path.is_dir()

    def ensure(self) -> RunFolder:
        """Create the folder and ``logs/`` if missing; returns ``self``."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        return self

    # ---------------------------------------------------------------- config
    def write_config(self, text_or_mapping: str | dict) -> None:
        """Write ``config.yaml`` (a YAML string, or a mapping dumped with ``yaml.safe_dump``)."""
        if isinstance(text_or_mapping, str):
            text = text_or_mapping
        else:
            import yaml

            text = yaml.safe_dump(text_or_mapping, sort_keys=False, allow_unicode=True)
        atomic_write_text(self.config_path, text)

    def read_config(self) -> dict:
        """``config.yaml`` as a dict (``{}`` when missing or not a mapping)."""
        import yaml

        try:
            text = self.config_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        data = yaml.safe_load(text)
        return data if isinstance(data, dict) else {}

    # ---------------------------------------------------------------- status
    @contextlib.contextmanager
    def _status_lock(self):
        """Serialise read-modify-write of ``status.json`` between processes."""
        if fcntl is None:  # pragma: no cover
            yield
            return
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / ".status.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _load_status(self) -> dict:
        try:
            data = read_json(self.status_path)
        except (json.JSONDecodeError, OSError, UnicodeDecodeError):
            data = None
        return data if isinstance(data, dict) else {}

    def write_status(self, state: str | None = None, **fields: Any) -> dict:
        """Merge ``state`` and ``fields`` into ``status.json``; returns the new status.

        ``state`` is one of queued|running|finished|failed|stopped|interrupted (``None`` keeps
        the current one). Usual fields: ``step``, ``total_steps``, ``started``, ``error``,
        ``pid``, ``phase``. ``updated`` is set to now; ``started`` is set when the state
        first becomes ``running``. When a ``pid`` is given its process start time is
        recorded as ``pid_create_time`` so a reused pid is not mistaken for the run.
        """
        if state is not None and state not in STATES:
            raise ValueError(f"unknown run state {state!r}; expected one of {', '.join(STATES)}")
        check_status_fields(fields)
        with self._status_lock():
            status = self._load_status()
            if "pid" in fields and "pid_create_time" not in fields:
                pid = fields["pid"]
                if pid is None:
                    fields["pid_create_time"] = None
                elif pid != status.get("pid") or status.get("pid_create_time") is None:
                    fields["pid_create_time"] = process_create_time(int(pid))
            status.update(fields)
            if state is not None:
                status["state"] = state
            if status.get("state") == "running" and not status.get("started"):
                status["started"] = utc_now()
            status["updated"] = utc_now()
            atomic_write_json(self.status_path, status)
        return status

    def read_status(self) -> dict:
        """The status, corrected to the truth.

        If the state is queued or running but the recorded process is gone (or its pid now
        belongs to a process started at another time), the status is rewritten as
        ``interrupted`` with an ``error`` pointing to the logs, and that is returned.
        Returns ``{}`` when there is no status yet.
        """
        status = self._load_status()
        if not self._needs_interrupt(status):
            return status
        try:
            with self._status_lock():
                status = self._load_status()  # re-read: the run may have finished meanwhile
                if not self._needs_interrupt(status):
                    return status
                status = self._interrupted(status)
                atomic_write_json(self.status_path, status)
        except OSError:  # a read-only folder: report the truth without writing it
            status = self._load_status()
            if self._needs_interrupt(status):
                status = self._interrupted(status)
        return status

    def _interrupted(self, status: dict) -> dict:
        status = dict(status)
        previous = status.get("state")
        status["state"] = "interrupted"
        if not status.get("error"):
            status["error"] = (
                f"the run's process (pid {status.get('pid')}) ended while {previous} "
                f"without reporting a result; see {self.logs_dir}"
            )
        status["updated"] = utc_now()
        return status

    @staticmethod
    def _needs_interrupt(status: dict) -> bool:
        if status.get("state") not in ACTIVE_STATES or status.get("pid") is None:
            return False
        return not pid_alive(status.get("pid"), status.get("pid_create_time"))

    # --------------------------------------------------------------- metrics
    def append_metrics(self, record: dict) -> None:
        """Append ``record`` as one JSON line to ``metrics.jsonl`` (flushed and fsynced).

        If the file ends in a torn line (a writer killed mid-line), a newline is written
        first so the new record stays readable.
        """
        line = json.dumps(record, ensure_ascii=False, default=json_default)
        self.path.mkdir(parents=True, exist_ok=True)
        prefix = ""
        try:
            with open(self.metrics_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                if fh.tell() > 0:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":
                        prefix = "\n"
        except FileNotFoundError:
            pass
        with open(self.metrics_path, "a", encoding="utf-8") as fh:
            fh.write(prefix + line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def read_metrics(self) -> list[dict]:
        """All records of ``metrics.jsonl`` in order; unreadable (torn) lines are skipped."""
        try:
            with open(self.metrics_path, encoding="utf-8", errors="replace") as fh:
                lines = fh.readlines()
        except FileNotFoundError:
            return []
        records = []
        for raw in lines:
            raw = raw.strip()
            if not raw:
                continue
            try:
                rec = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                records.append(rec)
        return records

    # ------------------------------------------------------------------ eval
    def write_eval(self, result: dict) -> None:
        """Write ``eval.json`` atomically, stamped with the current format; its fields are
        checked against :data:`xkd.runs.schema.EVAL_FIELDS` (it must carry a headline)."""
        result = {"format": FORMAT} | {k: v for k, v in result.items() if k != "format"}
        check_eval(result)
        atomic_write_json(self.eval_path, result)

    def write_tables(self, *, embeddings, predictions) -> None:
        """Write ``embeddings.parquet`` and ``predictions.parquet`` (pandas frames) atomically."""
        for path, frame in (
            (self.embeddings_path, embeddings),
            (self.predictions_path, predictions),
        ):
            tmp = path.with_name(f".{path.name}.tmp")
            frame.to_parquet(tmp, index=False)
            os.replace(tmp, path)

    def read_eval(self) -> dict | None:
        """``eval.json`` as a dict, or ``None`` when missing or unreadable."""
        try:
            data = read_json(self.eval_path)
        except (json.JSONDecodeError, OSError, UnicodeDecodeError):
            return None
        return data if isinstance(data, dict) else None

    # ------------------------------------------------------------------- env
    def write_env(self, extra: dict | None = None, *, probe_gpu: bool | None = None) -> dict:
        """Write ``env.json`` (see :func:`xkd.runs.env.environment_info`); returns it."""
        env = environment_info(extra, probe_gpu=probe_gpu)
        atomic_write_json(self.env_path, env)
        return env

    def read_env(self) -> dict | None:
        try:
            data = read_json(self.env_path)
        except (json.JSONDecodeError, OSError, UnicodeDecodeError):
            return None
        return data if isinstance(data, dict) else None

    # ------------------------------------------------------------------ logs
    def append_log(self, text: str) -> None:
        """Append a timestamped block to ``logs/run.log``."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(f"[{utc_now()}] {text.rstrip()}\n")
            fh.flush()
            os.fsync(fh.fileno())

    def log_exception(self, exc: BaseException | None = None) -> str:
        """Append the traceback of ``exc`` (default: the one being handled) to ``logs/run.log``.

        Returns the formatted traceback.
        """
        if exc is None:
            text = traceback.format_exc()
        else:
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.append_log(text)
        return text
