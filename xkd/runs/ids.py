"""Run ids (``YYYYmmdd-HHMMSS-<slug>-<4 hex>``), safe paths and collision-free creation."""

from __future__ import annotations

import os
import re
import secrets
from datetime import datetime, timezone
from pathlib import Path

from xkd.errors import ConfigError

__all__ = [
    "RUN_ID_PATTERN",
    "create_run_folder",
    "is_valid_run_id",
    "new_run_id",
    "safe_run_path",
    "slugify",
]

SLUG_MAX = 40
DEFAULT_SLUG = "run"
RUN_ID_PATTERN = re.compile(r"^\d{8}-\d{6}-[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?-[0-9a-f]{4}$")


def slugify(text: str | None) -> str:
    """Lowercase ``text`` to ``[a-z0-9-]``: other runs of characters become one ``-``.

    Leading and trailing dashes are dropped and the result is cut to 40 characters.
    Returns ``"run"`` when nothing is left.
    """
    if not text:
        return DEFAULT_SLUG
    slug = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")
    slug = slug[:SLUG_MAX].strip("-")
    return slug or DEFAULT_SLUG


def _random_suffix() -> str:
    return secrets.token_hex(2)


def new_run_id(name: str | None = None, *, now: datetime | None = None) -> str:
    """``YYYYmmdd-HHMMSS-<slug>-<4 random hex>`` (UTC time, slug from ``name``)."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{slugify(name)}-{_random_suffix()}"


def is_valid_run_id(run_id: str) -> bool:
    """True when ``run_id`` matches the run-id pattern."""
    return isinstance(run_id, str) and RUN_ID_PATTERN.match(run_id) is not None


def safe_run_path(runs_dir: str | os.PathLike, run_id: str) -> Path:
    """Resolve ``runs_dir/run_id``, refusing anything that is not a plain run id.

    Raises :class:`~xkd.errors.ConfigError` for ids containing ``/``, ``\\``, ``..``,
    absolute paths, ids not matching ``YYYYmmdd-HHMMSS-<slug>-<hex4>``, or a result that
    resolves outside ``runs_dir`` (e.g. through a symlink).
    """
    if not isinstance(run_id, str) or not run_id:
        raise ConfigError(f"run id must be a non-empty string, got {run_id!r}")
    if "/" in run_id or "\\" in run_id or ".." in run_id or os.path.isabs(run_id):
        raise ConfigError(f"invalid run id {run_id!r}: it must be a plain folder name")
    if not is_valid_run_id(run_id):
        raise ConfigError(
            f"invalid run id {run_id!r}: expected YYYYmmdd-HHMMSS-<name>-<4 hex>, "
            "as listed by `xkd runs`"
        )
    base = Path(runs_dir).resolve()
    path = (base / run_id).resolve()
    if path.parent != base:
        raise ConfigError(f"run id {run_id!r} resolves outside the runs folder {base}")
    return path


def create_run_folder(
    runs_dir: str | os.PathLike, name: str | None = None, *, max_tries: int = 100
) -> tuple[str, Path]:
    """Create a new, empty run folder with a fresh id; returns ``(run_id, path)``.

    Uses ``os.mkdir`` (which fails if the folder exists) and retries with a new random
    suffix on collision, so two runs never share a folder.
    """
    base = Path(runs_dir)
    base.mkdir(parents=True, exist_ok=True)
    for _ in range(max_tries):
        run_id = new_run_id(name)
        path = safe_run_path(base, run_id)
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        return run_id, path
    raise ConfigError(
        f"could not create a unique run folder in {base} after {max_tries} tries; "
        "check the folder is writable"
    )
