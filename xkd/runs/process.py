"""Launching a run as a detached subprocess, and stopping it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from xkd.errors import ConfigError
from xkd.runs.folder import ACTIVE_STATES, RunFolder, pid_alive, utc_now

__all__ = ["default_command", "is_alive", "launch_run", "spawn", "stop_run"]

# Popen objects of runs launched by this process, so they are reaped when they end.
_CHILDREN: dict[int, subprocess.Popen] = {}


def default_command(config_path: str | os.PathLike, run_dir: str | os.PathLike) -> list[str]:
    """``python -m xkd.cli train --config <config_path> --run-dir <run_dir>``."""
    return [
        sys.executable,
        "-m",
        "xkd.cli",
        "train",
        "--config",
        str(config_path),
        "--run-dir",
        str(run_dir),
    ]


def is_alive(status: dict) -> bool:
    """Whether the process recorded in ``status`` (``pid`` + ``pid_create_time``) is running."""
    pid = status.get("pid") if status else None
    if pid is None:
        return False
    child = _CHILDREN.get(int(pid))
    if child is not None and child.poll() is not None:
        _CHILDREN.pop(int(pid), None)
        return False
    return pid_alive(pid, status.get("pid_create_time"))


def launch_run(
    config_path: str | os.PathLike,
    run_dir: str | os.PathLike,
    *,
    runs_dir: str | os.PathLike,
    extra_args: Sequence[str] = (),
    command: Sequence[str] | None = None,
    env: dict[str, str] | None = None,
) -> int:
    """Start a run in a detached subprocess and return its pid.

    Runs ``command`` (default :func:`default_command`) followed by ``extra_args`` in a new
    session (so closing the app does not kill it), with stdin closed and stdout/stderr
    appended to ``run_dir/logs/process.log``. ``run_dir`` must lie inside ``runs_dir``
    (passed to the child as ``XKD_RUNS_DIR``). The status becomes ``queued`` with the pid;
    the trainer then moves it on to ``running`` and beyond.
    """
    runs_base = Path(runs_dir).resolve()
    run_path = Path(run_dir).resolve()
    if run_path.parent != runs_base:
        raise ConfigError(
            f"run folder {run_path} is not directly inside the runs folder {runs_base}"
        )
    folder = RunFolder(run_path).ensure()
    argv = list(command) if command is not None else default_command(config_path, run_path)
    argv += [str(a) for a in extra_args]

    child_env = dict(os.environ if env is None else env)
    child_env["XKD_RUNS_DIR"] = str(runs_base)
    child_env.setdefault("PYTHONUNBUFFERED", "1")

    # Queued before the child exists, and the pid merged in afterwards without touching the
    # state: a fast child may already have written "running" by then.
    folder.write_status("queued", pid=None, error=None, phase="launch", command=argv)
    try:
        pid = spawn(argv, log_path=folder.process_log_path, env=child_env, what="run")
    except ConfigError as exc:
        folder.write_status("failed", error=f"could not start the run: {exc}")
        raise
    folder.write_status(None, pid=pid)
    return pid


def spawn(argv: Sequence[str], *, log_path: Path, env: dict[str, str], what: str) -> int:
    """Start ``argv`` detached (its own session, stdin closed, output appended to
    ``log_path``) and return its pid; the process is reaped when it ends. ``what`` names it
    in the error when it cannot start."""
    with open(log_path, "ab") as log:
        log.write(f"[{utc_now()}] launch: {' '.join(argv)}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                env=env,
            )
        except OSError as exc:
            raise ConfigError(f"could not start the {what} process {argv[0]!r}: {exc}") from exc
    _CHILDREN[proc.pid] = proc
    return proc.pid


def _wait_gone(pid: int, create_time: float | None, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for the process to end; True if it did."""
    import psutil

    child = _CHILDREN.get(pid)
    if child is not None:
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        _CHILDREN.pop(pid, None)
        return True
    try:
        proc = psutil.Process(pid)
        if create_time is not None and abs(proc.create_time() - create_time) > 1.0:
            return True
        proc.wait(timeout=timeout)
    except psutil.TimeoutExpired:
        return not pid_alive(pid, create_time)  # a zombie that is not ours counts as gone
    except psutil.Error:
        return True
    return True


def _signal(pid: int, sig: int, *, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            # launch_run starts a new session, so the run leads its own process group;
            # killing the group also ends its data-loader workers.
            try:
                if os.getpgid(pid) == pid:
                    os.killpg(pid, sig)
                    return
            except ProcessLookupError:
                return
        os.kill(pid, sig)


def stop_run(run_dir: str | os.PathLike, timeout: float = 10) -> dict:
    """Stop the run in ``run_dir`` and return its final status.

    Sends SIGTERM to the recorded pid (the trainer checkpoints and writes ``stopped``),
    waits up to ``timeout`` seconds, then sends SIGKILL to the process group. If the state
    is still queued/running (or was marked interrupted meanwhile), it is set to ``stopped``.
    A run that is not active is left as it is.
    """
    folder = RunFolder(run_dir)
    status = folder.read_status()
    if status.get("state") not in ACTIVE_STATES:
        return status
    pid = status.get("pid")
    create_time = status.get("pid_create_time")
    killed = False
    if pid is not None and is_alive(status):
        pid = int(pid)
        folder.write_status(None, stop_requested=utc_now())
        _signal(pid, signal.SIGTERM, group=False)
        if not _wait_gone(pid, create_time, timeout):
            _signal(pid, signal.SIGKILL, group=True)
            killed = True
            _wait_gone(pid, create_time, 5.0)
    elif pid is not None:
        _CHILDREN.pop(int(pid), None)

    current = folder._load_status()  # raw: read_status would say "interrupted"
    if current.get("state") in (*ACTIVE_STATES, "interrupted"):
        note = "stopped by user"
        if killed:
            note += f" (killed after {timeout:g} s without a clean stop)"
        return folder.write_status("stopped", note=note)
    return folder.read_status()
