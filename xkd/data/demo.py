"""The offline demo dataset, built from the ``chatterbot-corpus`` package.

``chatterbot_corpus/data/<language>/<category>.yml`` holds ``conversations``: lists of turns.
Only some non-English files are true line-by-line translations of the English file, so a
target file is used only when

1. it is on ``TRANSLATIONS``, the allow-list of (language, category) files checked by eye to be
   translations (same-shape files can still be misaligned: portuguese ``money``), and
2. its shape matches the English file: the same number of conversations, the same number of
   turns in each, every turn a non-empty string.

Rows: every turn of an English topical category (``TOPICAL``) and of each aligned translation.
``label`` is the category, ``language`` an ISO 639-1 code, ``pair_id`` is
``"<category>:<conversation>:<turn>"`` (shared by an English turn and its translations).

English texts are deduplicated (compared lower-cased with whitespace collapsed): a text seen
again in the same category is dropped with its translations (the first occurrence is kept),
and a text that occurs in several categories (``"Yes."``, ``"No."``) is dropped everywhere,
because its label is ambiguous. The split is ``assign_split(pair_id)``: a hash of the pair id
into train 70 / dev 10 / test 20, so a translation pair never straddles splits and the split is
the same on every machine.
"""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from pathlib import Path

import pandas as pd

from xkd.data.dataset import TextDataset, filter_languages
from xkd.data.schema import SPLITS, assign_split, validate_frame
from xkd.errors import DataError

#: Categories with a topic (the label set). Left out: ``conversations`` (chit-chat),
#: ``coding`` and ``tech_support`` (English only; tech_support alone would dominate),
#: ``trivia`` (a grab-bag) and ``health`` (a single English conversation).
TOPICAL = (
    "ai",
    "botprofile",
    "computers",
    "emotion",
    "food",
    "gossip",
    "greetings",
    "history",
    "humor",
    "literature",
    "money",
    "movies",
    "politics",
    "psychology",
    "science",
    "sports",
)

SOURCE_LANGUAGE = "english"

#: chatterbot-corpus folder -> ISO 639-1 code.
LANGUAGE_CODES = {
    "english": "en",
    "italian": "it",
    "japanese": "ja",
    "korean": "ko",
    "ukrainian": "uk",
    "chinese": "zh",
    "german": "de",
}

#: Files known (checked by eye) to be line-by-line translations of the English file.
TRANSLATIONS = {
    "italian": (
        "ai",
        "botprofile",
        "computers",
        "emotion",
        "food",
        "gossip",
        "history",
        "literature",
        "money",
        "politics",
        "science",
    ),
    "japanese": (
        "ai",
        "botprofile",
        "computers",
        "food",
        "gossip",
        "greetings",
        "history",
        "money",
        "movies",
    ),
    "korean": ("computers", "history", "movies", "science"),
    "ukrainian": ("botprofile", "computers", "money"),
    "chinese": ("greetings", "history", "money", "movies"),
    "german": ("food", "greetings", "history"),
}


def corpus_dir() -> Path:
    """``chatterbot_corpus/data`` of the installed package."""
    try:
        from importlib.resources import files

        root = files("chatterbot_corpus")
    except ModuleNotFoundError:
        raise DataError(
            "the demo dataset needs the chatterbot-corpus package: pip install chatterbot-corpus"
        ) from None
    return Path(str(root)) / "data"


def _load_yaml(path: Path) -> list | None:
    """The ``conversations`` of a corpus file, all scalars as strings; None if unusable."""
    import yaml

    loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.load(fh, Loader=loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("conversations"), list):
        return None
    return doc["conversations"]


def alignment_problem(english: list, other: list | None) -> str | None:
    """Why ``other`` is not aligned turn by turn with ``english``; ``None`` when it is."""
    if other is None:
        return "unreadable"
    if len(other) != len(english):
        return f"{len(other)} conversations, English has {len(english)}"
    for i, (en_conv, conv) in enumerate(zip(english, other)):
        if not isinstance(conv, list) or not isinstance(en_conv, list):
            return f"conversation {i} is not a list of turns"
        if len(conv) != len(en_conv):
            return f"conversation {i} has {len(conv)} turns, English has {len(en_conv)}"
        for j, turn in enumerate(conv):
            if not isinstance(turn, str) or not turn.strip():
                return f"conversation {i} turn {j} is empty"
    return None


def _key(text: str) -> str:
    return " ".join(text.split()).lower()


