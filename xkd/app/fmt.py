"""Small value helpers shared by the page-data modules: safe lookups, logits, display formatting.

Numbers that are missing or undefined are ``nan`` inside frames and :data:`DASH` on screen, so
no page shows ``None`` or ``nan``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

#: What the pages show for a number that is missing or undefined.
DASH = "–"


def num(value: Any) -> float:
    """``value`` as a float, ``nan`` when it is missing or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def is_number(value: Any) -> bool:
    """Whether ``value`` is a finite number (``None``, ``nan`` and text are not)."""
    return math.isfinite(num(value))


def get(mapping: Any, *keys: str) -> Any:
    """``mapping[k1][k2]...`` or ``None`` when a level is missing or not a dict."""
    cur = mapping
    for key in keys:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    return cur


def ratio(a: float, b: float) -> float:
    """``a / b``, ``nan`` when either is missing or ``b`` is 0."""
    if math.isnan(a) or math.isnan(b) or b == 0:
        return float("nan")
    return a / b


def logit_matrix(series: pd.Series) -> np.ndarray:
    """A column of per-row logit arrays (as in predictions.parquet) as one float64 matrix."""
    return np.stack([np.asarray(v, dtype=np.float64) for v in series.to_list()])


def pct(fraction: Any) -> str:
    """``0.523`` -> ``52.3%``; missing -> :data:`DASH`."""
    return f"{100 * num(fraction):.1f}%" if is_number(fraction) else DASH


def percent(value: Any) -> str:
    """An already-multiplied percentage: ``52.3`` -> ``52.3%``; missing -> :data:`DASH`."""
    return f"{num(value):.1f}%" if is_number(value) else DASH


def points(fraction: Any) -> str:
    """An accuracy difference as points: ``0.52`` -> ``+52.0 pts``; missing -> :data:`DASH`."""
    return f"{100 * num(fraction):+.1f} pts" if is_number(fraction) else DASH


def decimal(value: Any, digits: int = 3) -> str:
    """``0.12345`` -> ``0.123``; missing -> :data:`DASH`."""
    return f"{num(value):.{digits}f}" if is_number(value) else DASH


def show(value: Any) -> str:
    """A config value as text: ``None`` -> :data:`DASH`, lists and dicts as JSON."""
    if value is None:
        return DASH
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def text_frame(
    frame: pd.DataFrame, formats: Mapping[str, Callable[[Any], str]], *, rename=None
) -> pd.DataFrame:
    """A copy of ``frame`` for display: ``formats[col]`` applied to each listed column.

    Columns not in ``formats`` are kept as they are (text, counts); ``rename`` maps column
    names to their on-screen labels.
    """
    out = frame.copy()
    for col, fn in formats.items():
        if col in out:
            out[col] = [fn(v) for v in out[col]]
    return out.rename(columns=dict(rename or {}))


def interval(low: Any, high: Any, cell: Callable[[Any], str] = decimal) -> str:
    """A 95 % interval as ``[0.500, 0.938]`` (each end through ``cell``); missing -> DASH."""
    if not (is_number(low) and is_number(high)):
        return DASH
    return f"[{cell(low)}, {cell(high)}]"


def gain_interval(low: Any, high: Any) -> str:
    """A KD gain's interval in points: ``[-3.1, +28.1] pts``; missing -> :data:`DASH`."""
    if not (is_number(low) and is_number(high)):
        return DASH
    return f"[{100 * num(low):+.1f}, {100 * num(high):+.1f}] pts"


def significance(significant: Any, p: Any) -> str:
    """``yes (p=0.004)`` / ``no (p=0.31)`` for a paired bootstrap test; missing -> DASH."""
    if significant is None or not is_number(p):
        return DASH
    p_text = "p<0.001" if num(p) < 0.001 else f"p={num(p):.3f}"
    return f"{'yes' if significant else 'no'} ({p_text})"
