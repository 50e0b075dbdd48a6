"""Parallel corpora apart from the task data (``data.parallel_corpus``).

The field's cross-lingual recipe (Reimers & Gurevych 2020) distils on any parallel corpus
(OPUS, TED2020, Tatoeba, a translation memory) while the task data gives the teacher's labels,
the baseline and the evaluation. :func:`load_parallel` reads a corpus into rows of the xkd
schema (``text``, ``language``, ``pair_id``, ``split``; no ``label``), one translation group per
``pair_id`` (prefixed ``pc:`` so that it never meets a task pair id). Forms:

- a ``.csv``/``.tsv``/``.jsonl``/``.parquet`` file with one column per language (``en``, ``de``,
  ``pt_BR``, ``deu_Latn``, ...; an ``id``/``pair_id`` column is kept as the group id), or with
  ``source`` and ``target`` columns plus ``target_language`` (or ``language``) and optionally
  ``source_language`` (default: ``data.source_language``), or with a ``translation`` column of
  ``{language: text}`` objects (OPUS style);
- a folder of line-aligned text files ``<name>.<language>`` (Moses/OPUS: ``ted.en``,
  ``ted.de``; the cross-lingual retrieval benchmark: ``tatoeba.deu-eng.deu`` and
  ``tatoeba.deu-eng.eng``): files with the same ``<name>`` are matched line by line;
- ``hf:<dataset id>[:<config>]``: ``datasets.load_dataset`` (a ``translation`` column, or one
  column per language), with the usual message when the Hub cannot be reached;
- any task-data source with pair ids (``demo``, a task file or folder): its translation groups,
  its labels unused, its own splits kept.

Raw corpora are split by hashing the group id: about 10% of the groups (at most ``test_pairs``)
are held out as ``test`` (retrieval@1 per language at evaluation), the rest is ``train``.
``max_pairs_per_language`` keeps that many training pairs per target language, the same ones on
every machine (the lowest hashes).
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from xkd.data import files
from xkd.errors import DataError

__all__ = ["PARALLEL_FORMS", "ParallelCorpus", "is_language_code", "load_parallel"]

PARALLEL_FORMS = (
    "a .csv/.tsv/.jsonl/.parquet file with one column per language (or source/target/"
    "target_language columns, or a translation column), a folder of line-aligned <name>.<lang> "
    "files (tatoeba.<xx>-<yy>.<xx> too), hf:<dataset id>[:<config>], or task data with pair ids"
)
_LANG = re.compile(r"^[a-z]{2,3}([_-][A-Za-z]{2,4})?$")
_NOT_LANGUAGES = {"id", "idx", "src", "tgt", "set", "row", "url", "lang"}
TEST_SHARE = 10  # percent of the groups of a raw corpus held out as test


def is_language_code(name: str) -> bool:
    """``en``, ``deu``, ``pt_BR``, ``deu_Latn``, ``zh-Hans`` (not ``id``, ``src``, ...)."""
    return bool(_LANG.match(str(name))) and str(name).lower() not in _NOT_LANGUAGES


@dataclass
class ParallelCorpus:
    """A corpus in the schema: ``frame`` rows, grouped by ``pair_id`` (one group, several
    languages); ``kind`` says which form it was read from."""

    frame: pd.DataFrame
    name: str
    kind: str
    #: (file, line) of the empty texts left out
    empty: list[tuple[str, int]] = field(default_factory=list)

    def languages(self) -> list[str]:
        return sorted(self.frame["language"].unique())

    def pairs(self, language: str, split: str = "train") -> int:
        """Groups of ``split`` that have ``language``."""
        rows = self.frame[(self.frame["language"] == language) & (self.frame["split"] == split)]
        return int(rows["pair_id"].nunique())


def _bucket(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")


# -- reading -----------------------------------------------------------------------------------
def _read_table(path: Path) -> pd.DataFrame:
    kind = files.file_format(path)
    files.check_size(path)
    try:
        if kind == "parquet":
            return pd.read_parquet(path)
        if kind == "jsonl":
            return pd.read_json(path, lines=True, dtype=False)
        sep = "\t" if kind == "tsv" else ","
        quoting = csv.QUOTE_NONE if kind == "tsv" else csv.QUOTE_MINIMAL
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, quoting=quoting)
    except (ValueError, OSError, pd.errors.ParserError) as e:
        raise DataError(f"cannot be read as {kind.upper()}: {e}", file=str(path)) from None


def _long(groups: list[str], langs: list[str], texts: list, where: list[tuple[str, int]]):
    return pd.DataFrame(
        {
            "pair_id": groups,
            "language": langs,
            "text": texts,
            "_file": [w[0] for w in where],
            "_row": [w[1] for w in where],
        }
    )


def _from_table(table: pd.DataFrame, file: str, source_language: str) -> pd.DataFrame | None:
    """Long rows of a parallel table, or None when it is not one (e.g. task data)."""
    cols = [str(c) for c in table.columns]
    ids = next((c for c in ("pair_id", "id") if c in cols), None)
    group = [str(v) for v in table[ids]] if ids else [str(i + 1) for i in range(len(table))]
    rows = [i + 2 for i in range(len(table))]  # the header is line 1
    out_g, out_l, out_t, where = [], [], [], []

    def add(g: str, lang: str, text, row: int) -> None:
        out_g.append(g)
        out_l.append(str(lang))
        out_t.append(text)
        where.append((file, row))

    if "translation" in cols:
        for g, row, value in zip(group, rows, table["translation"], strict=True):
            if not isinstance(value, dict):
                raise DataError(
                    "'translation' is not a {language: text} object", file=file, row=row
                )
            for lang, text in value.items():
                add(g, lang, text, row)
        return _long(out_g, out_l, out_t, where)
    if {"source", "target"} <= set(cols):
        lang_col = next((c for c in ("target_language", "language") if c in cols), None)
        if lang_col is None:
            raise DataError(
                "has source and target columns but no target_language (or language) column "
                "saying the target's language",
                file=file,
                field="target_language",
            )
        src_langs = table["source_language"] if "source_language" in cols else None
        for i, (g, row) in enumerate(zip(group, rows, strict=True)):
            src = str(src_langs.iloc[i]) if src_langs is not None else source_language
            tgt = str(table[lang_col].iloc[i])
            g = f"{g}:{tgt}" if ids is None else g
            add(g, src, table["source"].iloc[i], row)
            add(g, tgt, table["target"].iloc[i], row)
        return _long(out_g, out_l, out_t, where)
    langs = [c for c in cols if is_language_code(c) and c != ids]
    if len(langs) < 2 or "text" in cols:
        return None
    for lang in langs:
        for g, row, text in zip(group, rows, table[lang], strict=True):
            add(g, lang, text, row)
    return _long(out_g, out_l, out_t, where)


def _aligned_files(folder: Path) -> dict[str, list[Path]]:
    """``{name: [files]}`` of ``<name>.<language>`` files with 2+ languages."""
    groups: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and "." in p.name and not p.name.startswith("."):
            name, lang = p.name.rsplit(".", 1)
            if is_language_code(lang):
                groups.setdefault(name, []).append(p)
    return {k: v for k, v in groups.items() if len(v) >= 2}


def _from_aligned(folder: Path) -> pd.DataFrame:
    groups = _aligned_files(folder)
    if not groups:
        raise DataError(f"has no parallel corpus: expected {PARALLEL_FORMS}", file=str(folder))
    frames = []
    for name, paths in groups.items():
        lines = {p: files.read_text(p, "text").split("\n") for p in paths}
        for ls in lines.values():
            if ls and ls[-1] == "":
                ls.pop()
        counts = {p: len(ls) for p, ls in lines.items()}
        if len(set(counts.values())) > 1:
            shown = ", ".join(f"{p.name}: {n}" for p, n in counts.items())
            raise DataError(
                f"line-aligned files of '{name}' have different line counts ({shown}); each "
                "line must be the translation of the same line in the other files",
                file=str(paths[0]),
            )
        for p, ls in lines.items():
            lang = p.name.rsplit(".", 1)[1]
            n = len(ls)
            frames.append(
                _long(
                    [f"{name}:{i + 1}" for i in range(n)],
                    [lang] * n,
                    [x.rstrip("\r") for x in ls],
                    [(str(p), i + 1) for i in range(n)],
                )
            )
    return pd.concat(frames, ignore_index=True)


def _from_hub(spec: str, source_language: str) -> pd.DataFrame:
    from xkd.data.hub import _load, _splits

    dataset_id, _, config = spec.partition(":")
    dsd = _load(dataset_id.strip(), config.strip() or None)
    frames = []
    for split, ds in _splits(dsd):
        table = ds.to_pandas() if hasattr(ds, "to_pandas") else pd.DataFrame(ds)
        long = _from_table(table, f"hf:{spec}/{split}", source_language)
        if long is None:
            raise DataError(
                f"hf:{spec} has no translation column and no language columns "
                f"(columns: {', '.join(map(str, table.columns))})",
                field="data.parallel_corpus",
            )
        long["pair_id"] = f"{split}:" + long["pair_id"].astype(str)
        frames.append(long)
    return pd.concat(frames, ignore_index=True)


def _from_task(spec: str) -> pd.DataFrame:
    from xkd.data.load import load_data

    frame = load_data(spec).frame
    rows = frame[frame["pair_id"].notna()]
    keep = ["pair_id", "language", "text", "split"] + [c for c in ("_file", "_row") if c in rows]
    return rows[keep].reset_index(drop=True)


def _read(spec: str, source_language: str) -> tuple[pd.DataFrame, str]:
    if spec.lower() == "demo":
        return _from_task(spec), "the demo's translation pairs"
    if spec.lower().startswith("hf:"):
        return _from_hub(spec[3:].strip(), source_language), "Hugging Face dataset"
    path = Path(os.path.expanduser(spec))
    if path.is_file():
        if files.file_format(path) is None:
            raise DataError(f"is not a parallel corpus: expected {PARALLEL_FORMS}", file=spec)
        long = _from_table(_read_table(path), str(path), source_language)
        if long is not None:
            return long, f"{files.file_format(path).upper()} file, one column per language"
        return _from_task(spec), "task data file (its pair ids)"
    if path.is_dir():
        if _aligned_files(path):
            return _from_aligned(path), "line-aligned files"
        return _from_task(spec), "task data folder (its pair ids)"
    raise DataError(f"no such file or folder; a parallel corpus is {PARALLEL_FORMS}", file=spec)


# -- splitting and bounding ----------------------------------------------------------------------
def _split(frame: pd.DataFrame, test_pairs: int) -> pd.Series:
    groups = pd.Series(frame["pair_id"].unique())
    buckets = groups.map(_bucket)
    held = groups[(buckets % 100) < TEST_SHARE]
    held = held.loc[buckets[held.index].sort_values().index[:test_pairs]]
    return frame["pair_id"].isin(set(held)).map({True: "test", False: "train"})


def _bound(frame: pd.DataFrame, source_language: str, cap: int | None) -> pd.DataFrame:
    """At most ``cap`` training groups per target language (the lowest hashes)."""
    if not cap:
        return frame
    train = frame[(frame["split"] == "train") & (frame["language"] != source_language)]
    keep: set[str] = set()
    for _, rows in train.groupby("language"):
        ids = pd.Series(rows["pair_id"].unique())
        keep |= set(ids.loc[ids.map(_bucket).sort_values().index[:cap]])
    return frame[(frame["split"] != "train") | frame["pair_id"].isin(keep)]


def load_parallel(
    spec: str,
    *,
    source_language: str,
    max_pairs_per_language: int | None = None,
    test_pairs: int = 500,
) -> ParallelCorpus:
    """Read the corpus ``spec`` (see the module docstring) into a :class:`ParallelCorpus`.

    Refused with a :class:`DataError` naming the file: unreadable files, line-aligned files of
    different lengths, a corpus without the source language.
    """
    spec = str(spec).strip()
    frame, kind = _read(spec, source_language)
    frame = frame.copy()
    frame["text"] = frame["text"].map(lambda t: "" if t is None or t != t else str(t).strip())
    blank = frame[frame["text"] == ""]
    empty = [(str(f), int(r)) for f, r in zip(blank.get("_file", []), blank.get("_row", []))]
    frame = frame[frame["text"] != ""]
    if "split" not in frame:
        frame["split"] = _split(frame, test_pairs)
    frame["pair_id"] = "pc:" + frame["pair_id"].astype(str)
    frame = frame.drop_duplicates(["pair_id", "language"])
    frame["label"] = None
    languages = sorted(frame["language"].unique())
    if source_language not in languages:
        raise DataError(
            f"has no '{source_language}' side (data.source_language); its languages: "
            f"{', '.join(languages) or 'none'}",
            file=spec,
            field="data.parallel_corpus",
        )
    frame = _bound(frame, source_language, max_pairs_per_language)
    return ParallelCorpus(frame.reset_index(drop=True), name=spec, kind=kind, empty=empty)
