"""Folders of per-language files.

Two layouts, recognised per language folder (``<language>`` becomes the ``language`` value):

- Split files: ``<language>/<split>.<format>``, any of ``.csv``, ``.tsv``, ``.jsonl``,
  ``.parquet`` (SIB-200: ``{train,dev,test}.tsv`` with the header ``index_id<TAB>category<TAB>
  text``). Common column names are recognised without a mapping: ``id`` or ``index_id`` as
  ``pair_id`` (the id links translations across the language folders), ``category`` as
  ``label``, ``sentence`` as ``text``; the ``columns`` option (``data.columns``, ``--columns``)
  applies as for a single file. An optional ``<language>/labels.txt`` (one label per line) adds
  labels that have no rows.
- Text and labels: ``<language>/<split>_text.txt`` with one text per line, matched line by line
  with ``<split>_labels.txt`` (optional: without it the rows are unlabelled; an empty line means
  an unlabelled row) and ``<split>_ids.txt`` (optional pair ids, one per line).

``<split>`` is ``train``, ``dev`` or ``test`` in any case; ``valid``, ``validation``, ``val``
(and the other aliases of :data:`~xkd.data.schema.SPLIT_ALIASES`) are read as ``dev``.
Folders whose names start with ``.`` or ``_`` are ignored. A language folder whose texts are
the union of the other folders' texts (a combined ``all/`` folder) is left out, with a problem
that says so, unless it is asked for by name (``languages``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pandas as pd

from xkd.data import files, stream
from xkd.data.sampling import capped_sources
from xkd.data.schema import SPLIT_ALIASES, Problem
from xkd.errors import DataError

log = logging.getLogger(__name__)

#: column names recognised in split files without a mapping (tried in order)
FOLDER_DEFAULTS = {"pair_id": ("index_id", "id"), "label": ("category",), "text": ("sentence",)}
TEXT_SUFFIX, LABELS_SUFFIX, IDS_SUFFIX = "_text.txt", "_labels.txt", "_ids.txt"

LAYOUT_HELP = (
    "a folder of language folders: <language>/<split>.csv|.tsv|.jsonl|.parquet with split "
    "train, dev/valid/validation/val or test (SIB-200: <language>/{train,dev,test}.tsv), or "
    "<language>/<split>_text.txt with <split>_labels.txt"
)


def _split_of(stem: str) -> str | None:
    return SPLIT_ALIASES.get(stem.lower())


def language_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def _split_files(folder: Path) -> list[tuple[str, Path]]:
    """``(split, path)`` of the folder's ``<split>.<format>`` files."""
    out = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and files.file_format(p) and _split_of(p.stem):
            out.append((_split_of(p.stem), p))
    return out


def _text_files(folder: Path) -> list[tuple[str, Path]]:
    out = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.name.lower().endswith(TEXT_SUFFIX):
            split = _split_of(p.name[: -len(TEXT_SUFFIX)])
            if split:
                out.append((split, p))
    return out


def detect_layout(root: str | os.PathLike) -> str | None:
    """``'split-files'``, ``'text-labels'`` or ``None`` (the first language folder decides)."""
    root = Path(root)
    for folder in language_folders(root):
        if _split_files(folder):
            return "split-files"
        if _text_files(folder):
            return "text-labels"
    return None


def _lines(path: Path, kind: str) -> list[str]:
    text = files.read_text(path, kind)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def _read_text_labels(folder: Path, split: str, text_path: Path) -> pd.DataFrame:
    prefix = text_path.name[: -len(TEXT_SUFFIX)]
    texts = _lines(text_path, "text")
    n = len(texts)
    data: dict[str, list] = {"text": texts}
    for key, suffix in (("label", LABELS_SUFFIX), ("pair_id", IDS_SUFFIX)):
        other = folder / f"{prefix}{suffix}"
        if not other.exists():
            continue
        values = _lines(other, "labels" if key == "label" else "ids")
        if len(values) != n:
            raise DataError(
                f"has {len(values)} lines but {text_path} has {n}; the files are matched line "
                "by line, so they need the same number of lines.",
                file=str(other),
            )
        data[key] = values
    data["language"] = [folder.name] * n
    data["split"] = [split] * n
    data["_file"] = [str(text_path)] * n
    data["_row"] = list(range(1, n + 1))
    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in data.items()})


