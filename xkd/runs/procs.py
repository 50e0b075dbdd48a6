"""Is the process of a run alive? pids checked together with their start time."""

from __future__ import annotations

import contextlib
import os

__all__ = ["pid_alive", "process_create_time"]

# Two create_time readings of one process agree far better than this; a reused pid would
# have to be handed out again within this window to be mistaken for the original.
_CREATE_TIME_TOLERANCE_S = 1.0


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
