"""The one schema every data source is turned into: ``TextDataset``.

A ``TextDataset`` holds a pandas DataFrame with exactly the columns of ``COLUMNS``:

- ``text`` (str, never empty),
- ``label`` (str, or ``None`` for an unlabelled row),
- ``language`` (str),
- ``split`` (``train``, ``dev`` or ``test``),
- ``pair_id`` (str or ``None``): rows sharing a ``pair_id`` are translations of each other;
  a ``pair_id`` occurs at most once per language.

All five columns have ``object`` dtype so that missing values stay ``None``.

Loaders produce a *raw* frame (any subset of the columns, values of any type, plus optional
``_file`` and ``_row`` columns that say where each row came from) and hand it to
``normalise_frame``, which converts the values, collects every problem it finds and returns the
clean frame. ``validate_frame`` does the same but raises the first error as a ``DataError``.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from xkd.errors import DataError

COLUMNS = ("text", "label", "language", "split", "pair_id")
REQUIRED_COLUMNS = ("text", "language")
SPLITS = ("train", "dev", "test")

#: Split names accepted (case-insensitively) and what they become.
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "dev": "dev",
    "development": "dev",
    "val": "dev",
    "valid": "dev",
    "validation": "dev",
    "test": "test",
    "testing": "test",
}

#: Shares (percent) of ``train``/``dev``/``test`` when splits are assigned by hashing.
SPLIT_SHARES = (70, 10, 20)

_MAX_LISTED = 8  # rows or ids listed in one problem message


def bucket(key: str) -> int:
    """A key's 64-bit hash (the first 8 bytes of its SHA-256): splits and samples by hash."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")


def assign_split(key: str) -> str:
    """Deterministic split for a key (a ``pair_id``, or a text when there is none).

    The first 8 bytes of the key's SHA-256 modulo 100 fall in train (0-69), dev (70-79) or
    test (80-99). The same key always lands in the same split, on every machine and Python.
    """
    share = bucket(key) % 100
    if share < SPLIT_SHARES[0]:
        return "train"
    if share < SPLIT_SHARES[0] + SPLIT_SHARES[1]:
        return "dev"
    return "test"


def normalise_split(value: object) -> str | None:
    """``'Validation'`` -> ``'dev'``; ``None`` for a value that is not a known split name."""
    if not isinstance(value, str):
        return None
    return SPLIT_ALIASES.get(value.strip().lower())


