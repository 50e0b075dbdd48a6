"""Starting a training run in the background: a new run folder and ``xkd train`` in a subprocess.

Used by the app's Lab (and ``xkd app --demo``). The device policy is the library's
(:func:`xkd.runs.lock.busy_message`): a busy device refuses the launch with the same message
the CLI gives, before any run folder is made. The child process itself takes the device lock.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from xkd.config import RunConfig, from_dict
from xkd.presets import preset
from xkd.runs.folder import RunFolder
from xkd.runs.ids import create_run_folder
from xkd.runs.lock import DeviceBusyError, busy_message
from xkd.runs.process import launch_run
from xkd.runs.run import list_runs

__all__ = ["DEMO_ENV", "Launched", "child_env", "launch", "maybe_launch_demo"]

#: ``XKD_APP_DEMO=1`` (set by ``xkd app --demo``): launch the demo preset into an empty folder.
DEMO_ENV = "XKD_APP_DEMO"


@dataclass(frozen=True)
class Launched:
    """A run that was started: its id, folder and the pid of its process."""

    run_id: str
    path: Path
    pid: int


def child_env() -> dict[str, str]:
    """This process's environment, with this ``xkd`` importable even when it is not installed."""
    import xkd

    env = dict(os.environ)
    root = str(Path(xkd.__file__).resolve().parent.parent)
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in parts:
        env["PYTHONPATH"] = os.pathsep.join([root, *parts])
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def launch(cfg: RunConfig, runs_dir: str | os.PathLike) -> Launched:
    """Make a run folder for ``cfg`` in ``runs_dir``, write its config, start ``xkd train``.

    Raises :class:`~xkd.runs.lock.DeviceBusyError` (a ConfigError) when the device is busy.
    """
    base = Path(runs_dir).resolve()
    reason = busy_message(base, cfg.train.device)
    if reason:
        raise DeviceBusyError(reason)
    run_id, path = create_run_folder(base, cfg.name or None)
    folder = RunFolder(path).ensure()
    folder.write_config(cfg.to_yaml())
    pid = launch_run(
        folder.config_path,
        path,
        runs_dir=base,
        extra_args=["--runs-dir", str(base), "--quiet"],
        env=child_env(),
    )
    return Launched(run_id, path, pid)


def maybe_launch_demo(runs_dir: str | os.PathLike, env: dict | None = None) -> Launched | None:
    """With ``XKD_APP_DEMO=1`` and no run yet, launch the demo preset once; else ``None``.

    A marker file ``runs_dir/.demo-launched`` (created exclusively) makes this happen once even
    when several browser sessions open at the same time.
    """
    env = os.environ if env is None else env
    if str(env.get(DEMO_ENV, "")).strip().lower() not in ("1", "true", "yes", "on"):
        return None
    base = Path(runs_dir)
    if list_runs(base):
        return None
    base.mkdir(parents=True, exist_ok=True)
    marker = base / ".demo-launched"
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return None
    os.close(fd)
    return launch(from_dict(preset("demo")), base)
