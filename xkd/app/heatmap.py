"""The Accuracy page's runs x languages heatmap: one metric per run and language, with the
95 % intervals of accuracies and KD gains in its table (from :func:`xkd.app.accuracy.accuracy_table`).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from xkd.app import fmt
from xkd.app import labels as L
from xkd.app.accuracy import _gain_cell, _with_interval, accuracy_table
from xkd.app.fmt import num

__all__ = [
    "HEATMAP_METRICS",
    "heatmap_display",
    "heatmap_ends",
    "heatmap_frame",
    "heatmap_is_accuracy",
]


#: Heatmap metrics: name -> (accuracy_table column, description).
HEATMAP_METRICS = {
    f"{L.STUDENT} accuracy": ("student", f"{L.STUDENT} accuracy on the test split"),
    f"{L.BASELINE} accuracy": ("baseline", f"{L.BASELINE} accuracy on the test split"),
    f"{L.TEACHER} accuracy": ("teacher", f"{L.TEACHER} accuracy on the test split"),
    f"{L.KD_GAIN} (points)": (
        "KD gain (points)",
        f"({L.STUDENT} − {L.BASELINE} accuracy) × 100",
    ),
    f"{L.TRANSFER_RATIO} (%)": (
        "transfer ratio",
        f"target languages only: {L.transfer_ratio_help(None)}",
    ),
}


def heatmap_is_accuracy(metric: str) -> bool:
    """Whether a heatmap metric is an accuracy in [0, 1] (the others are points or %)."""
    return metric.endswith("accuracy")


def heatmap_frame(
    results: Mapping[str, dict | None],
    metric: str = f"{L.STUDENT} accuracy",
    predictions: Mapping[str, pd.DataFrame | None] | None = None,
) -> pd.DataFrame:
    """Runs × languages matrix of ``metric`` (one of :data:`HEATMAP_METRICS`).

    ``results`` maps run id -> eval.json dict (runs without one are left out);
    ``predictions`` maps run id -> predictions.parquet frame, needed for the transfer ratio.
    Accuracies are in [0, 1]; the KD gain is in points and the transfer ratio in %. Languages
    where the metric is undefined for every run (the source, for the transfer ratio) are left
    out.
    """
    if metric not in HEATMAP_METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(HEATMAP_METRICS)}")
    col = HEATMAP_METRICS[metric][0]
    rows: dict[str, dict[str, float]] = {}
    for run_id, result in results.items():
        table = accuracy_table(result, (predictions or {}).get(run_id))
        if table.empty:
            continue
        rows[run_id] = dict(zip(table["language"], table[col]))
    frame = pd.DataFrame.from_dict(rows, orient="index").dropna(axis=1, how="all")
    if frame.empty:
        return frame
    frame.index.name = "run"
    return frame[sorted(frame.columns)]


def heatmap_display(
    heat: pd.DataFrame, metric: str, ends: tuple[pd.DataFrame, pd.DataFrame] | None = None
) -> pd.DataFrame:
    """A :func:`heatmap_frame` as text (``run`` a column, ``–`` where a run has no value);
    with ``ends`` (:func:`heatmap_ends`) each accuracy or gain carries its 95 % interval."""
    col = HEATMAP_METRICS[metric][0]
    if col == "KD gain (points)":
        cell = _gain_cell
    elif col == "transfer ratio":
        cell = fmt.percent
    else:
        cell = fmt.decimal
    frame = heat.reset_index()
    text = fmt.text_frame(frame, {c: cell for c in heat.columns})
    if ends is None:
        return text
    low, high = (e.reindex(index=heat.index, columns=heat.columns) for e in ends)
    scale = 100 if col == "KD gain (points)" else 1
    end = (lambda v: f"{scale * num(v):+.1f}") if scale == 100 else fmt.decimal
    for c in heat.columns:
        text[c] = [
            _with_interval(t, lo, hi, end)
            for t, lo, hi in zip(text[c], low[c], high[c], strict=True)
        ]
    return text


def heatmap_ends(
    results: Mapping[str, dict | None],
    metric: str,
    predictions: Mapping[str, pd.DataFrame | None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The 95 % interval ends behind a :func:`heatmap_frame` (runs x languages), or None for
    a metric without intervals (the transfer ratio)."""
    col = HEATMAP_METRICS[metric][0]
    if col == "transfer ratio":
        return None
    base = "KD gain" if col == "KD gain (points)" else col
    low, high = {}, {}
    for run_id, result in results.items():  # one table per run, both ends from it
        table = accuracy_table(result, (predictions or {}).get(run_id))
        if not table.empty:
            low[run_id] = dict(zip(table["language"], table[f"{base} low"], strict=True))
            high[run_id] = dict(zip(table["language"], table[f"{base} high"], strict=True))
    return pd.DataFrame.from_dict(low, orient="index"), pd.DataFrame.from_dict(high, orient="index")
