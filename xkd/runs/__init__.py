"""Run folders ``runs/<run_id>/``: atomic files, truthful status, listing, launch and stop.

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
from xkd.runs.process import default_command, is_alive, launch_run, stop_run
from xkd.runs.registry import (
    DeviceLock,
    RunInfo,
    default_runs_dir,
    delete_run,
    list_runs,
    read_run,
    runs_table,
)

__all__ = [
    "ACTIVE_STATES",
    "RUN_ID_PATTERN",
    "STATES",
    "DeviceLock",
    "RunFolder",
    "RunInfo",
    "atomic_write_json",
    "atomic_write_text",
    "create_run_folder",
    "default_command",
    "default_runs_dir",
    "delete_run",
    "is_alive",
    "is_valid_run_id",
    "launch_run",
    "list_runs",
    "new_run_id",
    "pid_alive",
    "process_create_time",
    "read_run",
    "redact",
    "runs_table",
    "safe_run_path",
    "slugify",
    "stop_run",
    "utc_now",
]