def clean_value(value: object) -> str | None:
    """Turn a cell into a stripped str, or ``None`` when it is missing or blank.

    Numbers are written without a spurious ``.0`` so that ``1``, ``1.0`` and ``"1"`` are the
    same label or pair id.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, bytes):
        return clean_value(value.decode("utf-8", errors="replace"))
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    # numpy scalars and friends
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict)):
        try:
            return clean_value(value.item())
        except (TypeError, ValueError):
            pass
    text = str(value).strip()
    return text or None


@dataclass
class Problem:
    """One problem found in a data source. ``fatal`` problems stop ``load_data``."""

    message: str
    file: str | None = None
    row: int | None = None
    field: str | None = None
    fatal: bool = True

    def to_error(self) -> DataError:
        return DataError(self.message, file=self.file, row=self.row, field=self.field)

    def __str__(self) -> str:
        if not self.fatal and self.file is None and self.row is None:
            return self.message
        return str(self.to_error())


def _listing(items: Sequence[object], limit: int = _MAX_LISTED) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    if len(items) > limit:
        shown += f", ... ({len(items) - limit} more)"
    return shown


def missing_columns_problem(
    missing: Sequence[str], found: Iterable[str], file: str | None = None
) -> Problem:
    found = list(found)
    names = ", ".join(f"'{m}'" for m in missing)
    example = ", ".join(f"'{m}': 'your_{m}_column'" for m in missing)
    return Problem(
        f"missing required column{'s' if len(missing) > 1 else ''} {names}. "
        f"Columns found: {', '.join(repr(c) for c in found) or 'none'}. "
        f"If the data names them differently, map them with the `columns` option "
        f"({{schema_name: file_column}}, e.g. columns={{{example}}}).",
        file=file,
        field=missing[0],
    )


def normalise_frame(
    raw: pd.DataFrame, file: str | None = None, first_row: int = 1
) -> tuple[pd.DataFrame, list[Problem]]:
    """Clean a raw frame and collect every problem in it.

    Returns ``(clean, problems)``; ``clean`` has exactly ``COLUMNS`` and leaves out the rows
    with a fatal problem (empty text, no language, bad split). Duplicate pair ids are reported
    as fatal but their rows are kept. ``first_row`` is the number a user sees for the first
    row when ``raw`` has no ``_row`` column (2 for a file with a header line).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        found = [c for c in raw.columns if not str(c).startswith("_")]
        return empty_frame(), [missing_columns_problem(missing, found, file)]

    n = len(raw)
    files = list(raw["_file"]) if "_file" in raw.columns else [file] * n
    rows = list(raw["_row"]) if "_row" in raw.columns else list(range(first_row, first_row + n))

    def column(name: str) -> list:
        return list(raw[name]) if name in raw.columns else [None] * n

    texts, labels, langs = column("text"), column("label"), column("language")
    splits, pairs = column("split"), column("pair_id")
    has_split = "split" in raw.columns

    bad: dict[tuple[str, str | None], list[int]] = defaultdict(list)  # (kind, file) -> rows
    bad_split_values: dict[str | None, list[str]] = defaultdict(list)
    out = {c: [] for c in COLUMNS}
    kept_files: list[str | None] = []
    kept_rows: list[int] = []
    for i in range(n):
        text, lang = texts[i], langs[i]
        ok = True
        if isinstance(text, (list, tuple, dict)):
            text = None
        text = clean_value(text)
        if text is None:
            bad[("text", files[i])].append(rows[i])
            ok = False
        lang = clean_value(lang)
        if lang is None:
            bad[("language", files[i])].append(rows[i])
            ok = False
        pair = clean_value(pairs[i])
        if has_split:
            split = normalise_split(clean_value(splits[i]))
            if split is None:
                bad[("split", files[i])].append(rows[i])
                bad_split_values[files[i]].append(repr(clean_value(splits[i]) or ""))
                ok = False
        else:
            split = assign_split(pair if pair is not None else text or "")
        if not ok:
            continue
        out["text"].append(text)
        out["label"].append(clean_value(labels[i]))
        out["language"].append(lang)
        out["split"].append(split)
        out["pair_id"].append(pair)
        kept_files.append(files[i])
        kept_rows.append(rows[i])

    problems: list[Problem] = []
    for (kind, f), bad_rows in bad.items():
        plural = "s" if len(bad_rows) > 1 else ""
        count = f"{len(bad_rows)} row{plural} (row{plural} {_listing(bad_rows)})"
        if kind == "text":
            msg = (
                f"empty text in {count}; every row needs a non-empty text: fill in or delete "
                "those rows."
            )
        elif kind == "language":
            msg = f"empty language in {count}; every row needs one."
        else:
            values = sorted(set(bad_split_values[f]))
            msg = (
                f"bad split value {_listing(values, 4)} in {count};"
                f" use one of {', '.join(SPLITS)} (validation is read as dev), or leave the "
                "split column out to have splits assigned by hashing."
            )
        problems.append(Problem(msg, file=f, row=bad_rows[0], field=kind))

    clean = pd.DataFrame({c: pd.Series(out[c], dtype=object) for c in COLUMNS})
    problems.extend(_duplicate_pair_problems(clean, kept_files, kept_rows))
    problems.sort(key=lambda p: (p.file or "", p.row or 0))
    return clean, problems


def _duplicate_pair_problems(
    clean: pd.DataFrame, files: list[str | None], rows: list[int]
) -> list[Problem]:
    seen: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, (lang, pair) in enumerate(zip(clean["language"], clean["pair_id"])):
        if pair is not None:
            seen[(lang, pair)].append(i)
    dups = [(key, idx) for key, idx in seen.items() if len(idx) > 1]
    if not dups:
        return []
    by_language: dict[str, list] = defaultdict(list)
    for (lang, pair), idx in dups:
        by_language[lang].append((pair, idx))
    problems = []
    for lang, items in by_language.items():
        examples = []
        for pair, idx in items[:_MAX_LISTED]:
            where = ", ".join(
                f"{files[j]} row {rows[j]}" if files[j] else f"row {rows[j]}" for j in idx[:4]
            )
            examples.append(f"'{pair}' ({where})")
        more = f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
        first = items[0][1]
        problems.append(
            Problem(
                f"{len(items)} duplicate pair_id{'s' if len(items) > 1 else ''} in language "
                f"'{lang}': {'; '.join(examples)}{more}. A pair_id may occur once per "
                "language; give each translation group its own id.",
                file=files[first[1]],
                row=rows[first[1]],
                field="pair_id",
            )
        )
    return problems


