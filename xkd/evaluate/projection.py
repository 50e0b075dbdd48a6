"""2-D projections of embeddings for the app (PCA via numpy SVD, or UMAP), with a disk cache.

UMAP is imported lazily, only when ``method="umap"`` is asked for.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from xkd.errors import ConfigError

__all__ = ["METHODS", "Pca2D", "cached_projection", "center_groups", "pca_2d", "project"]

METHODS = ("pca", "umap")


def _as_matrix(embeddings) -> np.ndarray:
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be 2-D [N, D], got shape {x.shape}")
    return x


def center_groups(embeddings, groups) -> np.ndarray:
    """Subtract each group's mean from its rows: ``x_i - mean_{j: g_j = g_i} x_j``."""
    x = _as_matrix(embeddings).copy()
    g = np.asarray(groups)
    if g.shape != (x.shape[0],):
        raise ValueError(f"center_by needs one label per row: {g.shape} vs {x.shape[0]} rows")
    for value in pd.unique(g):
        mask = g == value
        x[mask] -= x[mask].mean(axis=0, keepdims=True)
    return x


def pca_2d(embeddings) -> np.ndarray:
    """First two principal components via SVD of the centred data (deterministic signs).

    Each component's sign is fixed so that its largest-magnitude loading is positive.
    Fewer than two available components are padded with zeros.
    """
    return Pca2D.fit(embeddings).transform(embeddings)


class Pca2D:
    """A 2-D PCA fitted once (``mean``, ``components`` ``[2, D]``) that maps any embeddings of
    the same width: a point's coordinates depend on its own vector only, so the points a model
    did not change keep their place from one training step to the next."""

    def __init__(self, mean: np.ndarray, components: np.ndarray) -> None:
        self.mean, self.components = np.asarray(mean), np.asarray(components)

    @classmethod
    def fit(cls, embeddings) -> Pca2D:
        x = _as_matrix(embeddings)
        comps = np.zeros((2, x.shape[1]), dtype=np.float64)
        if x.shape[0] == 0 or x.shape[1] == 0:
            return cls(np.zeros(x.shape[1]), comps)
        mean = x.mean(axis=0)
        _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
        for j in range(min(2, vt.shape[0])):
            v = vt[j]
            comps[j] = -v if v[np.argmax(np.abs(v))] < 0 else v
        return cls(mean, comps)

    def transform(self, embeddings) -> np.ndarray:
        x = _as_matrix(embeddings)
        if x.shape[1] != self.components.shape[1]:
            raise ValueError(
                f"embeddings have width {x.shape[1]}, the projection {self.components.shape[1]}"
            )
        return (x - self.mean) @ self.components.T


def _umap_2d(x: np.ndarray, n_neighbors: int, seed: int) -> np.ndarray:
    n = x.shape[0]
    if n < 4:
        # UMAP's spectral init needs a handful of points; fall back to PCA for tiny inputs.
        return pca_2d(x)
    try:
        import umap  # lazy: heavy import (numba)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "projection method 'umap' needs the umap-learn package: "
            "pip install 'xkd[app]' or use method='pca'"
        ) from exc
    k = max(2, min(int(n_neighbors), n - 1))
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=k,
        random_state=int(seed),
        metric="cosine",
        n_jobs=1,  # a fixed random_state forces one job anyway; say so to avoid a warning
        precomputed_knn=(*exact_cosine_knn(x, k), None),
    )
    with warnings.catch_warnings():
        # precomputed neighbours disable UMAP's transform() of new points, which is not used
        warnings.simplefilter("ignore")
        return np.asarray(reducer.fit_transform(x), dtype=np.float64)


