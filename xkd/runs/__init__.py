"""Run folders ``runs/<run_id>/``: the typed contract between the experiment, the CLI and the app.

- :mod:`xkd.runs.folder`: :class:`RunFolder` owns every path of a run folder; atomic writes;
  the truthful status.
- :mod:`xkd.runs.schema`: the records of ``status.json``, ``eval.json`` (with its headline)
  and ``metrics.jsonl`` (each record says its ``kind``).
- :mod:`xkd.runs.run`: :class:`Run`, the one run object for listings, the CLI and the app.
- :mod:`xkd.runs.ids`: run ids and safe paths built from them.
- :mod:`xkd.runs.lock`: one run per device (lock, busy policy, device names).
- :mod:`xkd.runs.process`: starting a run in a subprocess, and stopping it.

Importing this package has no side effects and does not import torch.
"""

from xkd.runs.folder import (
    ACTIVE_STATES,
    STATES,
    RunFolder,
    atomic_write_json,
    atomic_write_text,
    pid_alive,
    process_create_time,
    redact,
    utc_now,
)
from xkd.runs.ids import (
    RUN_ID_PATTERN,
    create_run_folder,
    is_valid_run_id,
    new_run_id,
    safe_run_path,
    slugify,
)
from xkd.runs.lock import DeviceBusyError, DeviceLock, acquire_device, busy_message, device_name
from xkd.runs.process import default_command, is_alive, launch_run, stop_run
from xkd.runs.run import Run, default_runs_dir, delete_run, list_runs, load_run
from xkd.runs.schema import Headline, read_metrics

__all__ = [
    "ACTIVE_STATES",
    "RUN_ID_PATTERN",
    "STATES",
    "DeviceBusyError",
    "DeviceLock",
    "Headline",
    "Run",
    "RunFolder",
    "acquire_device",
    "atomic_write_json",
    "atomic_write_text",
    "busy_message",
    "create_run_folder",
    "default_command",
    "default_runs_dir",
    "delete_run",
    "device_name",
    "is_alive",
    "is_valid_run_id",
    "launch_run",
    "list_runs",
    "load_run",
    "new_run_id",
    "pid_alive",
    "process_create_time",
    "read_metrics",
    "redact",
    "safe_run_path",
    "slugify",
    "stop_run",
    "utc_now",
]
