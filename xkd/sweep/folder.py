"""The sweep folder: ``<runs dir>/sweeps/<sweep id>/``.

::

    sweep.yaml       the sweep (base config, variants, grid), as given
    manifest.json    the typed record below: the members, each with its run id and state
    shared/          what members share (xkd.experiment.shared.SharedStore): the teacher cache,
                     the teacher head, the no-KD baselines; read-only files

Members are ordinary run folders in the runs dir (``<runs dir>/<run id>/``), so every page
and command that reads a run reads a member; the manifest names them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from xkd.errors import ConfigError
from xkd.runs.folder import utc_now
from xkd.runs.ids import create_run_folder, is_valid_run_id, safe_run_path

__all__ = [
    "MANIFEST_FORMAT",
    "Manifest",
    "MemberRecord",
    "SweepFolder",
    "create_sweep_folder",
    "find_sweep",
    "list_sweeps",
    "sweeps_dir",
]

MANIFEST_FORMAT = 1
#: member states: pending (not started) | running | finished | stopped | failed
MEMBER_STATES = ("pending", "running", "finished", "stopped", "failed")


@dataclass
class MemberRecord:
    name: str
    overrides: dict[str, Any]
    run_id: str | None = None
    state: str = "pending"
    error: str = ""


@dataclass
class Manifest:
    """``manifest.json``: the sweep's members in order and how far it got.

    ``state``: pending | running | finished | stopped | failed (a member failing does not stop
    the others; the sweep then ends ``finished`` and the member says ``failed``)."""

    sweep_id: str
    name: str
    question: str
    kind: str
    varied: list[str]
    members: list[MemberRecord]
    state: str = "pending"
    current: str | None = None
    pid: int | None = None
    pid_create_time: float | None = None
    started: str = ""
    updated: str = ""
    format: int = MANIFEST_FORMAT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Manifest:
        """Strict: unknown fields are an error (a newer xkd wrote it)."""
        data = dict(data)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown manifest.json field(s) {', '.join(unknown)}")
        members = []
        for m in data.pop("members", []):
            extra = sorted(set(m) - {f.name for f in fields(MemberRecord)})
            if extra:
                raise ValueError(f"unknown manifest member field(s) {', '.join(extra)}")
            members.append(MemberRecord(**m))
        return cls(members=members, **data)

    def member(self, name: str) -> MemberRecord:
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError(name)

    @property
    def active(self) -> bool:
        """Running in a live process (a killed sweep's manifest still says running)."""
        from xkd.runs.procs import pid_alive

        return (
            self.state == "running"
            and self.pid is not None
            and pid_alive(self.pid, self.pid_create_time)
        )

    def shown_state(self) -> str:
        """``state``, except ``interrupted`` for a sweep whose process died while running."""
        return "interrupted" if self.state == "running" and not self.active else self.state

    def counts(self) -> dict[str, int]:
        return {s: sum(m.state == s for m in self.members) for s in MEMBER_STATES}


class SweepFolder:
    """Paths and atomic reads/writes of one sweep folder."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    @property
    def sweep_id(self) -> str:
        return self.path.name

    @property
    def spec_path(self) -> Path:
        return self.path / "sweep.yaml"

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def shared_dir(self) -> Path:
        return self.path / "shared"

    @property
    def runs_dir(self) -> Path:
        """The runs dir the members live in (the folder above ``sweeps/``)."""
        return self.path.parent.parent

    @property
    def log_path(self) -> Path:
        return self.path / "sweep.log"

    def write_manifest(self, manifest: Manifest) -> None:
        manifest.updated = utc_now()
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest.to_dict(), indent=2), encoding="utf-8")
        tmp.replace(self.manifest_path)

    def read_manifest(self) -> Manifest | None:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return Manifest.from_dict(data)


def sweeps_dir(runs_dir: str | os.PathLike) -> Path:
    return Path(runs_dir) / "sweeps"


def create_sweep_folder(runs_dir: str | os.PathLike, name: str) -> SweepFolder:
    _, path = create_run_folder(sweeps_dir(runs_dir), name)
    return SweepFolder(path)


def list_sweeps(runs_dir: str | os.PathLike) -> list[SweepFolder]:
    """The sweeps of a runs dir with a readable manifest, newest first."""
    base = sweeps_dir(runs_dir)
    if not base.is_dir():
        return []
    found = [
        SweepFolder(p)
        for p in base.iterdir()
        if p.is_dir() and is_valid_run_id(p.name) and (p / "manifest.json").is_file()
    ]
    return sorted(found, key=lambda f: f.sweep_id, reverse=True)


def find_sweep(runs_dir: str | os.PathLike, ref: str) -> SweepFolder:
    """A sweep by id (in ``<runs dir>/sweeps``) or folder path; ConfigError when there is none."""
    path = Path(ref)
    if not (path / "manifest.json").is_file():
        if not is_valid_run_id(ref):
            raise ConfigError(f"no sweep folder {ref!r} (give a sweep id or a sweep folder)")
        path = safe_run_path(sweeps_dir(runs_dir), ref)
    if not (path / "manifest.json").is_file():
        raise ConfigError(f"no sweep {ref!r} in {sweeps_dir(runs_dir)}")
    return SweepFolder(path)
