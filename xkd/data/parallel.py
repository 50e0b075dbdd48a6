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
- ``hf:<dataset id>[:<config>]``: ``datasets.load_dataset(..., streaming=True)`` (a
  ``translation`` column, or one column per language; every split, read ``BATCH_ROWS`` rows at a
  time), with the usual message when the Hub cannot be reached;
- any task-data source with pair ids (``demo``, a task file or folder): its translation groups,
  its labels unused, its own splits kept.

Raw corpora are split by hashing the group id: about 10% of the groups (at most ``test_pairs``)
are held out as ``test`` (retrieval@1 per language at evaluation), the rest is ``train``.
``max_pairs_per_language`` keeps that many training pairs per target language, the same ones on
every machine (the lowest hashes).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from xkd.data import files, stream
from xkd.data.sampling import Selector
from xkd.errors import DataError

__all__ = ["PARALLEL_FORMS", "ParallelCorpus", "is_language_code", "load_parallel"]

PARALLEL_FORMS = (
    "a .csv/.tsv/.jsonl/.parquet file with one column per language (or source/target/"
    "target_language columns, or a translation column), a folder of line-aligned <name>.<lang> "
    "files (tatoeba.<xx>-<yy>.<xx> too), hf:<dataset id>[:<config>], or task data with pair ids"
)
_LANG = re.compile(r"^[a-z]{2,3}([_-][A-Za-z]{2,4})?$")
_NOT_LANGUAGES = {"id", "idx", "src", "tgt", "set", "row", "url", "lang"}


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


# -- reading -----------------------------------------------------------------------------------
BATCH_ROWS = stream.BATCH_ROWS  # rows (or aligned lines) read at a time


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


def _from_table(
    table: pd.DataFrame, file: str, source_language: str, offset: int = 0
) -> pd.DataFrame | None:
    """Long rows of a parallel table (its rows from ``offset`` on), or None when it is not one
    (e.g. task data)."""
    cols = [str(c) for c in table.columns]
    ids = next((c for c in ("pair_id", "id") if c in cols), None)
    n = range(offset, offset + len(table))
    group = [str(v) for v in table[ids]] if ids else [str(i + 1) for i in n]
    rows = [i + 2 for i in n]  # the header is line 1
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
    for lang in langs:  # an empty cell: the group has no text in that language
        for g, row, text in zip(group, rows, table[lang], strict=True):
            if text is not None and text == text and str(text).strip():
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


def _open_lines(path: Path):
    try:
        return open(path, encoding="utf-8", newline="")  # noqa: SIM115 - closed by the caller
    except OSError as e:
        raise DataError(f"cannot be read: {e}", file=str(path)) from None


def _aligned_chunks(folder: Path) -> Iterator[pd.DataFrame]:
    """Long rows of the folder's line-aligned files, ``BATCH_ROWS`` lines of each at a time."""
    groups = _aligned_files(folder)
    if not groups:
        raise DataError(f"has no parallel corpus: expected {PARALLEL_FORMS}", file=str(folder))
    for name, paths in groups.items():
        handles = [_open_lines(p) for p in paths]
        langs = [p.name.rsplit(".", 1)[1] for p in paths]
        try:
            start = 0
            while True:
                try:
                    chunks = [list(itertools.islice(h, BATCH_ROWS)) for h in handles]
                except UnicodeDecodeError as e:
                    raise DataError(
                        f"is not UTF-8 text ({e.reason}); save it as UTF-8", file=str(paths[0])
                    ) from None
                lengths = {len(c) for c in chunks}
                if len(lengths) > 1:
                    shown = ", ".join(
                        f"{p.name}: {'ends at line ' + str(start + len(c)) if len(c) < max(lengths) else 'goes on'}"
                        for p, c in zip(paths, chunks, strict=True)
                    )
                    raise DataError(
                        f"line-aligned files of '{name}' have different line counts ({shown}); "
                        "each line must be the translation of the same line in the other files",
                        file=str(paths[0]),
                    )
                n = lengths.pop()
                if n == 0:
                    break
                ids = [f"{name}:{start + i + 1}" for i in range(n)]
                for p, lang, chunk in zip(paths, langs, chunks, strict=True):
                    yield _long(
                        ids,
                        [lang] * n,
                        [line.rstrip("\r\n") for line in chunk],
                        [(str(p), start + i + 1) for i in range(n)],
                    )
                start += n
        finally:
            for h in handles:
                h.close()