def read_folder(
    root: str | os.PathLike,
    columns: Mapping[str, str] | None = None,
    languages: Sequence[str] | None = None,
    problems: list[Problem] | None = None,
    *,
    cap: int | None = None,
) -> tuple[pd.DataFrame, set[str], str]:
    """Read a folder into ``(raw_frame, extra_labels, layout)``.

    With a ``problems`` list, a file that cannot be read is recorded there and skipped (what
    ``check_data`` does); without one its ``DataError`` is raised. A file too large to read
    whole is streamed. ``cap`` is ``data.max_train_per_language``, applied over all the files
    together (:func:`~xkd.data.sampling.capped_sources`).
    """
    root = Path(root)
    folders = language_folders(root)
    if languages is not None:
        names = {f.name for f in folders}
        unknown = [lang for lang in languages if lang not in names]
        if unknown:
            raise DataError(
                f"has no language folder {', '.join(map(repr, unknown))}; "
                f"language folders: {', '.join(sorted(names)) or 'none'}",
                file=str(root),
                field="language",
            )
        folders = [f for f in folders if f.name in set(languages)]

    sources: list[Callable[[], Iterator[pd.DataFrame]]] = []
    extra_labels: set[str] = set()
    layouts: set[str] = set()
    for folder in folders:
        tsvs, texts = _split_files(folder), _text_files(folder)
        if not tsvs and not texts:
            err = DataError(
                "has no data files: expected <split>.csv/.tsv/.jsonl/.parquet (split train, "
                "dev/valid/validation/val or test) or <split>_text.txt (+ <split>_labels.txt) "
                "in each language folder.",
                file=str(folder),
            )
            if problems is None:
                raise err
            problems.append(Problem(err.detail, file=err.file))
            continue
        for split, path in tsvs:
            layouts.add("split-files")
            try:
                source = stream.file_batches(
                    path,
                    columns,
                    fixed={"language": folder.name, "split": split},
                    defaults=FOLDER_DEFAULTS,
                    required=("text",),
                )
                if cap is None or problems is not None:  # read now, so errors land here
                    source = _read_now(source)
            except DataError as err:
                if problems is None:
                    raise
                problems.append(Problem(err.detail, file=err.file, row=err.row, field=err.field))
                continue
            sources.append(source)
        for split, path in texts:
            layouts.add("text-labels")
            try:
                frame = _read_text_labels(folder, split, path)
                sources.append(lambda frame=frame: iter([frame]))
            except DataError as err:
                if problems is None:
                    raise
                problems.append(Problem(err.detail, file=err.file, row=err.row, field=err.field))
        labels_txt = folder / "labels.txt"
        if labels_txt.is_file():
            try:
                extra_labels.update(x.strip() for x in _lines(labels_txt, "labels") if x.strip())
            except DataError as err:
                if problems is None:
                    raise
                problems.append(Problem(err.detail, file=err.file, row=err.row))

    if not layouts and (problems is None or not problems):
        top = sorted(p.name for p in root.iterdir() if p.is_file())
        hint = ""
        if any(files.file_format(name) for name in top):
            hint = (
                " Files found at the top level: put each language's files in a folder named "
                "after the language, or load a single file that has a language column."
            )
        raise DataError(
            f"is not a data folder: expected {LAYOUT_HELP}.{hint}",
            file=str(root),
        )
    frames = capped_sources(sources, cap)
    asked = set(languages or ())
    for name in combined_folders(frames):
        if name in asked:
            continue
        frames = [f for f in frames if not (len(f) and f["language"].iloc[0] == name)]
        text = (
            f"language folder '{name}' holds the union of the other languages' texts (a "
            "combined folder): it is left out; name it in data.target_languages (or "
            "--languages) to use it as a language"
        )
        if problems is None:
            log.warning("%s: %s", root, text)
        else:
            problems.append(Problem(text, file=str(root / name), fatal=False))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    layout = "+".join(sorted(layouts)) or "unknown"
    return frame, extra_labels, layout


def _read_now(source: Callable[[], Iterator[pd.DataFrame]]) -> Callable[[], Iterator[pd.DataFrame]]:
    """``source`` read once, now; the returned function yields the frames read."""
    frames = list(source())
    return lambda: iter(frames)


def combined_folders(frames: list[pd.DataFrame]) -> list[str]:
    """Languages whose texts contain every text of at least two other languages (``all/``)."""
    texts: dict[str, set[str]] = {}
    for f in frames:
        if len(f) and "text" in f:
            texts.setdefault(str(f["language"].iloc[0]), set()).update(map(str, f["text"]))
    out = []
    for name, own in texts.items():
        others = [t for other, t in texts.items() if other != name and t]
        if len(others) >= 2 and set().union(*others) <= own:
            out.append(name)
    return out
