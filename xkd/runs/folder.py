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
import importlib.metadata
import json
import os
import platform
import re
import sys
import tempfile
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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
# "TOKEN" but not "TOKENIZER(S)" (the tokenizers package and TOKENIZERS_PARALLELISM are harmless)
_SECRET_RE = re.compile(r"TOKEN(?!IZER)|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
_ENV_PREFIXES = (
    "XKD_",
    "HF_",
    "HUGGINGFACE_",
    "TRANSFORMERS_",
    "CUDA_",
    "PYTORCH_",
    "TORCH_",
    "OMP_",
    "MKL_",
    "ACCELERATE_",
    "TOKENIZERS_",
)
_PACKAGES = (
    "xkd",
    "torch",
    "transformers",
    "tokenizers",
    "accelerate",
    "datasets",
    "safetensors",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "umap-learn",
)
# Two create_time readings of one process agree far better than this; a reused pid would
# have to be handed out again within this window to be mistaken for the original.
_CREATE_TIME_TOLERANCE_S = 1.0


def utc_now() -> str:
    """The current UTC time as ISO 8601 with seconds, e.g. ``2025-01-31T12:00:00+00:00``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file in the same folder, fsync, replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically (see :func:`atomic_write_text`)."""
    text = json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default, allow_nan=True)
    atomic_write_text(path, text + "\n")


def _json_default(value: Any) -> Any:
    # numpy scalars/arrays and paths without importing numpy here
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":  # pragma: no cover
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None


def process_create_time(pid: int) -> float | None:
    """Start time of process ``pid`` (seconds since the epoch), or ``None`` if it is gone."""
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError, ValueError):
        return None


def pid_alive(pid: int | None, create_time: float | None = None) -> bool:
    """Whether process ``pid`` is running (not a zombie) and, if given, started at ``create_time``.

    Comparing the start time guards against the pid having been reused by another process.
    """
    import psutil

    if pid is None:
        return False
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    if pid <= 0 or not psutil.pid_exists(pid):
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            _reap(pid)
            return False
        if create_time is not None:
            if abs(proc.create_time() - float(create_time)) > _CREATE_TIME_TOLERANCE_S:
                return False
    except psutil.NoSuchProcess:
        return False
    except (psutil.Error, OSError):
        return True  # exists but cannot be inspected (e.g. other user): assume alive
    return True


def _reap(pid: int) -> None:
    """Collect a zombie child of this process so it disappears (no-op for non-children)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def redact(obj: Any, secrets: tuple[str, ...] = ()) -> Any:
    """Copy of ``obj`` without secret-looking keys or secret values.

    Mapping keys containing TOKEN (not TOKENIZER), KEY, SECRET, PASSWORD, PASSWD or
    CREDENTIAL (any case) are dropped, and string
    values containing any of ``secrets`` are replaced by ``"<redacted>"``.
    """
    if isinstance(obj, dict):
        return {str(k): redact(v, secrets) for k, v in obj.items() if not _SECRET_RE.search(str(k))}
    if isinstance(obj, (list, tuple)):
        return [redact(v, secrets) for v in obj]
    if isinstance(obj, str) and any(s and s in obj for s in secrets):
        return "<redacted>"
    return obj


def _secret_values() -> tuple[str, ...]:
    return tuple(v for k, v in os.environ.items() if _SECRET_RE.search(k) and len(v) >= 4)


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
            data = _read_json(self.status_path)
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
        line = json.dumps(record, ensure_ascii=False, default=_json_default)
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
            data = _read_json(self.eval_path)
        except (json.JSONDecodeError, OSError, UnicodeDecodeError):
            return None
        return data if isinstance(data, dict) else None

    # ------------------------------------------------------------------- env
    def write_env(self, extra: dict | None = None, *, probe_gpu: bool | None = None) -> dict:
        """Write ``env.json``: Python, platform, CPU count, package versions, GPU name.

        Package versions come from ``importlib.metadata`` (nothing is imported). The GPU is
        queried through torch only when ``probe_gpu`` is true, or when it is ``None`` and
        torch is already imported. ``extra`` is merged in. Keys containing TOKEN, KEY,
        SECRET or PASSWORD are dropped and values of such environment variables redacted
        everywhere. Returns what was written.
        """
        packages = {}
        for name in _PACKAGES:
            try:
                packages[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                packages[name] = None
        env = {
            "python": sys.version.split()[0],
            "python_executable": sys.executable,
            "platform": platform.platform(),
            "machine": platform.machine(),
            "processor": platform.processor() or None,
            "cpu_count": os.cpu_count(),
            "packages": packages,
            "gpu": self._gpu_info(probe_gpu),
            "environment": {
                k: v
                for k, v in sorted(os.environ.items())
                if k.startswith(_ENV_PREFIXES) and not _SECRET_RE.search(k)
            },
            "written": utc_now(),
        }
        if extra:
            env.update(extra)
        env = redact(env, _secret_values())
        atomic_write_json(self.env_path, env)
        return env

    @staticmethod
    def _gpu_info(probe_gpu: bool | None) -> dict | None:
        if probe_gpu is False or (probe_gpu is None and "torch" not in sys.modules):
            return None
        try:
            import torch  # lazy: only when asked or already loaded

            if not torch.cuda.is_available():
                return {"cuda": False}
            return {
                "cuda": True,
                "cuda_version": torch.version.cuda,
                "count": torch.cuda.device_count(),
                "names": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
            }
        except Exception as exc:  # noqa: BLE001 - env info must never break a run
            return {"error": f"{type(exc).__name__}: {exc}"}

    def read_env(self) -> dict | None:
        try:
            data = _read_json(self.env_path)
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