def dataset_problems(frame: pd.DataFrame) -> list[Problem]:
    """Non-fatal problems of a clean frame, for ``check_data``."""
    problems: list[Problem] = []
    if frame.empty:
        return [Problem("no rows", fatal=False)]
    languages = sorted(frame["language"].unique())
    labelled = frame[frame["label"].notna()]
    all_labels = sorted(labelled["label"].unique())
    if not all_labels:
        problems.append(
            Problem("no labelled rows: a teacher cannot be trained on this data", fatal=False)
        )
    for lang in languages:
        have = set(labelled.loc[labelled["language"] == lang, "label"])
        if have and len(have) < len(all_labels):
            missing = [lab for lab in all_labels if lab not in have]
            problems.append(
                Problem(
                    f"language '{lang}' has no rows for {len(missing)} of {len(all_labels)} "
                    f"labels: {_listing(missing)}",
                    field="label",
                    fatal=False,
                )
            )
    for lang in languages:
        if not ((frame["language"] == lang) & (frame["split"] == "train")).any():
            problems.append(Problem(f"language '{lang}' has no train rows", fatal=False))

    paired = frame[frame["pair_id"].notna()]
    if len(languages) > 1 and not paired.empty:
        n_langs = paired.groupby("pair_id")["language"].nunique()
        shared = set(n_langs.index[n_langs > 1])
        if not shared:
            problems.append(
                Problem(
                    "no pair_id occurs in more than one language, so there are no translation "
                    "pairs (rows are paired by sharing a pair_id across languages)",
                    fatal=False,
                )
            )
        for lang in languages if shared else []:
            ids = paired.loc[paired["language"] == lang, "pair_id"]
            if len(ids) and not ids.isin(shared).any():
                problems.append(
                    Problem(
                        f"none of the {len(ids)} pair ids of language '{lang}' match a pair id "
                        "in another language, so it has no translation pairs",
                        field="pair_id",
                        fatal=False,
                    )
                )
        multi = paired[paired["pair_id"].isin(shared)]
        n_splits = multi.groupby("pair_id")["split"].nunique()
        straddling = sorted(n_splits.index[n_splits > 1])
        if straddling:
            problems.append(
                Problem(
                    f"{len(straddling)} translation group(s) straddle splits (the same pair_id "
                    f"is in different splits in different languages): {_listing(straddling)}; "
                    "test sentences then leak into training through their translations",
                    field="split",
                    fatal=False,
                )
            )
        lab = multi[multi["label"].notna()]
        n_labels = lab.groupby("pair_id")["label"].nunique()
        disagree = sorted(n_labels.index[n_labels > 1])
        if disagree:
            problems.append(
                Problem(
                    f"{len(disagree)} translation group(s) have different labels in different "
                    f"languages: {_listing(disagree)}",
                    field="label",
                    fatal=False,
                )
            )
    return problems


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in COLUMNS})


def validate_frame(
    frame: pd.DataFrame, file: str | None = None, *, first_row: int = 1
) -> pd.DataFrame:
    """Check and normalise a frame; return it with exactly ``COLUMNS``.

    Raises ``DataError`` (naming ``file``, the row as a user sees it and the field) for a
    missing ``text`` or ``language`` column, an empty text or language, a split other than
    train/dev/test (``validation`` is read as ``dev``) or a pair id repeated within one
    language. Labels are normalised to str (``1`` and ``"1"`` are the same label); a missing
    ``label`` or ``pair_id`` column means ``None``; a missing ``split`` column means splits are
    assigned by hashing the pair id (or the text), see ``assign_split``.
    """
    clean, problems = normalise_frame(frame, file=file, first_row=first_row)
    fatal = [p for p in problems if p.fatal]
    if fatal:
        raise fatal[0].to_error()
    return clean
