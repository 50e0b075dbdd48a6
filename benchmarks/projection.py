"""``projection_pca_s``, ``projection_umap_warm_s``, ``projection_umap_cold_s`` on 2,000 embeddings.

Embeddings: MiniLM sentence vectors of 2,000 demo texts (all languages), what the app projects.
``xkd.evaluate.projection.project`` with its defaults (UMAP: 15 neighbours, cosine, seed 0).

- PCA: in this process, median of several calls.
- UMAP cold: a new Python process with an *empty* numba cache folder (``NUMBA_CACHE_DIR``), so
  every JIT compilation happens: the time of the first ``project(x, "umap")`` call (which imports
  umap lazily). The process's interpreter start and imports are in the details, and so is a
  second new process that finds the numba disk cache filled (a realistic second app start).
- UMAP warm: later calls in that same process (JIT done), median.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import kdsetup
from benchmarks.common import Context, Figure, bench_env, median, quantiles

PCA = "projection_pca_s"
WARM = "projection_umap_warm_s"
COLD = "projection_umap_cold_s"
FIGURES = (PCA, WARM, COLD)
TARGETS = {PCA: 0.5, WARM: 3.0, COLD: 20.0}
N = 2000
REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from xkd.evaluate.projection import project
x = np.load(sys.argv[1])
warm_runs = int(sys.argv[2])
t1 = time.perf_counter()
project(x, "umap")
t2 = time.perf_counter()
warm = []
for _ in range(warm_runs):
    s = time.perf_counter()
    project(x, "umap")
    warm.append(time.perf_counter() - s)
print(json.dumps({"imports_s": t1 - t0, "first_call_s": t2 - t1, "warm_s": warm}))
"""


def embeddings(ctx: Context):
    """[N, 384] MiniLM embeddings of demo texts (random clusters in tiny mode)."""
    import numpy as np

    if ctx.tiny:
        rng = np.random.default_rng(0)
        centres = rng.normal(size=(8, 32))
        return (centres[rng.integers(0, 8, 300)] + 0.3 * rng.normal(size=(300, 32))).astype(
            np.float32
        )
    setup = kdsetup.prepare(ctx)
    if ctx.quick:  # no extra teacher pass: the cached vectors, repeated with jitter, up to N
        base = setup.cache.pooled.numpy().astype(np.float32)
        rng = np.random.default_rng(0)
        rows = base[np.arange(N) % len(base)]
        return rows + 0.01 * rng.normal(size=rows.shape).astype(np.float32)
    texts = list(dict.fromkeys(setup.frame["text"].tolist()))[:N]
    setup.cache.ensure(texts)
    return setup.cache.pooled[setup.cache.ids(texts)].numpy().astype(np.float32)


def child_run(npy: Path, warm_runs: int, numba_cache: Path | None, timeout: float = 600) -> dict:
    """One new process: first ``project(x, "umap")`` call, then ``warm_runs`` more.

    ``numba_cache``: a folder for ``NUMBA_CACHE_DIR`` (an empty one = every JIT compiles);
    None keeps numba's default cache (next to the installed packages).
    """
    env = bench_env()
    if numba_cache is not None:
        env["NUMBA_CACHE_DIR"] = str(numba_cache)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(npy), str(warm_runs)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"UMAP child process failed: {out.stderr.strip()[-800:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_wall_s"] = wall
    return res


def run(ctx: Context) -> list[Figure]:
    import numpy as np

    from xkd.evaluate.projection import project

    x = embeddings(ctx)
    n, d = x.shape
    pca_times = []
    for _ in range(3 if ctx.quick else 7):
        s = time.perf_counter()
        project(x, "pca")
        pca_times.append(time.perf_counter() - s)
    tmp = Path(tempfile.mkdtemp(prefix="xkd-proj-", dir=ctx.work_dir))
    try:
        npy = tmp / "emb.npy"
        np.save(npy, x)
        if ctx.quick:  # numba's default cache: empty on a fresh install (CI), else filled
            numba_cache = None
            ctx.log(f"projection: UMAP in a new process, default numba cache ({n} x {d})")
        else:
            numba_cache = tmp / "numba-cache"
            numba_cache.mkdir()
            ctx.log(f"projection: UMAP in a new process, empty numba cache ({n} x {d})")
        cold = child_run(npy, 1 if ctx.quick else 3, numba_cache)
        second = None
        if not ctx.quick:
            ctx.log("projection: UMAP in a second new process (numba disk cache filled)")
            second = child_run(npy, 0, numba_cache)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    data = f"{n} x {d} MiniLM embeddings of demo texts"
    if ctx.tiny:
        data = f"{n} x {d} random"
    elif ctx.quick:
        data += " (quick: the cached vectors repeated with jitter)"
    common = {"embeddings": data, "threads_in_child": "default (all usable cores)"}
    warm_value = median(cold["warm_s"])
    return [
        Figure(
            PCA,
            median(pca_times),
            TARGETS[PCA],
            "<=",
            unit=" s",
            summary=f"project(x, 'pca') on {n} x {d}, median",
            details=common | {"times_s": quantiles(pca_times)},
            quick=ctx.quick,
        ),
        Figure(
            WARM,
            warm_value,
            TARGETS[WARM],
            "<=",
            unit=" s",
            summary=f"project(x, 'umap') on {n} x {d}, JIT done, median",
            details=common | {"times_s": quantiles(cold["warm_s"])},
            quick=ctx.quick,
        ),
        Figure(
            COLD,
            cold["first_call_s"],
            TARGETS[COLD],
            "<=",
            unit=" s",
            summary=f"first project(x, 'umap') in a new process, "
            f"{'default' if ctx.quick else 'empty'} numba cache ({n} x {d})",
            details=common
            | {
                "new_process_imports_s": cold["imports_s"],
                "new_process_wall_s": cold["process_wall_s"],
                "second_process_first_call_s_numba_disk_cache": second["first_call_s"]
                if second
                else None,
                "numba_cache": "empty folder (all JIT compiles)"
                if numba_cache is not None
                else "quick: numba's default cache folder (empty only on a fresh install)",
            },
            quick=ctx.quick,
        ),
    ]
