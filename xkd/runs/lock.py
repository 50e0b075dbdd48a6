"""One run per device: the device lock, the busy policy and the one device-name function.

The policy is the same for the CLI, the app's launcher and a notebook calling the library: a
device is busy while another process holds its lock file, or while another run in the same runs
folder is queued or running on it (launched but not yet holding the lock). A busy device refuses
a new run with :class:`DeviceBusyError`, or queues it with ``wait=True``.

The lock files are per machine, not per runs folder (:func:`lock_dir`): two users' runs, or the
app and a notebook with different runs folders, queue behind each other on the same device.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from xkd.errors import ConfigError
from xkd.runs.folder import ACTIVE_STATES, RunFolder, pid_alive, process_create_time, utc_now
from xkd.runs.ids import is_valid_run_id, slugify

try:
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DeviceBusyError",
    "DeviceLock",
    "acquire_device",
    "busy_message",
    "device_name",
    "lock_dir",
]

#: the environment variable that moves the machine's lock folder (tests give each test its own)
LOCK_DIR_ENV = "XKD_LOCK_DIR"


def lock_dir() -> Path:
    """The machine's device-lock folder: ``$XKD_LOCK_DIR``, else ``<tmp>/xkd-device-locks``
    (shared by every user of the machine: created world-writable with the sticky bit)."""
    configured = os.environ.get(LOCK_DIR_ENV, "").strip()
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "xkd-device-locks"


class DeviceBusyError(ConfigError):
    """Another run holds the device; the message names it and says how to wait or stop it."""


def device_name(device: str = "auto") -> str:
    """The concrete device of a ``train.device`` setting: ``auto`` -> ``cuda:0`` when CUDA is
    available, else ``cpu``; ``cuda`` -> ``cuda:0``; anything else as given."""
    device = str(device or "auto")
    if device == "auto":
        try:
            import torch

            return "cuda:0" if torch.cuda.is_available() else "cpu"
        except ImportError:  # pragma: no cover
            return "cpu"
    return "cuda:0" if device == "cuda" else device


def _configured_device(folder: RunFolder) -> str:
    try:
        train = folder.read_config().get("train") or {}
    except Exception:  # noqa: BLE001 - a broken config.yaml counts as the default device
        train = {}
    return device_name(str(train.get("device", "auto")) if isinstance(train, dict) else "auto")


def busy_message(
    runs_dir: str | os.PathLike, device: str = "auto", *, exclude_run: str | None = None
) -> str | None:
    """Why a new run cannot start on ``device`` now, or ``None`` when it can.

    Busy means: a live process holds the device lock, or another run in ``runs_dir``
    (``exclude_run`` aside) is queued or running with the same device.
    """
    dev = device_name(device)
    holder = DeviceLock(dev).holder()
    if holder and holder.get("run_id") != exclude_run:
        return (
            f"device '{dev}' is busy with run {holder.get('run_id', '?')} "
            f"(pid {holder.get('pid', '?')}); wait for it, stop it (Runs page, or the Stop "
            "button of the Lab's live view), or queue behind it with `xkd train --wait`"
        )
    base = Path(runs_dir)
    if not base.is_dir():
        return None
    for entry in sorted(base.iterdir()):
        if entry.name == exclude_run or not is_valid_run_id(entry.name) or not entry.is_dir():
            continue
        folder = RunFolder(entry)
        status = folder.read_status()
        if status.get("state") in ACTIVE_STATES and _configured_device(folder) == dev:
            return (
                f"device '{dev}' is busy with run {entry.name} ({status.get('state')}, pid "
                f"{status.get('pid', '?')}); one run per device at a time: wait for it, stop "
                "it, or queue behind it with `xkd train --wait`"
            )
    return None


def acquire_device(
    runs_dir: str | os.PathLike,
    device: str,
    *,
    run_id: str | None,
    wait: bool = False,
    on_queued: Callable[[str], None] | None = None,
    poll_s: float = 2.0,
) -> DeviceLock:
    """Take the lock of ``device`` for ``run_id`` and return it (the caller releases it).

    A busy device raises :class:`DeviceBusyError`, or with ``wait=True`` calls
    ``on_queued(message)`` once and polls until the device is free.
    """
    lock = DeviceLock(device_name(device))
    queued = False
    while True:
        reason = busy_message(runs_dir, device, exclude_run=run_id)
        if reason is None and lock.acquire(run_id=run_id):
            return lock
        reason = reason or _holder_message(runs_dir, device, lock, run_id=run_id)
        if not wait:
            raise DeviceBusyError(reason)
        if not queued and on_queued is not None:
            on_queued(reason)
        queued = True
        time.sleep(poll_s)


def _holder_message(runs_dir, device: str, lock: DeviceLock, *, run_id: str | None) -> str:
    """Why ``lock.acquire`` failed: the holder may have taken the lock an instant ago and not
    yet written who it is, so look again for a moment before giving a message without a name."""
    for _ in range(20):
        reason = busy_message(runs_dir, device, exclude_run=run_id)
        if reason is not None:
            return reason
        time.sleep(0.05)
    return (
        f"device '{lock.device}' is busy with another run that just took it; wait for it, stop "
        "it, or queue behind it with `xkd train --wait`"
    )


def _shared_folder(path: Path) -> None:
    """Create the lock folder so that every user of the machine can lock in it."""
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        path.chmod(0o1777)


def _open_lock_file(path: Path) -> int:
    """Open (or create, readable and writable by every user) the lock file. An existing file
    is opened without ``O_CREAT``: Linux's ``protected_regular`` refuses ``O_CREAT`` on another
    user's file in a shared sticky folder."""
    _shared_folder(path.parent)
    for _ in range(3):
        try:
            return os.open(path, os.O_RDWR)
        except FileNotFoundError:
            pass
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue  # another process created it an instant ago
        with contextlib.suppress(OSError):  # the umask may have taken bits away
            os.fchmod(fd, 0o666)
        return fd
    return os.open(path, os.O_RDWR)


class DeviceLock:
    """An exclusive per-device lock file ``<lock_dir>/<device>.lock`` (:func:`lock_dir` by
    default: one per machine and device).

    ``acquire()`` is non-blocking and returns whether the lock was taken; the holder's pid,
    run id and time are written into the file, and ``holder()`` reads them (``None`` when
    nobody holds the lock). The OS drops the lock when the holding process dies, so a
    crashed run never blocks the device. Usable as a context manager (raises
    :class:`~xkd.errors.ConfigError` when busy).
    """

    def __init__(self, device: str, *, directory: str | os.PathLike | None = None) -> None:
        self.device = str(device)
        folder = Path(directory) if directory is not None else lock_dir()
        self.path = folder / f"{slugify(self.device.replace(':', '-'))}.lock"
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
        fd = _open_lock_file(self.path)
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
