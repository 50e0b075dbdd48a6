"""The Accuracy page's data: per-language accuracy, the transfer ratio, the runs × languages heatmap.

Inputs are the ``eval.json`` dict and the ``predictions.parquet`` frame of a run. Missing
parts (``None``, a model missing from eval.json) give ``nan`` cells or an empty frame, never an
exception, so the page works on a run that is still going.

Two ratios compare the KD student with the teacher:

- ``% of teacher kept`` (source language): student / teacher accuracy on the source language.
- ``transfer ratio`` (each target language): student accuracy on the target language / teacher
  accuracy on the same items (same ``pair_id``) in the source language. The teacher only
  learned the source language, so its own target-language accuracy is no fair reference (it
  can be near 0, which made the old "% of teacher kept" read 238 % or nothing).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from xkd.app import fmt
from xkd.app import labels as L
from xkd.app.fmt import get, num, ratio

MODELS = L.MODELS

ACCURACY_COLUMNS = [
    "language",
    "role",
    "n",
    "prior",
    "teacher",
    "student",
    "baseline",
    "% of teacher kept",
    "transfer ratio",
    "KD gain (points)",
    "KD gain low",
    "KD gain high",
    "significant",
    "p",
    "teacher low",
    "teacher high",
    "student low",
    "student high",
    "baseline low",
    "baseline high",
    "teacher macro-F1",
    "student macro-F1",
    "baseline macro-F1",
    "teacher ECE",
    "student ECE",
    "baseline ECE",
    "agreement",
    "KL(teacher‖student)",
    "transfer pairs",
    "ratio note",
]

TRANSFER_COLUMNS = [
    "language",
    "n_pairs",
    "student accuracy",
    "teacher source accuracy",
    "transfer ratio",
    "note",
]


def transfer_ratios(
    predictions: pd.DataFrame | None, labels: Sequence[str], source: str | None
) -> pd.DataFrame:
    """Per target language: the KD student there vs the teacher on the same items in ``source``.

    Items are matched by ``pair_id``; only labelled rows whose pair also has a labelled
    ``source`` row count. ``transfer ratio`` is ``100 * student accuracy / teacher source
    accuracy`` (it can exceed 100); it is ``nan`` with a ``note`` saying why when undefined
    (no paired items, or the teacher got none of them right). Empty when ``predictions`` lacks
    teacher or student logits.
    """
    need = {"language", "label", "pair_id", "teacher_logits", "student_logits"}
    if predictions is None or predictions.empty or not need <= set(predictions) or not source:
        return pd.DataFrame(columns=TRANSFER_COLUMNS)
    index = {name: i for i, name in enumerate(labels)}
    y = np.array([index.get(v, -1) if isinstance(v, str) else -1 for v in predictions["label"]])
    rows = predictions.assign(_y=y)
    rows = rows[(rows["_y"] >= 0) & rows["pair_id"].notna()]

    def correct(part: pd.DataFrame, model: str) -> pd.Series:
        logits = fmt.logit_matrix(part[f"{model}_logits"])
        return pd.Series(logits.argmax(axis=1) == part["_y"].to_numpy(), index=part["pair_id"])

    src = rows[rows["language"] == source].drop_duplicates("pair_id")
    teacher_src = correct(src, "teacher") if len(src) else pd.Series(dtype=bool)
    out = []
    for lang in sorted(set(predictions["language"]) - {source}):
        tgt = rows[(rows["language"] == lang) & rows["pair_id"].isin(teacher_src.index)]
        tgt = tgt.drop_duplicates("pair_id")
        n = len(tgt)
        s_acc = float(correct(tgt, "student").mean()) if n else float("nan")
        t_acc = float(teacher_src.loc[tgt["pair_id"]].mean()) if n else float("nan")
        if n == 0:
            note = f"no labelled {lang} test item shares a pair_id with a {source} item"
        elif t_acc == 0:
            note = f"the teacher got none of the {n} paired {source} items right"
        else:
            note = ""
        out.append(
            {
                "language": lang,
                "n_pairs": n,
                "student accuracy": s_acc,
                "teacher source accuracy": t_acc,
                "transfer ratio": 100 * ratio(s_acc, t_acc),
                "note": note,
            }
        )
    return pd.DataFrame(out, columns=TRANSFER_COLUMNS)


def _count(value) -> int:
    n = num(value)
    return 0 if math.isnan(n) else int(n)


def _intervals(result: dict, predictions: pd.DataFrame | None, labels: list[str]) -> dict:
    """``{language: {model: [low, high], "kd_gain": {...}}}``: from eval.json, or computed from
    ``predictions`` for a run evaluated before eval.json held intervals (the same function)."""
    from xkd.evaluate.intervals import prediction_intervals

    languages = get(result, "languages") or {}
    saved = {}
    for lang, entry in languages.items():
        found = {m: get(entry, m, "accuracy_ci") for m in MODELS if get(entry, m, "accuracy_ci")}
        if isinstance(get(entry, "kd_gain"), dict):
            found["kd_gain"] = entry["kd_gain"]
        saved[lang] = found
    if any(saved.values()) or predictions is None or predictions.empty or not labels:
        return saved
    if "label" not in predictions or "language" not in predictions:
        return saved
    source = get(result, "source_language")
    return prediction_intervals(predictions, labels=labels, source_language=source)["languages"]


def _interval_cells(found: dict) -> dict:
    gain = found.get("kd_gain") or {}
    cells = {
        "KD gain low": num(gain.get("low")),
        "KD gain high": num(gain.get("high")),
        "significant": gain.get("significant"),
        "p": num(gain.get("p")),
    }
    for m in MODELS:
        low, high = found.get(m) or (None, None)
        cells[f"{m} low"], cells[f"{m} high"] = num(low), num(high)
    return cells


def accuracy_table(
    result: dict | None,
    predictions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per language: n, prior, accuracy per model with its 95 % bootstrap interval
    (``<model> low``/``high``), the KD gain with its paired interval and significance, the
    ratio to the teacher, F1, ECE.

    ``% of teacher kept`` (source row only) is ``100 * student / teacher`` accuracy;
    ``transfer ratio`` (target rows only) comes from :func:`transfer_ratios` of
    ``predictions``; where either is undefined it is ``nan`` and ``ratio note`` says why; ``KD gain`` is ``100 * (student - baseline)``. The source language comes
    first.
    """
    languages = get(result, "languages")
    if not isinstance(languages, dict) or not languages:
        return pd.DataFrame(columns=ACCURACY_COLUMNS)
    source = get(result, "source_language")
    label_names = get(result, "labels")
    label_names = label_names if isinstance(label_names, list) else []
    transfer = transfer_ratios(predictions, label_names, source).set_index("language")
    intervals = _intervals(result, predictions, label_names)
    if predictions is None:
        missing = "this run has no predictions.parquet"
    elif not label_names:
        missing = "eval.json lists no labels, so the predictions cannot be scored"
    else:
        missing = "predictions.parquet has no scored rows of this language"
    rows = []
    for lang, entry in languages.items():
        acc = {m: num(get(entry, m, "accuracy")) for m in MODELS}
        is_source = lang == source
        kept, ratio_t, pairs, why = np.nan, np.nan, 0, ""
        if is_source:
            kept = 100 * ratio(acc["student"], acc["teacher"])
            if math.isnan(kept):
                why = "eval.json has no non-zero teacher accuracy and KD student accuracy here"
        elif lang in transfer.index:
            t = transfer.loc[lang]
            ratio_t, pairs, why = t["transfer ratio"], t["n_pairs"], t["note"]
        else:
            why = missing
        name = L.TEACHER_KEPT if is_source else L.TRANSFER_RATIO
        note = f"{name} for {lang} is {fmt.DASH}: {why}." if why else ""
        rows.append(
            {
                "language": lang,
                "role": "source" if is_source else "target",
                "n": _count(get(entry, "n")),
                "prior": num(get(entry, "prior")),
                **acc,
                "% of teacher kept": kept,
                "transfer ratio": float(ratio_t),
                "KD gain (points)": 100 * (acc["student"] - acc["baseline"]),
                **_interval_cells(intervals.get(lang) or {}),
                **{f"{m} macro-F1": num(get(entry, m, "macro_f1")) for m in MODELS},
                **{f"{m} ECE": num(get(entry, m, "ece")) for m in MODELS},
                "agreement": num(get(entry, "agreement")),
                "KL(teacher‖student)": num(get(entry, "kl")),
                "transfer pairs": int(pairs),
                "ratio note": note,
            }
        )
    frame = pd.DataFrame(rows, columns=ACCURACY_COLUMNS)
    frame["_order"] = (frame["role"] != "source").astype(int)
    frame = frame.sort_values(["_order", "language"], kind="stable").drop(columns="_order")
    return frame.reset_index(drop=True)