def _from_hub(spec: str, source_language: str) -> Iterator[pd.DataFrame]:
    """Long-row batches of ``hf:<dataset id>[:<config>]``, streamed ``BATCH_ROWS`` rows at a
    time (:mod:`xkd.data.hub_stream`); every split of the dataset is read, its name prefixed to
    the group ids (``train:17``), and the corpus is split by hashing as a raw file is. The
    dataset is opened now (an unreachable Hub fails here), its rows read as batches are taken."""
    from xkd.data.hub_stream import stream_tables

    dataset_id, _, config = spec.partition(":")
    tables = stream_tables(dataset_id.strip(), config.strip() or None, BATCH_ROWS)

    def batches() -> Iterator[pd.DataFrame]:
        for split, offset, table in tables:
            long = _from_table(table, f"hf:{spec}/{split}", source_language, offset)
            if long is None:
                raise DataError(
                    f"hf:{spec} has no translation column and no language columns "
                    f"(columns: {', '.join(map(str, table.columns))})",
                    field="data.parallel_corpus",
                )
            long["pair_id"] = f"{split}:" + long["pair_id"].astype(str)
            yield long

    return batches()


def _from_task(spec: str) -> pd.DataFrame:
    from xkd.data.load import load_data

    frame = load_data(spec).frame
    rows = frame[frame["pair_id"].notna()]
    keep = ["pair_id", "language", "text", "split"] + [c for c in ("_file", "_row") if c in rows]
    return rows[keep].reset_index(drop=True)


def _table_batches(path: Path, source_language: str) -> Iterator[pd.DataFrame] | None:
    """Long-row batches of a parallel table, or None when the file is task data."""
    chunks = stream.table_chunks(path, BATCH_ROWS)
    first = next(chunks, None)
    if first is None:
        raise DataError("is empty: no rows", file=str(path))
    head = _from_table(first, str(path), source_language)
    if head is None:
        return None

    def batches() -> Iterator[pd.DataFrame]:
        yield head
        offset = len(first)
        for chunk in chunks:
            yield _from_table(chunk, str(path), source_language, offset)
            offset += len(chunk)

    return batches()


def _read(spec: str, source_language: str) -> tuple[Iterator[pd.DataFrame], str]:
    """Batches of long rows (``pair_id``, ``language``, ``text``, ``_file``, ``_row``, and
    ``split`` for task-data sources) and the form they were read as."""
    if spec.lower() == "demo":
        return iter([_from_task(spec)]), "the demo's translation pairs"
    if spec.lower().startswith("hf:"):
        return _from_hub(spec[3:].strip(), source_language), "Hugging Face dataset"
    path = Path(os.path.expanduser(spec))
    if path.is_file():
        kind = files.file_format(path)
        if kind is None:
            raise DataError(f"is not a parallel corpus: expected {PARALLEL_FORMS}", file=spec)
        batches = _table_batches(path, source_language)
        if batches is not None:
            return batches, f"{kind.upper()} file, one column per language"
        return iter([_from_task(spec)]), "task data file (its pair ids)"
    if path.is_dir():
        if _aligned_files(path):
            return _aligned_chunks(path), "line-aligned files"
        return iter([_from_task(spec)]), "task data folder (its pair ids)"
    raise DataError(f"no such file or folder; a parallel corpus is {PARALLEL_FORMS}", file=spec)


def _clean(batch: pd.DataFrame, empty: list[tuple[str, int]]) -> pd.DataFrame:
    """Texts as stripped strings; empty ones left out (and recorded in ``empty``)."""
    batch = batch.copy()
    batch["text"] = batch["text"].map(lambda t: "" if t is None or t != t else str(t).strip())
    blank = batch[batch["text"] == ""]
    if len(blank) and len(empty) < 10_000:
        empty += [(str(f), int(r)) for f, r in zip(blank.get("_file", []), blank.get("_row", []))]
    batch = batch[batch["text"] != ""]
    batch["pair_id"] = "pc:" + batch["pair_id"].astype(str)
    return batch


def load_parallel(
    spec: str,
    *,
    source_language: str,
    max_pairs_per_language: int | None = None,
    test_pairs: int = 500,
) -> ParallelCorpus:
    """Read the corpus ``spec`` (see the module docstring) into a :class:`ParallelCorpus`.

    Files, line-aligned folders and Hub datasets (streamed) are read in batches, so a corpus
    larger than memory trains with a bounded ``max_pairs_per_language``. Refused with a
    :class:`DataError` naming the file: unreadable files, line-aligned files of different
    lengths, a corpus without the source language.
    """
    spec = str(spec).strip()
    batches, kind = _read(spec, source_language)
    selector = Selector(source_language, max_pairs_per_language, test_pairs)
    empty: list[tuple[str, int]] = []
    for batch in batches:
        selector.add(_clean(batch, empty))
    languages = sorted(selector.languages)
    if source_language not in languages:
        raise DataError(
            f"has no '{source_language}' side (data.source_language); its languages: "
            f"{', '.join(languages) or 'none'}",
            file=spec,
            field="data.parallel_corpus",
        )
    frame = selector.frame().drop_duplicates(["pair_id", "language"])
    frame["label"] = None
    return ParallelCorpus(frame.reset_index(drop=True), name=spec, kind=kind, empty=empty)
