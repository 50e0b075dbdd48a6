"""Files the app takes in and hands out: uploaded data files, a data summary, model zips.

Uploads are stored under ``<runs folder>/uploads/`` with a sanitised name and a content hash;
a trained model folder is exported as a zip built in memory.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from pathlib import Path

from xkd.errors import ConfigError

UPLOAD_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")


# ------------------------------------------------------------------------------------ data


def sanitise_filename(name: str) -> str:
    """A safe file name from an uploaded one: base name only, ``[A-Za-z0-9._-]``, known suffix."""
    base = os.path.basename(str(name).replace("\\", "/")) or "upload"
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    suffix = "." + suffix.lower() if suffix else ""
    if suffix not in UPLOAD_SUFFIXES:
        raise ConfigError(
            f"uploaded file {name!r}: use a {', '.join(UPLOAD_SUFFIXES)} file "
            "(see docs/data.md for the columns)"
        )
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-.")[:60] or "upload"
    return stem + suffix


def save_upload(runs_dir: str | os.PathLike, filename: str, data: bytes) -> Path:
    """Store an uploaded data file as ``runs_dir/uploads/<name>-<hash8><suffix>``.

    The content hash keeps two different files with one name apart and makes a re-upload of
    the same file reuse the stored copy. Returns the absolute path.
    """
    safe = sanitise_filename(filename)
    stem, suffix = os.path.splitext(safe)
    digest = hashlib.sha256(data).hexdigest()[:8]
    folder = Path(runs_dir).resolve() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}-{digest}{suffix}"
    if not path.exists():
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return path


def data_summary(path: str, columns: dict | None = None):
    """``(dataset, None)`` for a readable local source, else ``(None, reason)``.

    Hugging Face ids are not read here (they may need a download); the Lab then asks for the
    languages as text.
    """
    from xkd.errors import XKDError

    path = (path or "").strip()
    if not path:
        return None, "no data path yet"
    if path.startswith("hf:"):
        return None, "Hugging Face data is read when the run starts; type the languages"
    try:
        from xkd.data import load_data

        return load_data(path, columns=columns or None), None
    except XKDError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - any reader failure is shown, not raised
        return None, f"{type(exc).__name__}: {exc}"


# ---------------------------------------------------------------------------------- export


def model_zip(run_dir: str | os.PathLike, model: str = "student") -> bytes:
    """A zip (in memory) of the run's ``<model>/`` folder, files under ``<run_id>-<model>/``."""
    folder = Path(run_dir) / model
    if not folder.is_dir():
        raise ConfigError(f"run {Path(run_dir).name} has no {model}/ folder (did it finish?)")
    buf = io.BytesIO()
    prefix = f"{Path(run_dir).name}-{model}"
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                zf.write(file, f"{prefix}/{file.relative_to(folder).as_posix()}")
    return buf.getvalue()