#: Columns of the short per-language table (the rest appear with "show all").
SHORT_COLUMNS = [*ACCURACY_COLUMNS[: ACCURACY_COLUMNS.index("KD gain (points)") + 1], "significant"]
#: Interval ends: shown inside their value's cell, kept as numbers in the CSV.
_ENDS = [c for c in ACCURACY_COLUMNS if c.endswith((" low", " high")) or c == "p"]
#: The on-screen header of the KD gain's significance column.
SIGNIFICANT = "gain significant (95 %)"


def _gain_cell(points) -> str:
    """A KD gain already in points (as in the tables) as ``+52.0 pts``."""
    return fmt.points(num(points) / 100)


def _with_interval(value: str, low, high, cell=fmt.decimal) -> str:
    ends = fmt.interval(low, high, cell)
    return value if ends == fmt.DASH or value == fmt.DASH else f"{value} {ends}"


def _combined(table: pd.DataFrame) -> pd.DataFrame:
    """Each accuracy as ``0.750 [0.500, 0.938]``, the KD gain as ``+25.0 pts [-12.5, +62.5]``
    and its significance as ``yes (p=0.004)``: text cells, interval columns dropped."""
    out = table.copy()
    for m in MODELS:
        out[m] = [
            _with_interval(fmt.decimal(v), lo, hi)
            for v, lo, hi in zip(table[m], table[f"{m} low"], table[f"{m} high"], strict=True)
        ]
    gains = zip(table["KD gain (points)"], table["KD gain low"], table["KD gain high"], strict=True)
    out["KD gain (points)"] = [
        _with_interval(_gain_cell(g), lo, hi, lambda v: f"{100 * num(v):+.1f}")
        for g, lo, hi in gains
    ]
    out["significant"] = [
        fmt.significance(s, p) for s, p in zip(table["significant"], table["p"], strict=True)
    ]
    return out.drop(columns=_ENDS)


