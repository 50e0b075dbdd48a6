"""Parsing CSV and TSV text into a header and ``(line number, fields)`` records.

Line numbers are what a user sees in an editor (the header is line 1); a quoted field may span
lines. Errors are :class:`~xkd.errors.DataError` naming the file and line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from xkd.errors import DataError


def _unquote(field: str) -> str:
    """Undo CSV quoting of one field: ``"a ""b"" c"`` -> ``a "b" c``; anything else as is."""
    if len(field) >= 2 and field[0] == '"' and field[-1] == '"':
        inner = field[1:-1]
        if '"' not in inner.replace('""', ""):
            return inner.replace('""', '"')
    return field


def _csv_one(lines: Sequence[str], delimiter: str) -> tuple[list[str] | None, int]:
    """Parse one record with the csv module from ``lines``; return it and the lines used."""
    reader = csv.reader(iter(lines), delimiter=delimiter, strict=False)
    try:
        record = next(reader)
    except (csv.Error, StopIteration):
        return None, 0
    return record, reader.line_num


def parse_tsv(text: str, file: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Parse TSV text into ``(header, [(line_number, fields), ...])``.

    Each line is split on tabs; a field wrapped in quotes with doubled inner quotes (how
    pandas and SIB-200 write text containing ``"``) is unquoted, any other quote is kept as
    written. A line whose tab count does not match the header is re-read with Python's csv
    quoting rules, for quoted fields that contain tabs or line breaks.
    """
    lines = io.StringIO(text, newline="").readlines()
    header: list[str] | None = None
    records: list[tuple[int, list[str]]] = []
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\r\n")
        lineno = i + 1
        if not line.strip():
            i += 1
            continue
        parts = line.split("\t")
        if header is None:
            header = [_unquote(p).strip() for p in parts]
            i += 1
            continue
        if len(parts) == len(header):
            records.append((lineno, [_unquote(p) for p in parts]))
            i += 1
            continue
        if '"' in line:
            record, used = _csv_one(lines[i:], "\t")
            if record is not None and len(record) == len(header):
                records.append((lineno, record))
                i += used
                continue
        raise DataError(
            f"has {len(parts)} tab-separated fields but the header has {len(header)} "
            f"({', '.join(header)}). Check for missing or extra tabs on this line.",
            file=file,
            row=lineno,
        )
    return header or [], records


def parse_csv(text: str, file: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Parse CSV text with Python's csv module (strict quoting) into header and records."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    records: list[tuple[int, list[str]]] = []
    prev = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise DataError(
                f"cannot be parsed as CSV ({e}). A field that starts with a quote must end with "
                'one, and quotes inside it must be doubled ("").',
                file=file,
                row=prev + 1,
            ) from None
        lineno, prev = prev + 1, reader.line_num
        if not fields or not any(f.strip() for f in fields):
            continue
        if header is None:
            header = [f.strip() for f in fields]
            continue
        if len(fields) != len(header):
            raise DataError(
                f"has {len(fields)} comma-separated fields but the header has {len(header)} "
                f"({', '.join(header)}). Quote texts that contain commas.",
                file=file,
                row=lineno,
            )
        records.append((lineno, fields))
    return header or [], records


# -- column mapping ----------------------------------------------------------------------------
