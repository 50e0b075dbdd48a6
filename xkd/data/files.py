"""Local data files: CSV, TSV, JSONL and Parquet in the xkd schema.

Every reader returns a *raw* frame (see ``xkd.data.schema``) with the schema columns it found,
plus ``_file`` and ``_row`` (the line or row number a user sees: for CSV/TSV the header is
line 1, for JSONL the line number, for Parquet the 1-based row index). They read a file whole;
:func:`xkd.data.stream.read_batches` calls them for files up to ``WHOLE_FILE_BYTES`` and streams
larger ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from xkd.data.delimited import parse_csv, parse_tsv
from xkd.data.schema import COLUMNS, REQUIRED_COLUMNS, missing_columns_problem
from xkd.errors import DataError

SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}


def file_format(path: str | os.PathLike) -> str | None:
    return SUFFIXES.get(Path(path).suffix.lower())


# -- bytes -> text ----------------------------------------------------------------------------
def read_text(path: str | os.PathLike, kind: str = "text") -> str:
    """Read a whole text file as strict UTF-8, with clear errors for binary and empty files
    (files over ``stream.WHOLE_FILE_BYTES`` are streamed by :mod:`xkd.data.stream` instead)."""
    file = str(path)
    if os.stat(path).st_size == 0:
        raise DataError(f"is empty; a {kind} file needs a header line and rows.", file=file)
    with open(path, "rb") as fh:
        data = fh.read()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(
            "is UTF-16 encoded; re-save it as UTF-8 (in a spreadsheet: 'CSV UTF-8').", file=file
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    head = data[:8192]
    if b"\x00" in head:
        hint = ""
        if data.startswith(b"PAR1"):
            hint = " It looks like Parquet: give it the .parquet suffix."
        elif data.startswith(b"PK\x03\x04"):
            hint = " It looks like a zip archive (or an .xlsx workbook): export it as CSV."
        raise DataError(
            f"looks like a binary file, not {kind} text (it contains NUL bytes).{hint}", file=file
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(
            f"is not valid UTF-8: byte 0x{data[e.start]:02x} on this line cannot be decoded (the "
            "file is probably Latin-1 or Windows-1252). Re-save it as UTF-8.",
            file=file,
            row=line,
        ) from None
    if not text.strip():
        raise DataError(f"is empty (only whitespace); a {kind} file needs rows.", file=file)
    return text


# -- CSV / TSV ---------------------------------------------------------------------------------
# parse_tsv / parse_csv live in xkd.data.delimited (re-exported here).


def resolve_columns(
    found: Sequence[str],
    columns: Mapping[str, str] | None,
    file: str,
    defaults: Mapping[str, str | Sequence[str]] | None = None,
    required: Sequence[str] = REQUIRED_COLUMNS,
) -> dict[str, str]:
    """Map schema names to source column names.

    ``columns`` is the user's ``{schema_name: file_column}``; ``defaults`` are layout-specific
    names (one, or several tried in order) used when the schema name itself is absent
    (SIB-200's ``index_id``, ``category``).
    Raises ``DataError`` for unknown schema names, mapped columns that are not there and
    required columns that cannot be found.
    """
    columns = dict(columns or {})
    found_set = set(found)
    for key, value in columns.items():
        if key not in COLUMNS:
            hint = ""
            if value in COLUMNS:
                hint = (
                    f" The mapping goes schema name -> file column: did you mean "
                    f"{{'{value}': '{key}'}}?"
                )
            raise DataError(
                f"the `columns` option names '{key}', which is not a schema column "
                f"({', '.join(COLUMNS)}).{hint}",
                file=file,
                field=key,
            )
        if value not in found_set:
            raise DataError(
                f"the `columns` option maps '{key}' to column '{value}', which is not there. "
                f"Columns found: {', '.join(repr(c) for c in found) or 'none'}.",
                file=file,
                field=key,
            )
    mapping: dict[str, str] = {}
    for name in COLUMNS:
        if name in columns:
            mapping[name] = columns[name]
        elif name in found_set:
            mapping[name] = name
        elif defaults:
            candidates = defaults.get(name) or ()
            candidates = (candidates,) if isinstance(candidates, str) else candidates
            match = next((c for c in candidates if c in found_set), None)
            if match is not None:
                mapping[name] = match
    missing = [c for c in required if c not in mapping]
    if missing:
        raise missing_columns_problem(missing, found, file).to_error()
    return mapping


def _records_frame(
    header: Sequence[str],
    records: Sequence[tuple[int, Sequence[object]]],
    mapping: Mapping[str, str],
    file: str,
) -> pd.DataFrame:
    index = {name: i for i, name in enumerate(header)}
    data = {
        schema: pd.Series([r[1][index[col]] for r in records], dtype=object)
        for schema, col in mapping.items()
    }
    data["_file"] = pd.Series([file] * len(records), dtype=object)
    data["_row"] = pd.Series([r[0] for r in records], dtype=object)
    return _with_ignored(pd.DataFrame(data), header, mapping)


def _with_ignored(
    frame: pd.DataFrame, found: Sequence[str], mapping: Mapping[str, str]
) -> pd.DataFrame:
    """Record the source columns outside the schema (ignored) in ``frame.attrs``."""
    used = set(mapping.values())
    frame.attrs["ignored_columns"] = [c for c in found if c not in used]
    return frame


def no_rows_error(header: Sequence[str], file: str, what: str = "a header") -> DataError:
    """The error for a file that names its columns but holds no rows (training refuses it)."""
    return DataError(
        f"has {what} but no data rows (columns: {', '.join(header) or 'none'}); add the rows, "
        "or leave this file out.",
        file=file,
    )


def _check_header(header: Sequence[str], file: str) -> None:
    seen = set()
    for name in header:
        if name in seen:
            raise DataError(f"the header names column '{name}' twice.", file=file, row=1)
        seen.add(name)


def read_delimited(
    path: str | os.PathLike,
    delimiter: str,
    columns: Mapping[str, str] | None = None,
    *,
    defaults: Mapping[str, str | Sequence[str]] | None = None,
    required: Sequence[str] = REQUIRED_COLUMNS,
) -> pd.DataFrame:
    file = str(path)
    kind = "TSV" if delimiter == "\t" else "CSV"
    text = read_text(path, kind)
    header, records = (parse_tsv if delimiter == "\t" else parse_csv)(text, file)
    _check_header(header, file)
    mapping = resolve_columns(header, columns, file, defaults, required)
    if not records:
        raise no_rows_error(header, file)
    return _records_frame(header, records, mapping, file)


# -- JSONL -------------------------------------------------------------------------------------
def read_jsonl(
    path: str | os.PathLike,
    columns: Mapping[str, str] | None = None,
    *,
    defaults: Mapping[str, str | Sequence[str]] | None = None,
    required: Sequence[str] = REQUIRED_COLUMNS,
) -> pd.DataFrame:
    file = str(path)
    text = read_text(path, "JSONL")
    found: dict[str, None] = {}
    objects: list[tuple[int, dict]] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(
                f"line {lineno} is not valid JSON ({e.msg} at column {e.colno}). Each line must "
                'be one JSON object, e.g. {"text": "...", "label": "...", "language": "en"}.',
                file=file,
                row=lineno,
            ) from None
        if not isinstance(obj, dict):
            raise DataError(
                f"line {lineno} is a JSON {type(obj).__name__}, not an object "
                '({"text": ..., "language": ...}).',
                file=file,
                row=lineno,
            )
        for key in obj:
            found.setdefault(str(key), None)
        objects.append((lineno, obj))
    mapping = resolve_columns(list(found), columns, file, defaults, required)
    data = {
        schema: pd.Series([o.get(col) for _, o in objects], dtype=object)
        for schema, col in mapping.items()
    }
    data["_file"] = pd.Series([file] * len(objects), dtype=object)
    data["_row"] = pd.Series([n for n, _ in objects], dtype=object)
    return _with_ignored(pd.DataFrame(data), list(found), mapping)


# -- Parquet -----------------------------------------------------------------------------------
def read_parquet(
    path: str | os.PathLike,
    columns: Mapping[str, str] | None = None,
    *,
    defaults: Mapping[str, str | Sequence[str]] | None = None,
    required: Sequence[str] = REQUIRED_COLUMNS,
) -> pd.DataFrame:
    file = str(path)
    if os.stat(path).st_size == 0:
        raise DataError("is empty (0 bytes), not a Parquet file.", file=file)
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"PAR1":
        raise DataError(
            "is not a Parquet file (it does not start with PAR1). Check that the suffix matches "
            "the format (.csv, .tsv, .jsonl, .parquet).",
            file=file,
        )
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        found = list(pf.schema_arrow.names)
        mapping = resolve_columns(found, columns, file, defaults, required)
        table = pf.read(columns=sorted(set(mapping.values())))
    except DataError:
        raise
    except Exception as e:  # pyarrow raises ArrowInvalid, OSError, ...
        raise DataError(f"cannot be read as Parquet: {e}", file=file) from None
    n = table.num_rows
    if n == 0:
        raise no_rows_error(found, file, what="a schema")
    data = {
        schema: pd.Series(table.column(col).to_pylist(), dtype=object)
        for schema, col in mapping.items()
    }
    data["_file"] = pd.Series([file] * n, dtype=object)
    data["_row"] = pd.Series(range(1, n + 1), dtype=object)
    return _with_ignored(pd.DataFrame(data), found, mapping)


def read_file(
    path: str | os.PathLike,
    columns: Mapping[str, str] | None = None,
    *,
    defaults: Mapping[str, str | Sequence[str]] | None = None,
    required: Sequence[str] = REQUIRED_COLUMNS,
) -> pd.DataFrame:
    """Read one data file into a raw frame, dispatching on its suffix (``defaults`` and
    ``required``: see :func:`resolve_columns`)."""
    kind = file_format(path)
    common = {"defaults": defaults, "required": required}
    if kind == "csv":
        return read_delimited(path, ",", columns, **common)
    if kind == "tsv":
        return read_delimited(path, "\t", columns, **common)
    if kind == "jsonl":
        return read_jsonl(path, columns, **common)
    if kind == "parquet":
        return read_parquet(path, columns, **common)
    raise DataError(
        f"has an unsupported suffix '{Path(path).suffix}'; data files must be "
        f"{', '.join(SUFFIXES)}.",
        file=str(path),
    )
