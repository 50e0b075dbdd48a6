"""Datasets from the Hugging Face Hub (``hf:<dataset id>``).

The ``map_*`` functions are pure: they take one split of a dataset in the Hub's format (a
``datasets.Dataset`` or a list of dicts) and return a raw frame in the xkd schema.
:func:`xkd.data.hub_load.load_hub` does the downloading (``datasets`` is imported only there)
and turns every failure to reach the Hub into a ``DataError`` that says what to use instead.

Supported ids (``SUPPORTED``; short aliases in ``ALIASES``):

- ``Davlan/sib200``: one config per language (``eng_Latn``); ``index_id`` -> pair_id,
  ``category`` -> label, ``text``; the language is the config name.
- ``AmazonScience/massive``: configs like ``en-US``; ``utt`` -> text, ``intent`` (ClassLabel)
  -> label name, ``locale`` -> language, ``id`` -> pair_id (shared across locales).
- ``facebook/xnli`` (``xnli``): configs per language (``en``); text is
  ``premise + XNLI_SEPARATOR + hypothesis``; label entailment/neutral/contradiction. The
  validation and test splits are parallel by row order, so their pair id is
  ``"<split>:<row index>"``; train rows (machine translated separately) get no pair id.
- ``Helsinki-NLP/tatoeba`` (``tatoeba``): sentence alignment only, no labels. Needs exactly two
  languages; each translation becomes two rows sharing ``pair_id`` = the Tatoeba id. The Hub
  has only a train split, so splits are assigned by hashing the pair id (70/10/20).

Any other id is loaded as is and mapped generically: ``text``, optional ``label`` (ClassLabel
names are used), ``language`` (or the config name, one config per entry of ``languages``),
optional ``pair_id``; the ``columns`` option renames.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from xkd.data.files import resolve_columns
from xkd.data.schema import COLUMNS, SPLIT_ALIASES, assign_split
from xkd.errors import DataError

SUPPORTED = {
    "Davlan/sib200": "SIB-200 topic classification, 205 languages (configs like eng_Latn)",
    "AmazonScience/massive": "MASSIVE intent classification, 51 locales (configs like en-US)",
    "facebook/xnli": "XNLI natural language inference, 15 languages (configs like en)",
    "Helsinki-NLP/tatoeba": "Tatoeba sentence translations, no labels (two languages)",
}
ALIASES = {
    "sib200": "Davlan/sib200",
    "massive": "AmazonScience/massive",
    "xnli": "facebook/xnli",
    "tatoeba": "Helsinki-NLP/tatoeba",
}

#: Configs loaded when ``languages`` is not given.
DEFAULT_LANGUAGES = {
    "Davlan/sib200": (
        "eng_Latn",
        "deu_Latn",
        "fra_Latn",
        "spa_Latn",
        "ita_Latn",
        "por_Latn",
        "rus_Cyrl",
        "jpn_Jpan",
        "kor_Hang",
        "zho_Hans",
        "arb_Arab",
        "hin_Deva",
    ),
    "AmazonScience/massive": ("en-US", "de-DE", "fr-FR", "es-ES", "ja-JP", "zh-CN"),
    "facebook/xnli": ("en", "de", "fr", "es", "ru", "zh"),
}

XNLI_SEPARATOR = " [SEP] "
XNLI_LABELS = ("entailment", "neutral", "contradiction")


def canonical_id(dataset_id: str) -> str:
    """``xnli`` -> ``facebook/xnli``; ids are matched case-insensitively."""
    lowered = dataset_id.strip().lower()
    if lowered in ALIASES:
        return ALIASES[lowered]
    for known in SUPPORTED:
        if known.lower() == lowered:
            return known
    return dataset_id.strip()


def hf_split(name: str) -> str:
    """Hub split name -> ours (``validation`` -> ``dev``); unknown names stay as they are."""
    return SPLIT_ALIASES.get(str(name).lower(), str(name))


# -- pure mapping functions ---------------------------------------------------------------------
def _column(records, name: str) -> list:
    if hasattr(records, "column_names"):  # datasets.Dataset
        if name not in records.column_names:
            raise KeyError(name)
        return list(records[name])
    return [r[name] for r in records]


def _column_names(records) -> list[str]:
    if hasattr(records, "column_names"):
        return list(records.column_names)
    names: dict[str, None] = {}
    for r in records:
        for k in r:
            names.setdefault(k, None)
    return list(names)


def _class_names(records, name: str) -> list[str] | None:
    feature = getattr(records, "features", {}).get(name) if hasattr(records, "features") else None
    names = getattr(feature, "names", None)
    return list(names) if names else None


def _label_names(values: Iterable, names: Sequence[str] | None) -> list:
    """Map ClassLabel ints to names (negative ints mean unlabelled); strings stay."""
    out = []
    for v in values:
        if v is None:
            out.append(None)
        elif names is not None and isinstance(v, int) and not isinstance(v, bool):
            out.append(names[v] if 0 <= v < len(names) else None)
        else:
            out.append(v)
    return out


def _frame(data: Mapping[str, list]) -> pd.DataFrame:
    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in data.items()})


def _require(records, names: Sequence[str], dataset: str) -> None:
    found = _column_names(records)
    missing = [n for n in names if n not in found]
    if missing:
        raise DataError(
            f"{dataset} rows lack the field{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))}; fields found: {', '.join(found) or 'none'}",
            field=missing[0],
        )


def map_sib200(records, language: str, split: str) -> pd.DataFrame:
    """SIB-200 rows (``index_id``, ``category``, ``text``) of one config and split."""
    _require(records, ("index_id", "category", "text"), "Davlan/sib200")
    texts = _column(records, "text")
    n = len(texts)
    return _frame(
        {
            "text": texts,
            "label": _column(records, "category"),
            "language": [language] * n,
            "split": [hf_split(split)] * n,
            "pair_id": _column(records, "index_id"),
        }
    )


def map_massive(
    records, split: str | None = None, intent_names: Sequence[str] | None = None
) -> pd.DataFrame:
    """MASSIVE rows (``id``, ``locale``, ``utt``, ``intent``, ``partition``).

    ``intent`` is a ClassLabel int (names from the dataset's features or ``intent_names``) or
    already a name. ``split`` is the Hub split; without it the ``partition`` field is used.
    """
    _require(records, ("id", "locale", "utt", "intent"), "AmazonScience/massive")
    names = intent_names or _class_names(records, "intent")
    texts = _column(records, "utt")
    n = len(texts)
    if split is not None:
        splits = [hf_split(split)] * n
    else:
        _require(records, ("partition",), "AmazonScience/massive")
        splits = [hf_split(p) for p in _column(records, "partition")]
    return _frame(
        {
            "text": texts,
            "label": _label_names(_column(records, "intent"), names),
            "language": _column(records, "locale"),
            "split": splits,
            "pair_id": _column(records, "id"),
        }
    )


def map_xnli(
    records,
    language: str,
    split: str,
    label_names: Sequence[str] | None = None,
    offset: int = 0,
) -> pd.DataFrame:
    """XNLI rows (``premise``, ``hypothesis``, ``label``) of one language and split; ``offset``
    is the index of the first row in its split (dev and test rows are parallel by index)."""
    _require(records, ("premise", "hypothesis", "label"), "facebook/xnli")
    names = label_names or _class_names(records, "label") or list(XNLI_LABELS)
    premises = _column(records, "premise")
    hypotheses = _column(records, "hypothesis")
    ours = hf_split(split)
    n = len(premises)
    parallel = ours in ("dev", "test")
    return _frame(
        {
            "text": [
                f"{p.strip()}{XNLI_SEPARATOR}{h.strip()}" if p and h else None
                for p, h in zip(premises, hypotheses)
            ],
            "label": _label_names(_column(records, "label"), names),
            "language": [language] * n,
            "split": [ours] * n,
            "pair_id": [f"{ours}:{offset + i}" for i in range(n)] if parallel else [None] * n,
        }
    )


def map_tatoeba(records, source_language: str, target_language: str) -> pd.DataFrame:
    """Tatoeba rows (``id``, ``translation``: {lang: text}) -> two unlabelled rows each."""
    _require(records, ("id", "translation"), "Helsinki-NLP/tatoeba")
    ids = _column(records, "id")
    translations = _column(records, "translation")
    data: dict[str, list] = {c: [] for c in COLUMNS}
    for pid, tr in zip(ids, translations):
        pid = str(pid)
        split = assign_split(pid)
        for lang in (source_language, target_language):
            data["text"].append((tr or {}).get(lang))
            data["label"].append(None)
            data["language"].append(lang)
            data["split"].append(split)
            data["pair_id"].append(pid)
    return _frame(data)


def map_generic(
    records,
    split: str,
    language: str | None = None,
    columns: Mapping[str, str] | None = None,
    dataset: str = "dataset",
) -> pd.DataFrame:
    """Any dataset with ``text``, ``label``, ``language`` (or a config per language) fields."""
    found = _column_names(records)
    required = ("text",) if language is not None else ("text", "language")
    try:
        mapping = resolve_columns(found, columns, f"hf:{dataset}", required=required)
    except DataError as e:
        raise DataError(
            f"{e.detail} hf:{dataset} is not one of the datasets xkd knows "
            f"({', '.join(SUPPORTED)}); other datasets need text and language fields "
            "(or one config per language).",
            file=e.file,
            field=e.field,
        ) from None
    texts = _column(records, mapping["text"])
    n = len(texts)
    data = {"text": texts}
    if "label" in mapping:
        col = mapping["label"]
        data["label"] = _label_names(_column(records, col), _class_names(records, col))
    data["language"] = (
        _column(records, mapping["language"]) if "language" in mapping else [language] * n
    )
    data["split"] = (
        [hf_split(s) for s in _column(records, mapping["split"])]
        if "split" in mapping
        else [hf_split(split)] * n
    )
    if "pair_id" in mapping:
        data["pair_id"] = _column(records, mapping["pair_id"])
    return _frame(data)