def exact_cosine_knn(x: np.ndarray, k: int, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest neighbours by cosine distance (self first), in row blocks.

    For the few thousand points the app projects, a blocked matrix product is exact and several
    times faster than UMAP's approximate nearest-neighbour descent (and needs no JIT).
    Returns ``(indices [N, k] int32, distances [N, k] float32)``.
    """
    xn = np.asarray(x, dtype=np.float32)
    xn = xn / np.maximum(np.linalg.norm(xn, axis=1, keepdims=True), 1e-12)
    n = xn.shape[0]
    idx = np.empty((n, k), dtype=np.int32)
    dist = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, block):
        sim = xn[start : start + block] @ xn.T
        rows = np.arange(sim.shape[0])
        sim[rows, start + rows] = 2.0  # the point itself comes first, even among duplicates
        part = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        d = 1.0 - np.take_along_axis(sim, part, axis=1)
        order = np.argsort(d, axis=1, kind="stable")
        idx[start : start + block] = np.take_along_axis(part, order, axis=1)
        dist[start : start + block] = np.maximum(np.take_along_axis(d, order, axis=1), 0.0)
    return idx, dist


def project(
    embeddings: np.ndarray,
    method: str = "umap",
    *,
    n_neighbors: int = 15,
    seed: int = 0,
    center_by: np.ndarray | None = None,
) -> np.ndarray:
    """Project ``[N, D]`` embeddings to ``[N, 2]`` with ``method`` ``"umap"`` or ``"pca"``.

    ``center_by`` is an optional group label per row (e.g. the language); each group's mean is
    subtracted before projecting, which removes the per-language offset ("mean-centre each
    language"). ``n_neighbors`` and ``seed`` are used by UMAP only; PCA is deterministic.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown projection method {method!r}; use one of {', '.join(METHODS)}")
    x = _as_matrix(embeddings)
    if center_by is not None:
        x = center_groups(x, center_by)
    if method == "pca":
        return pca_2d(x)
    return _umap_2d(x, n_neighbors, seed)


def _embedding_hash(x: np.ndarray, center_by) -> str:
    h = hashlib.sha256()
    arr = np.ascontiguousarray(x)
    h.update(str(arr.dtype).encode())
    h.update(str(arr.shape).encode())
    h.update(arr.tobytes())
    if center_by is not None:
        h.update(b"center_by")
        h.update(json.dumps([str(v) for v in np.asarray(center_by).tolist()]).encode())
    return h.hexdigest()[:16]


def _safe_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "-", str(text)).strip("-")[:60] or "x"


def cached_projection(
    frame_key: str,
    embeddings,
    cache_dir: Path,
    method: str = "umap",
    **kw,
) -> np.ndarray:
    """:func:`project` with a parquet cache in ``cache_dir``.

    The file name is built from ``frame_key``, ``method``, the keyword parameters
    (``n_neighbors``, ``seed``, ``center_by``) and a hash of the embeddings (and group
    labels), so a revisit with the same inputs reads the file instead of recomputing.
    """
    x = _as_matrix(embeddings)
    center_by = kw.get("center_by")
    params = {k: v for k, v in sorted(kw.items()) if k != "center_by"}
    if method == "pca":
        params = {}  # PCA ignores n_neighbors and seed
    param_text = "_".join(f"{_safe_part(k)}={_safe_part(v)}" for k, v in params.items())
    digest = _embedding_hash(x, center_by)
    parts = [_safe_part(frame_key), _safe_part(method)]
    if param_text:
        parts.append(param_text)
    if center_by is not None:
        parts.append("centred")
    parts.append(digest)
    cache_dir = Path(cache_dir)
    path = cache_dir / ("__".join(parts) + ".parquet")
    if path.exists():
        try:
            frame = pd.read_parquet(path)
            coords = frame[["x", "y"]].to_numpy(dtype=np.float64)
            if coords.shape == (x.shape[0], 2):
                return coords
        except Exception:  # noqa: BLE001 - a broken cache file is recomputed
            pass
    coords = project(x, method, **kw)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-", suffix=".parquet")
    os.close(fd)
    try:
        pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1]}).to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return coords