def accuracy_display(table: pd.DataFrame, *, all_columns: bool = False) -> pd.DataFrame:
    """:func:`accuracy_table` as text for the page: labelled headers, each accuracy and gain
    with its 95 % interval, no ``nan`` anywhere."""
    cols = [c for c in ACCURACY_COLUMNS if c != "ratio note" and c not in _ENDS]
    shown = _combined(table)[cols if all_columns else SHORT_COLUMNS]
    three = fmt.decimal
    formats = {
        "prior": three,
        "% of teacher kept": fmt.percent,
        "transfer ratio": fmt.percent,
        **{c: three for c in cols if c.endswith(("macro-F1", "ECE"))},
        "agreement": three,
        "KL(teacher‖student)": three,
    }
    rename = {
        "student": L.STUDENT,
        "baseline": L.BASELINE,
        "KD gain (points)": L.KD_GAIN,
        "significant": SIGNIFICANT,
        "prior": L.PRIOR,
        "KL(teacher‖student)": f"KL({L.TEACHER}‖{L.STUDENT})",
        **{f"{m} {k}": f"{L.model_label(m)} {k}" for m in MODELS for k in ("macro-F1", "ECE")},
    }
    return fmt.text_frame(shown, formats, rename=rename)


def ratio_notes(table: pd.DataFrame, source: str | None) -> list[str]:
    """Why a ratio to the teacher is ``–``, and a line when a transfer ratio is above 100 %."""
    if table.empty:
        return []
    notes = [n for n in table["ratio note"] if n]
    targets = table[table["role"] == "target"]
    over = [r["language"] for _, r in targets.iterrows() if num(r["transfer ratio"]) > 100]
    if over:
        notes.append(
            f"{L.TRANSFER_RATIO} above 100 % ({', '.join(over)}): the {L.STUDENT} is more "
            f"accurate there than the {L.TEACHER} is on the same sentences in "
            f"{source or 'the source language'}."
        )
    return notes


def accuracy_long(result: dict | None, predictions: pd.DataFrame | None = None) -> pd.DataFrame:
    """``language, model, accuracy, low, high, prior`` for grouped bars, and the error bars'
    lengths ``plus = high - accuracy``, ``minus = accuracy - low`` (the 95 % interval; models
    missing from eval.json left out)."""
    table = accuracy_table(result, predictions)
    columns = ["language", "model", "accuracy", "low", "high", "plus", "minus", "prior"]
    if table.empty:
        return pd.DataFrame(columns=columns)
    parts = [
        table[["language", "prior"]].assign(
            model=m, accuracy=table[m], low=table[f"{m} low"], high=table[f"{m} high"]
        )
        for m in MODELS
    ]
    long = pd.concat(parts, ignore_index=True).dropna(subset=["accuracy"])
    long["plus"], long["minus"] = long["high"] - long["accuracy"], long["accuracy"] - long["low"]
    return long.reset_index(drop=True)[columns]
