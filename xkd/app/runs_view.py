"""The Runs page's data: the overview table, config diffs and a one-line recipe.

Inputs are :class:`xkd.runs.Run` objects and ``config.yaml`` dicts. The headline numbers are
the run's own (:attr:`xkd.runs.Run.headline`, written once by the evaluator); nothing here
recomputes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from xkd.app import fmt
from xkd.app import labels as L
from xkd.app.fmt import get, num, show


def flatten(mapping: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists are kept as values."""
    out: dict[str, Any] = {}
    if not isinstance(mapping, dict):
        return {prefix.rstrip("."): mapping} if prefix else {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def config_diff(configs: dict[str, dict], *, all_keys: bool = False) -> pd.DataFrame:
    """Keys whose values differ between runs: one row per key, one column per run.

    With ``all_keys`` every key is listed. Values are shown as text (lists as JSON).
    """
    flat = {run: flatten(cfg or {}) for run, cfg in configs.items()}
    keys: list[str] = []
    for f in flat.values():
        keys += [k for k in f if k not in keys]
    rows = []
    for key in keys:
        values = [show(flat[run].get(key)) for run in flat]
        if all_keys or len(set(values)) > 1:
            rows.append({"key": key, **dict(zip(flat, values))})
    return pd.DataFrame(rows, columns=["key", *flat])


def recipe_text(config: dict | None) -> str:
    """``parallel_mse×10 + kl×1 (T=3, α=0)`` from a config dict."""
    distill = get(config, "distill")
    if not isinstance(distill, dict):
        return ""
    parts = []
    for loss in distill.get("losses") or []:
        if isinstance(loss, dict):
            parts.append(f"{loss.get('name')}×{num(loss.get('weight', 1.0)):g}")
        else:
            parts.append(str(loss))
    text = " + ".join(parts)
    t, a = distill.get("temperature"), distill.get("alpha")
    if t is not None or a is not None:
        text += f" (T={show(t)}, α={show(a)})"
    return text


#: Overview columns holding accuracies (fractions) and the KD gain (a fraction, shown as points).
OVERVIEW_ACCURACIES = (L.STUDENT_TARGETS, L.BASELINE_TARGETS, f"{L.TEACHER}, source language")


def runs_overview(runs: Sequence[Any]) -> pd.DataFrame:
    """The Runs page table: status, headline numbers, dataset, languages, recipe, models.

    ``runs`` are :class:`xkd.runs.Run` objects (newest first). Accuracies and the KD gain are
    fractions read from ``run.headline``; ``None`` where a run has none (still going, failed).
    """
    rows = []
    for run in runs:
        head = run.headline
        step = f"{run.step}/{run.total_steps}" if run.total_steps else ""
        targets = ",".join(run.target_languages or []) or "all others"
        rows.append(
            {
                "run": run.run_id,
                "state": run.state or "unknown",
                L.STUDENT_TARGETS: getattr(head, "student_target_accuracy", None),
                L.BASELINE_TARGETS: getattr(head, "baseline_target_accuracy", None),
                L.KD_GAIN: getattr(head, "kd_gain", None),
                L.KD_GAIN_INTERVAL: fmt.gain_interval(
                    getattr(head, "kd_gain_low", None), getattr(head, "kd_gain_high", None)
                ),
                f"{L.TEACHER}, source language": getattr(head, "teacher_source_accuracy", None),
                "dataset": run.data_path or "",
                "languages": f"{run.source_language or '?'} → {targets}",
                "recipe": recipe_text(run.config),
                L.TEACHER: run.teacher or "",
                L.STUDENT: run.student or "",
                "progress": f"{run.phase or ''} {step}".strip() if run.active else "",
                "started": str(run.status.get("started") or ""),
                "error": run.error or "",
            }
        )
    return pd.DataFrame(rows)


def overview_display(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`runs_overview` as text: accuracies in %, the KD gain in points, ``–`` if none."""
    formats = {c: fmt.pct for c in OVERVIEW_ACCURACIES} | {L.KD_GAIN: fmt.points}
    return fmt.text_frame(table, formats)
