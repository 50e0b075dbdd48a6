"""Data files of any size, read a batch at a time.

Files up to :data:`WHOLE_FILE_BYTES` are read whole by :mod:`xkd.data.files` (every error names
its exact line). Larger ones are streamed: CSV and TSV through pandas' chunked reader, JSONL
line by line in chunks, Parquet by record batches (pyarrow), :data:`BATCH_ROWS` rows at a time,
so the memory a file costs is what the run keeps of it (see :class:`xkd.data.sampling.TrainCap`),
not its size. In a streamed file a row number counts data rows after the header, so it is the
line number unless a quoted field holds a line break.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pandas as pd

from xkd.data import files
from xkd.data.sampling import capped
from xkd.data.schema import REQUIRED_COLUMNS
from xkd.errors import DataError

__all__ = [
    "BATCH_ROWS",
    "WHOLE_FILE_BYTES",
    "read_batches",
    "read_capped",
    "streamed",
    "table_chunks",
]

#: Files up to this size are read whole; larger files are streamed.
#: Tests monkeypatch it; read it as ``stream.WHOLE_FILE_BYTES`` so that patches apply.
WHOLE_FILE_BYTES = 512 * 1024 * 1024
BATCH_ROWS = 50_000  # rows read at a time from a streamed file

#: the row number of a file's first data row (CSV/TSV: the header is line 1)
_FIRST_ROW = {"csv": 2, "tsv": 2, "jsonl": 1, "parquet": 1}


def table_chunks(path: str | os.PathLike, batch_rows: int | None = None) -> Iterator[pd.DataFrame]:
    """A file's rows as frames of ``batch_rows`` rows (all cells as read; nothing read whole)."""
    path, rows = Path(path), batch_rows or BATCH_ROWS
    kind = files.file_format(path)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
                yield batch.to_pandas()
            return
        if kind == "jsonl":
            yield from pd.read_json(path, lines=True, dtype=False, chunksize=rows)
            return
        yield from pd.read_csv(
            path,
            sep="\t" if kind == "tsv" else ",",
            dtype=str,
            keep_default_na=False,
            quoting=csv.QUOTE_NONE if kind == "tsv" else csv.QUOTE_MINIMAL,
            chunksize=rows,
            encoding="utf-8",
        )
    except UnicodeDecodeError:
        raise DataError(
            "is not valid UTF-8 (the file is probably Latin-1 or Windows-1252). Re-save it as "
            "UTF-8.",
            file=str(path),
        ) from None
    except (ValueError, OSError, pd.errors.ParserError) as e:
        raise DataError(f"cannot be read as {(kind or '?').upper()}: {e}", file=str(path)) from None


def _sniff(path: Path, kind: str) -> None:
    """The checks :func:`files.read_text` makes, on the first 8 KB only."""
    with open(path, "rb") as fh:
        head = fh.read(8192)
    if kind == "parquet":
        if not head.startswith(b"PAR1"):
            raise DataError("is not a Parquet file (it does not start with PAR1).", file=str(path))
        return
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError("is UTF-16 encoded; re-save it as UTF-8.", file=str(path))
    if b"\x00" in head:
        raise DataError(
            f"looks like a binary file, not {kind.upper()} text (it contains NUL bytes).",
            file=str(path),
        )


def streamed(path: str | os.PathLike) -> bool:
    """Whether :func:`read_batches` streams this file (a data file over the size limit)."""
    return files.file_format(path) is not None and os.stat(path).st_size > WHOLE_FILE_BYTES


def _streamed(
    path: Path,
    columns: Mapping[str, str] | None,
    defaults: Mapping[str, str | Sequence[str]] | None,
    required: Sequence[str],
) -> Iterator[pd.DataFrame]:
    file, kind = str(path), files.file_format(path) or "?"
    _sniff(path, kind)
    offset, mapping, found = _FIRST_ROW.get(kind, 1), None, []
    for chunk in table_chunks(path):
        if mapping is None:
            found = [str(c) for c in chunk.columns]
            mapping = files.resolve_columns(found, columns, file, defaults, required)
        data = {s: pd.Series(chunk[c].tolist(), dtype=object) for s, c in mapping.items()}
        data["_file"] = pd.Series([file] * len(chunk), dtype=object)
        data["_row"] = pd.Series(range(offset, offset + len(chunk)), dtype=object)
        offset += len(chunk)
        frame = pd.DataFrame(data)
        frame.attrs["ignored_columns"] = [c for c in found if c not in set(mapping.values())]
        yield frame
    if mapping is None:
        raise DataError("has no data rows; add the rows, or leave this file out.", file=file)


def read_batches(
    path: str | os.PathLike,
    columns: Mapping[str, str] | None = None,
    *,
    defaults: Mapping[str, str | Sequence[str]] | None = None,
    required: Sequence[str] = REQUIRED_COLUMNS,
) -> Iterator[pd.DataFrame]:
    """Raw frames of one data file (see :func:`files.read_file`): the whole file as one frame
    when it is at most :data:`WHOLE_FILE_BYTES`, else :data:`BATCH_ROWS` rows at a time."""
    path = Path(path)
    if not streamed(path):
        yield files.read_file(path, columns, defaults=defaults, required=required)
        return
    yield from _streamed(path, columns, defaults, required)


def read_capped(
    path: str | os.PathLike,
    columns: Mapping[str, str] | None = None,
    *,
    cap: int | None,
    fixed: Mapping[str, str] | None = None,
    defaults: Mapping[str, str | Sequence[str]] | None = None,
    required: Sequence[str] = REQUIRED_COLUMNS,
) -> pd.DataFrame:
    """One data file as a raw frame with the rows that ``data.max_train_per_language = cap``
    keeps (:func:`~xkd.data.sampling.capped`); ``fixed`` sets columns that the file's place
    gives (a folder's ``language`` and ``split``). A streamed file is read once per pass, so
    memory follows ``cap``, not the file."""
    return capped(
        file_batches(path, columns, fixed=fixed, defaults=defaults, required=required), cap
    )


def file_batches(
    path: str | os.PathLike,
    columns: Mapping[str, str] | None = None,
    *,
    fixed: Mapping[str, str] | None = None,
    defaults: Mapping[str, str | Sequence[str]] | None = None,
    required: Sequence[str] = REQUIRED_COLUMNS,
) -> Callable[[], Iterator[pd.DataFrame]]:
    """A function that yields the raw batches of one file each time it is called: a file read
    whole is read now, once; a streamed one is read again on each call."""

    def fix(batch: pd.DataFrame) -> pd.DataFrame:
        for name, value in (fixed or {}).items():
            batch[name] = value
        return batch

    if not streamed(path):
        whole = [fix(files.read_file(path, columns, defaults=defaults, required=required))]
        return lambda: iter(whole)
    return lambda: (fix(b) for b in _streamed(Path(path), columns, defaults, required))