@functools.lru_cache(maxsize=4)
def _build(root: str) -> tuple[pd.DataFrame, tuple[tuple[str, str, str], ...]]:
    """``(frame, files)`` where files lists (language, category, status) for every candidate."""
    base = Path(root)
    status: list[tuple[str, str, str]] = []
    english: dict[str, list] = {}
    for category in TOPICAL:
        path = base / SOURCE_LANGUAGE / f"{category}.yml"
        convs = _load_yaml(path) if path.is_file() else None
        if convs is None:
            status.append(("en", category, "missing" if not path.is_file() else "unreadable"))
            continue
        english[category] = convs
        status.append(("en", category, "used"))
    if not english:
        raise DataError(
            "has no English topical categories; is chatterbot-corpus installed correctly?",
            file=str(base),
        )

    # English turns to keep: first occurrence per category, unambiguous across categories.
    categories_of: dict[str, set[str]] = defaultdict(set)
    for category, convs in english.items():
        for conv in convs:
            for turn in conv if isinstance(conv, list) else []:
                if isinstance(turn, str) and turn.strip():
                    categories_of[_key(turn)].add(category)
    kept: dict[str, dict[tuple[int, int], str]] = {}
    for category, convs in english.items():
        seen: set[str] = set()
        kept[category] = {}
        for ci, conv in enumerate(convs):
            for ti, turn in enumerate(conv if isinstance(conv, list) else []):
                if not isinstance(turn, str) or not turn.strip():
                    continue
                key = _key(turn)
                if key in seen or len(categories_of[key]) > 1:
                    continue
                seen.add(key)
                kept[category][(ci, ti)] = turn.strip()

    rows: list[tuple[str, str, str, str]] = []  # text, label, language, pair_id
    for category, turns in kept.items():
        for (ci, ti), text in turns.items():
            rows.append((text, category, "en", f"{category}:{ci}:{ti}"))
    for language, categories in TRANSLATIONS.items():
        code = LANGUAGE_CODES[language]
        for category in categories:
            path = base / language / f"{category}.yml"
            if category not in english:
                status.append((code, category, "no English file"))
                continue
            if not path.is_file():
                status.append((code, category, "missing"))
                continue
            convs = _load_yaml(path)
            problem = alignment_problem(english[category], convs)
            if problem or convs is None:
                status.append((code, category, f"dropped: {problem}"))
                continue
            status.append((code, category, "used"))
            for (ci, ti), _ in kept[category].items():
                rows.append((convs[ci][ti].strip(), category, code, f"{category}:{ci}:{ti}"))

    raw = pd.DataFrame(rows, columns=["text", "label", "language", "pair_id"], dtype=object)
    raw["split"] = [assign_split(p) for p in raw["pair_id"]]
    frame = validate_frame(raw, file=str(base))
    return frame, tuple(status)


def _root(root: str | os.PathLike | None) -> str:
    return str(Path(root) if root is not None else corpus_dir())


def load_demo(
    languages: list[str] | None = None, root: str | os.PathLike | None = None
) -> TextDataset:
    """The demo ``TextDataset``.

    ``languages``: ISO codes (``["en", "it"]``) or corpus folder names (``"italian"``).
    ``root``: another corpus ``data`` folder (for tests).
    """
    frame, _ = _build(_root(root))
    frame = frame.copy()
    if languages is not None:
        codes = [LANGUAGE_CODES.get(str(lang).lower(), lang) for lang in languages]
        frame = filter_languages(frame, codes, "demo")
    labels = sorted(frame["label"].dropna().unique())
    return TextDataset(frame, labels, "demo")


def demo_files(root: str | os.PathLike | None = None) -> pd.DataFrame:
    """Every candidate file with its status (``used``, ``dropped: <why>``, ``missing``)."""
    _, status = _build(_root(root))
    return pd.DataFrame(list(status), columns=["language", "category", "status"])


def demo_summary(root: str | os.PathLike | None = None) -> pd.DataFrame:
    """Per language: corpus folder, categories used and rows per split.

    For a target language every row has an English translation, so its counts are pairs with
    English; for ``en`` they are the English sentences.
    """
    frame, status = _build(_root(root))
    used = defaultdict(int)
    for code, _, state in status:
        if state == "used":
            used[code] += 1
    names = {code: name for name, code in LANGUAGE_CODES.items()}
    counts = pd.crosstab(frame["language"], frame["split"]).reindex(
        columns=list(SPLITS), fill_value=0
    )
    order = [c for c in LANGUAGE_CODES.values() if c in counts.index]
    table = pd.DataFrame(
        {
            "language": order,
            "corpus_folder": [names[c] for c in order],
            "categories": [used[c] for c in order],
            **{s: [int(counts.loc[c, s]) for c in order] for s in SPLITS},
            "total": [int(counts.loc[c].sum()) for c in order],
        }
    )
    return table
