"""Alignment health over training time, for the app: curves from the ``alignment`` records of
``metrics.jsonl`` and the map of the held-out pairs at one step from ``alignment/``
(:mod:`xkd.runs.maps`). Nothing here computes an embedding or a projection: the run did."""

from __future__ import annotations

import os

import pandas as pd

from xkd.runs import RunFolder, read_metrics
from xkd.runs.maps import read_maps

__all__ = [
    "MEASURES",
    "at_step",
    "fitted_on",
    "health_curves",
    "map_at",
    "map_extent",
    "map_steps",
    "references",
]

#: record field -> the label a page shows (the same words as the Alignment page's table)
MEASURES = {
    "retrieval_t2s": "tgt→src @1",
    "retrieval_s2t": "src→tgt @1",
    "pair_cosine": "pair cosine",
    "cka": "CKA with teacher",
    "language_id": "language-ID probe",
}
ALL = "(all languages)"
_COLUMNS = ["phase", "step", "model", "language", "measure", "value"]


def health_curves(path: str | os.PathLike) -> pd.DataFrame:
    """``phase, step, model, language, measure, value``: one row per measure of each
    ``alignment`` record (``language-ID probe`` under :data:`ALL`); empty when none."""
    rows = []
    for rec in read_metrics(path, kind="alignment"):
        base = {"phase": rec["phase"], "step": rec["step"], "model": rec["model"]}
        for lang, entry in (rec.get("languages") or {}).items():
            for key, label in MEASURES.items():
                if entry.get(key) is not None:
                    rows.append(base | {"language": lang, "measure": label, "value": entry[key]})
        if rec.get("language_id") is not None:
            value = rec["language_id"]
            rows.append(
                base | {"language": ALL, "measure": MEASURES["language_id"], "value": value}
            )
    return pd.DataFrame(rows, columns=_COLUMNS)


def references(curves: pd.DataFrame) -> pd.DataFrame:
    """The teacher's and the baseline's values (one per model, language and measure): the
    reference lines beside the student's curves."""
    ref = curves[curves["model"] != "student"]
    return ref.sort_values("step").groupby(["model", "language", "measure"], as_index=False).last()


def map_steps(path: str | os.PathLike) -> list[int]:
    """The student steps that have a stored map (ascending)."""
    maps = read_maps(RunFolder(path))
    if maps is None:
        return []
    coords = maps[2]
    steps = coords[(coords["phase"] == "student") & (coords["model"] == "student")]["step"]
    return sorted(int(s) for s in steps.unique())


def map_extent(path: str | os.PathLike) -> tuple[list[float], list[float]] | None:
    """``([x0, x1], [y0, y1])`` over every stored map, with a margin: fixed axes, so the replay
    shows the points moving, not the axes rescaling."""
    maps = read_maps(RunFolder(path))
    if maps is None or maps[2].empty:
        return None
    coords = maps[2]
    out = []
    for axis in ("x", "y"):
        lo, hi = float(coords[axis].min()), float(coords[axis].max())
        pad = 0.05 * (hi - lo or 1.0)
        out.append([lo - pad, hi + pad])
    return out[0], out[1]


def fitted_on(path: str | os.PathLike) -> str:
    """What the run's map projection was fitted on (``teacher``, ``student step 0``)."""
    from safetensors import safe_open

    file = RunFolder(path).alignment_dir / "projection.safetensors"
    if not file.is_file():
        return ""
    with safe_open(str(file), framework="np") as fh:
        return (fh.metadata() or {}).get("fitted_on", "")


def at_step(curves: pd.DataFrame, step: int) -> pd.DataFrame:
    """The student's measures at ``step`` as a table: one row per language, one column per
    measure."""
    part = curves[(curves["model"] == "student") & (curves["step"] == step)]
    if part.empty:
        return pd.DataFrame()
    table = part.pivot_table(index="language", columns="measure", values="value", aggfunc="last")
    return table[[m for m in MEASURES.values() if m in table.columns]].reset_index()


def map_at(path: str | os.PathLike, step: int) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """``(points, links)`` of the student's map at ``step``, with the teacher's map (step 0)
    and the baseline's (its end) when stored: ``points`` has ``model, x, y, text, language,
    index``; ``links`` has ``model, x0, y0, x1, y1, language`` per translation pair."""
    maps = read_maps(RunFolder(path))
    if maps is None:
        return None
    texts, pairs, coords = maps
    student = coords[
        (coords["phase"] == "student") & (coords["model"] == "student") & (coords["step"] == step)
    ]
    others = coords[coords["model"] != "student"]
    others = others.sort_values("step").groupby(["model", "index"], as_index=False).last()
    points = pd.concat([student, others], ignore_index=True).merge(texts, on="index")
    links = []
    for model, part in points.groupby("model"):
        xy = part.set_index("index")[["x", "y"]]
        joined = pairs.join(xy, on="source").join(xy, on="target", lsuffix="0", rsuffix="1")
        links.append(joined.dropna(subset=["x0", "x1"]).assign(model=model))
    cols = ["model", "x0", "y0", "x1", "y1", "language"]
    link_frame = pd.concat(links, ignore_index=True)[cols] if links else pd.DataFrame(columns=cols)
    return points[["model", "x", "y", "text", "language", "index"]], link_frame
