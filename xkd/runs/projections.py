"""The test-set map of a run: 2-D projections of ``embeddings.parquet``, fitted jointly.

The Alignment page draws :func:`projection_frame`; a finished run writes the page's first view
(UMAP of the teacher and the student, every language, not centred) with
:func:`write_default_map` into its cache folder, so that nobody waits for UMAP's compilation and
fit on a first visit. Both go through one cache (:func:`xkd.evaluate.projection.cached_projection`),
so the page reads what the run wrote.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_MAP_MODELS",
    "PROJECTION_COLUMNS",
    "default_models",
    "has_default_map",
    "projection_frame",
    "write_default_map",
]

PROJECTION_COLUMNS = ["row", "x", "y", "model", "language", "label", "pair_id", "text"]
#: the models the Alignment page shows first (those of them that the run has)
DEFAULT_MAP_MODELS = ("teacher", "student")


def projection_frame(
    embeddings: pd.DataFrame | None,
    *,
    method: str = "umap",
    center: bool = False,
    models: Sequence[str] = ("teacher", "student"),
    languages: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
    max_points: int = 4000,
) -> tuple[pd.DataFrame, list[str]]:
    """2-D coordinates of the chosen models' embeddings, fitted jointly; returns (frame, notes).

    ``row`` is the row of ``embeddings.parquet``. With ``center`` each (model, language)
    group's mean is subtracted first. Models whose vectors have another width than the first
    model's cannot share a fit; they are projected on their own (a note says so). When
    ``cache_dir`` is given, :func:`xkd.evaluate.projection.cached_projection` stores results
    there. Beyond ``max_points`` rows an evenly spaced subset is used (a note says so).
    """
    from xkd.evaluate.projection import cached_projection, project

    notes: list[str] = []
    if embeddings is None or embeddings.empty:
        return pd.DataFrame(columns=PROJECTION_COLUMNS), notes
    emb = embeddings.reset_index(drop=True)
    emb = emb.assign(row=np.arange(len(emb)))
    emb = emb[emb["model"].isin(list(models))]
    if languages:
        emb = emb[emb["language"].isin(list(languages))]
    if emb.empty:
        return pd.DataFrame(columns=PROJECTION_COLUMNS), notes
    if len(emb) > max_points:
        step = math.ceil(len(emb) / max_points)
        keep_pairs = emb["pair_id"].dropna().unique()[::step]
        subset = emb[emb["pair_id"].isin(keep_pairs) | emb["pair_id"].isna()]
        if len(subset) > max_points:
            subset = subset.iloc[::step]
        notes.append(f"showing {len(subset)} of {len(emb)} points (evenly spaced subset)")
        emb = subset
    widths = emb["vector"].map(len)
    groups = [emb[widths == w] for w in pd.unique(widths)]
    if len(groups) > 1:
        notes.append(
            "teacher and student embeddings have different widths, so each width is "
            "projected on its own (their coordinates are not comparable)"
        )
    out = []
    for part in groups:
        x = np.stack(part["vector"].to_list()).astype(np.float64)
        center_by = (part["model"] + ":" + part["language"]).to_numpy() if center else None
        kw: dict[str, Any] = {"center_by": center_by} if center else {}
        if method == "umap":
            kw.update(n_neighbors=15, seed=0)
        if cache_dir is not None:
            key = "-".join(sorted(pd.unique(part["model"]))) + f"-{len(part)}"
            coords = cached_projection(key, x, Path(cache_dir), method, **kw)
        else:
            coords = project(x, method, **kw)
        frame = part[["row", "model", "language", "label", "pair_id", "text"]].copy()
        frame["x"] = coords[:, 0]
        frame["y"] = coords[:, 1]
        out.append(frame)
    result = pd.concat(out, ignore_index=True)[PROJECTION_COLUMNS]
    return result, notes


def default_models(available: Sequence[str]) -> list[str]:
    """The models of the page's first view among ``available``."""
    return [m for m in DEFAULT_MAP_MODELS if m in set(available)]


#: written in the cache folder once the first view is fitted (what :func:`has_default_map` reads)
MARKER = "map-default.json"


def write_default_map(folder, method: str = "umap") -> Path | None:
    """Fit the Alignment page's first view of ``folder``'s ``embeddings.parquet`` into its cache
    folder (read back from the file, so the page's inputs are the same bytes); returns the
    marker file, or None when the run has no embeddings."""
    import json

    path = Path(folder.embeddings_path)
    if not path.is_file():
        return None
    embeddings = pd.read_parquet(path)
    models = default_models(embeddings["model"].unique())
    if not models:
        return None
    _, notes = projection_frame(
        embeddings, method=method, models=models, cache_dir=folder.cache_dir
    )
    marker = Path(folder.cache_dir) / MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"method": method, "models": models, "notes": notes}))
    return marker


def has_default_map(folder) -> bool:
    """Whether ``folder``'s first view has been fitted (:func:`write_default_map`)."""
    return (Path(folder.cache_dir) / MARKER).is_file()
