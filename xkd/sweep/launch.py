"""Starting a sweep in the background (the app's one-click ablations) and stopping it.

``launch_sweep`` writes the sweep folder first (every member validated, so a bad ablation is
refused on screen before any process starts), then runs ``xkd sweep --resume <folder>`` in a
detached process whose output goes to ``sweep.log``. Each member then takes the device
through the queue, like any run.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from xkd.runs.folder import ACTIVE_STATES, RunFolder
from xkd.runs.launch import child_env
from xkd.runs.process import spawn, stop_run
from xkd.sweep.folder import SweepFolder
from xkd.sweep.runner import start_sweep
from xkd.sweep.spec import SweepSpec

__all__ = ["launch_sweep", "resume_in_background", "stop_sweep"]


def launch_sweep(spec: SweepSpec, runs_dir: str | os.PathLike) -> tuple[SweepFolder, int]:
    """Write ``spec``'s sweep folder in ``runs_dir`` and start it; returns (folder, pid)."""
    base = Path(runs_dir).resolve()
    folder = start_sweep(spec, runs_dir=base)
    return folder, resume_in_background(folder, base)


def resume_in_background(folder: SweepFolder, runs_dir: str | os.PathLike) -> int:
    """Run (or continue) the sweep in ``folder`` in a detached process; returns its pid."""
    base = Path(runs_dir).resolve()
    argv = [sys.executable, "-m", "xkd.cli", "sweep", "--resume", str(folder.path)]
    argv += ["--runs-dir", str(base), "--quiet"]
    env = child_env() | {"XKD_RUNS_DIR": str(base), "PYTHONUNBUFFERED": "1"}
    return spawn(argv, log_path=folder.log_path, env=env, what="sweep")


def stop_sweep(folder: SweepFolder, timeout: float = 10) -> str:
    """Stop a running sweep: its current member stops with a checkpoint (the sweep process
    then ends ``stopped``; ``xkd sweep --resume`` continues it). Returns the member's state."""
    manifest = folder.read_manifest()
    if manifest is None or not manifest.active:
        return manifest.shown_state() if manifest else "missing"
    current = next((m for m in manifest.members if m.name == manifest.current), None)
    if current is not None and current.run_id:
        run_dir = folder.runs_dir / current.run_id
        if RunFolder(run_dir).read_status().get("state") in ACTIVE_STATES:
            return str(stop_run(run_dir, timeout=timeout).get("state"))
    os.kill(manifest.pid, signal.SIGTERM)  # between members: the next one sees the stop
    return "stopped"
