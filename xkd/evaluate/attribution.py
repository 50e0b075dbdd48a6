"""Transfer-gap attribution: per target language, how much is lost in transfer and the factors
that usually explain it.

For target language ``L``:

- ``teacher_source`` / ``student``: the teacher's accuracy on the *source-language* versions of
  ``L``'s test items (same ``pair_id``) and the KD student's on the ``L`` items themselves;
  ``teacher_gap = teacher_source - student`` is what crossing the language costs;
- ``kd_gain``: KD student minus the no-KD baseline on all of ``L``'s test items;
- factors: the student tokenizer's ``tokens_per_word`` (fertility), ``unknown_rate`` and
  ``chars_per_token`` on ``L``'s test texts (:func:`xkd.evaluate.tokens.tokenizer_stats`), its
  ``script``, the ``parallel_pairs`` the student trained on and ``n_test``.

:func:`shortfalls` marks a language that falls short (``teacher_gap`` of 15 points or more, or
a student within 5 points of the majority prior) and names its most likely cause in a
sentence, checking the factors in order: unknown tokens, fertility against the source language
(for scripts written without spaces, characters per token instead), parallel pairs, the
teacher's own accuracy, test size.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from xkd.evaluate.tokens import dominant_script, tokenizer_stats

__all__ = ["attribution", "shortfalls"]

#: scripts written without spaces between words: tokens per "word" reads high for them, so
#: characters per token is compared instead
NO_SPACE_SCRIPTS = frozenset({"Cjk", "Hiragana", "Katakana", "Thai", "Lao", "Khmer", "Myanmar"})
GAP_SHORT = 0.15  # a teacher_gap this large marks a language as falling short
PRIOR_MARGIN = 0.05  # ... as does a student this close to the majority prior


def _acc(pred: np.ndarray, y: np.ndarray) -> float | None:
    return float((pred == y).mean()) if len(y) else None


def attribution(
    *,
    rows: pd.DataFrame,
    y: np.ndarray,
    source_language: str,
    per_language: dict,
    predictions: dict[str, np.ndarray],
    tokenizer,
    parallel_pairs: dict[str, int],
) -> dict:
    """``{language: {...}}`` for every target language of ``per_language`` (see the module
    docstring); ``rows`` are the evaluated test rows, ``y`` their label indices (-1: none) and
    ``predictions`` the predicted label index per row of ``teacher``, ``student`` and
    ``baseline`` (when there is one)."""
    out: dict = {}
    src = rows[(rows["language"] == source_language) & (y >= 0) & rows["pair_id"].notna()]
    src_pos = dict(zip(src["pair_id"], src.index))
    for lang, entry in per_language.items():
        if lang == source_language:
            continue
        mine = rows[(rows["language"] == lang) & (y >= 0)]
        paired = mine[mine["pair_id"].isin(src_pos)]
        s_idx = np.array([src_pos[p] for p in paired["pair_id"]], dtype=int)
        t_idx = paired.index.to_numpy()
        teacher_source = _acc(predictions["teacher"][s_idx], y[s_idx]) if len(s_idx) else None
        student = _acc(predictions["student"][t_idx], y[t_idx]) if len(t_idx) else None
        stats = tokenizer_stats(tokenizer, rows.loc[mine.index, "text"].tolist())
        kd, base = entry.get("student", {}), entry.get("baseline")
        out[lang] = {
            "n_test": int(entry["n"]),
            "n_paired": int(len(t_idx)),
            "prior": entry["prior"],
            "teacher_source": teacher_source,
            "student": student,
            "teacher_gap": None if teacher_source is None else teacher_source - student,
            "kd_gain": None if base is None else kd["accuracy"] - base["accuracy"],
            "tokens_per_word": stats.get("tokens per word"),
            "unknown_rate": stats.get("unknown-token rate"),
            "chars_per_token": stats.get("chars per token"),
            "script": dominant_script(rows.loc[mine.index, "text"].tolist()),
            "parallel_pairs": int(parallel_pairs.get(lang, 0)),
        }
    source_rows = rows[rows["language"] == source_language]["text"].tolist()
    source_fertility = tokenizer_stats(tokenizer, source_rows).get("tokens per word")
    for lang, cause in shortfalls(out, source_fertility=source_fertility).items():
        out[lang]["short"] = cause is not None
        out[lang]["cause"] = cause
    return out


def _cause(a: dict, *, source_fertility: float | None, median_pairs: float) -> str:
    unk, fert = a.get("unknown_rate"), a.get("tokens_per_word")
    if unk is not None and unk >= 0.05:
        return (
            f"{unk:.0%} unknown tokens: the student's vocabulary does not cover this script "
            f"({a['script']})"
        )
    cpt = a.get("chars_per_token")
    if a.get("script") in NO_SPACE_SCRIPTS:
        if cpt is not None and cpt <= 1.2:
            return (
                f"{cpt:.1f} characters per token ({a['script']} script): the student reads the "
                "text character by character, with no subwords for its words"
            )
    elif fert and source_fertility and fert >= 2 * source_fertility:
        return (
            f"{fert:.1f} tokens per word, {fert / source_fertility:.1f}x the source language: "
            "words are cut into small pieces"
        )
    pairs = a.get("parallel_pairs", 0)
    if pairs < 100 or (median_pairs and pairs < 0.5 * median_pairs):
        return f"only {pairs} parallel pairs: too few to learn the mapping to the teacher"
    ts = a.get("teacher_source")
    if ts is not None and ts <= a["prior"] + PRIOR_MARGIN:
        return f"the teacher itself gets only {ts:.0%} of these items right in the source language"
    if a["n_test"] < 30:
        return f"only {a['n_test']} test items: ±{1 / math.sqrt(a['n_test']):.0%} of noise"
    return "no single factor stands out (tokens, pairs and test size look ordinary)"


def shortfalls(attr: dict, *, source_fertility: float | None) -> dict[str, str | None]:
    """``{language: cause}`` with a sentence for each language that falls short, else None."""
    pairs = [a.get("parallel_pairs", 0) for a in attr.values()]
    median_pairs = float(np.median(pairs)) if pairs else 0.0
    out: dict[str, str | None] = {}
    for lang, a in attr.items():
        gap, student = a.get("teacher_gap"), a.get("student")
        short = (gap is not None and gap >= GAP_SHORT) or (
            student is not None and student <= a["prior"] + PRIOR_MARGIN
        )
        out[lang] = (
            _cause(a, source_fertility=source_fertility, median_pairs=median_pairs)
            if short
            else None
        )
    return out
