"""The transfer-gap attribution of ``eval.json`` for the Accuracy page: a table per target
language, the long frame behind "gap against each factor", and the shortfall sentences."""

from __future__ import annotations

import pandas as pd

__all__ = [
    "FACTORS",
    "attribution_table",
    "gap_vs_factors",
    "shortfall_lines",
    "vocabulary_fixes",
    "vocabulary_languages",
]

#: subwords learnt by the "subword vocabulary" fix (model.vocab_pieces)
FIX_PIECES = 2000

#: eval.json field -> the label a page shows
FACTORS = {
    "tokens_per_word": "tokens per word",
    "unknown_rate": "unknown-token rate",
    "chars_per_token": "chars per token",
    "parallel_pairs": "parallel pairs",
    "n_test": "test items",
}
GAPS = {"teacher_gap": "teacher (source items) - student", "kd_gain": "KD - no-KD"}
#: the KD gain's 95 % paired bootstrap interval (eval.json languages.<lang>.kd_gain)
GAIN_INTERVAL = "KD - no-KD, 95 % interval"


def attribution_table(result: dict | None) -> pd.DataFrame:
    """One row per target language: the gaps, the factors and the script."""
    from xkd.app import fmt

    attr = (result or {}).get("attribution") or {}
    cols = ["language", *GAPS.values(), GAIN_INTERVAL, *FACTORS.values(), "script", "falls short"]
    rows = []
    for lang, a in attr.items():
        row = {"language": lang, "script": a.get("script"), "falls short": bool(a.get("short"))}
        row |= {label: a.get(key) for key, label in GAPS.items()}
        gain = fmt.get(result, "languages", lang, "kd_gain") or {}
        row[GAIN_INTERVAL] = fmt.interval(gain.get("low"), gain.get("high"))
        row |= {label: a.get(key) for key, label in FACTORS.items()}
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


def gap_vs_factors(result: dict | None, gap: str = "teacher_gap") -> pd.DataFrame:
    """``language, factor, value, gap``: one row per language and factor, for scatter plots."""
    attr = (result or {}).get("attribution") or {}
    rows = [
        {"language": lang, "factor": label, "value": a.get(key), "gap": a.get(gap)}
        for lang, a in attr.items()
        for key, label in FACTORS.items()
        if a.get(key) is not None and a.get(gap) is not None
    ]
    return pd.DataFrame(rows, columns=["language", "factor", "value", "gap"])


def shortfall_lines(result: dict | None) -> list[str]:
    """``"ja: 58% unknown tokens: ..."`` for each language that falls short."""
    attr = (result or {}).get("attribution") or {}
    return [
        f"{lang}: {a['cause']}" for lang, a in attr.items() if a.get("short") and a.get("cause")
    ]


def vocabulary_languages(result: dict | None) -> list[str]:
    """The languages whose shortfall the attribution puts on the vocabulary (unknown tokens or
    words cut into small pieces)."""
    attr = (result or {}).get("attribution") or {}
    marks = ("unknown tokens", "tokens per word", "characters per token")
    return [
        lang
        for lang, a in attr.items()
        if a.get("short") and any(m in (a.get("cause") or "") for m in marks)
    ]


def vocabulary_fixes(config: dict) -> dict[str, tuple[str, dict]]:
    """The run's config with each vocabulary fix applied: ``{key: (what it does, config)}``."""
    import copy

    pieces = copy.deepcopy(config)
    pieces.setdefault("model", {}).update({"extend_vocab": True, "vocab_pieces": FIX_PIECES})
    scratch = copy.deepcopy(config)
    scratch["student"] = "scratch"
    scratch.setdefault("model", {}).update({"extend_vocab": False, "vocab_pieces": 0})
    return {
        "pieces": (
            f"the student's vocabulary extended with {FIX_PIECES} subwords learnt on the "
            "target-language training text (their embeddings start from the pieces they replace)",
            pieces,
        ),
        "scratch": (
            "a scratch student with its own multilingual WordPiece vocabulary, trained on the data",
            scratch,
        ),
    }
