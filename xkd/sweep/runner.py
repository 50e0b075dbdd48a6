"""Running a sweep: its members one after another, each a normal run through the device queue.

``run_sweep(spec, runs_dir=...)`` creates the sweep folder, validates every member's config,
then runs each member with :class:`~xkd.experiment.Experiment` (``wait=True``: members queue
behind any run holding the device) and the sweep's :class:`~xkd.experiment.shared.SharedStore`,
so the teacher is paid once and each distinct baseline trained once. ``resume_sweep(folder)``
continues a stopped or killed sweep: finished members are kept, a member that was running
resumes from its checkpoint, the rest run.
"""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from xkd.errors import XKDError
from xkd.experiment import Experiment
from xkd.experiment.shared import SharedStore
from xkd.runs.folder import RunFolder, utc_now
from xkd.runs.ids import create_run_folder
from xkd.runs.procs import process_create_time
from xkd.sweep.folder import Manifest, MemberRecord, SweepFolder, create_sweep_folder
from xkd.sweep.spec import Member, SweepSpec, load_sweep
from xkd.train.callbacks import Callback

__all__ = ["SweepResult", "resume_sweep", "run_sweep", "start_sweep"]


@dataclass(frozen=True)
class SweepResult:
    folder: SweepFolder
    state: str  # finished | stopped
    manifest: Manifest


def start_sweep(spec: SweepSpec | dict | str | os.PathLike, *, runs_dir) -> SweepFolder:
    """Validate every member and write the sweep folder (``sweep.yaml``, the manifest with
    every member pending); nothing trains yet. Returns the folder."""
    spec = spec if isinstance(spec, SweepSpec) else load_sweep(spec)
    members = spec.members()  # every config checked before any folder or work
    folder = create_sweep_folder(runs_dir, spec.name)
    folder.spec_path.write_text(spec.to_yaml(), encoding="utf-8")
    manifest = Manifest(
        sweep_id=folder.sweep_id,
        name=spec.name,
        question=spec.question,
        kind=spec.kind,
        varied=spec.varied_keys(),
        members=[MemberRecord(name=m.name, overrides=m.overrides) for m in members],
        started=utc_now(),
    )
    folder.write_manifest(manifest)
    return folder


def run_sweep(
    spec: SweepSpec | dict | str | os.PathLike,
    *,
    runs_dir,
    callbacks: list[Callback] | None = None,
    on_member=None,
) -> SweepResult:
    """Start a sweep and run it to the end (or a stop); see the module docstring."""
    folder = start_sweep(spec, runs_dir=runs_dir)
    return resume_sweep(folder, callbacks=callbacks, on_member=on_member)


def resume_sweep(
    folder: SweepFolder | str | os.PathLike,
    *,
    callbacks: list[Callback] | None = None,
    on_member=None,
) -> SweepResult:
    """Run the members of ``folder`` that have not finished. ``callbacks`` go to every
    member's experiment (a stop request stops the member and the sweep); ``on_member(record,
    manifest)`` is called when a member starts and when it ends."""
    folder = folder if isinstance(folder, SweepFolder) else SweepFolder(folder)
    spec = load_sweep(folder.spec_path)
    members = {m.name: m for m in spec.members()}
    manifest = folder.read_manifest()
    if manifest is None:
        raise XKDError(f"{folder.manifest_path} is missing or unreadable: not a sweep folder")
    store = SharedStore(folder.shared_dir)
    manifest.state, manifest.pid = "running", os.getpid()
    manifest.pid_create_time = process_create_time(os.getpid())
    folder.write_manifest(manifest)
    for record in manifest.members:
        if _finished(folder, record):
            record.state = "finished"
            continue
        if any(cb.should_stop() for cb in callbacks or []):  # stopped between two members
            manifest.state, manifest.current, manifest.pid = "stopped", None, None
            folder.write_manifest(manifest)
            return SweepResult(folder, "stopped", manifest)
        manifest.current = record.name
        record.state, record.error = "running", ""
        folder.write_manifest(manifest)
        if on_member:
            on_member(record, manifest)
        state = _run_member(folder, record, members[record.name], store, callbacks, manifest)
        record.state = state
        folder.write_manifest(manifest)
        if on_member:
            on_member(record, manifest)
        if state == "stopped":
            manifest.state, manifest.current, manifest.pid = "stopped", None, None
            folder.write_manifest(manifest)
            return SweepResult(folder, "stopped", manifest)
    manifest.state, manifest.current, manifest.pid = "finished", None, None
    folder.write_manifest(manifest)
    return SweepResult(folder, "finished", manifest)


def _finished(folder: SweepFolder, record: MemberRecord) -> bool:
    if not record.run_id:
        return False
    run = RunFolder(folder.runs_dir / record.run_id)
    return run.exists() and run.read_status().get("state") == "finished"


def _run_member(folder, record, member: Member, store, callbacks, manifest) -> str:
    """One member's run; returns its state (finished | stopped | failed)."""
    runs_dir = folder.runs_dir
    resume = False
    if record.run_id and (runs_dir / record.run_id).is_dir():
        run_dir = runs_dir / record.run_id
        resume = (run_dir / "config.yaml").is_file()
    else:
        record.run_id, run_dir = create_run_folder(runs_dir, f"{manifest.name}-{member.name}")
        folder.write_manifest(manifest)
    config = member.config
    if not config.name:
        config.name = f"{manifest.name}-{member.name}"
    experiment = Experiment(
        config,
        run_dir=run_dir,
        runs_dir=runs_dir,
        callbacks=list(callbacks or []),
        resume=resume,
        wait=True,
        shared=store,
    )
    try:
        result = experiment.run()
    except KeyboardInterrupt:
        return "stopped"
    except Exception as exc:  # noqa: BLE001 - one member failing does not stop the sweep
        record.error = str(exc) if isinstance(exc, XKDError) else f"{type(exc).__name__}: {exc}"
        _log(folder, f"member {record.name} failed: {record.error}\n{traceback.format_exc()}")
        print(f"xkd: sweep member {record.name} failed: {record.error}", file=sys.stderr)
        return "failed"
    return "stopped" if result.stopped else "finished"


def _log(folder: SweepFolder, text: str) -> None:
    with Path(folder.log_path).open("a", encoding="utf-8") as fh:
        fh.write(f"{utc_now()} {text}\n")
