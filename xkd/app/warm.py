"""What the app prepares in the background when it starts, so that no visitor waits on it.

A finished run fits the Alignment page's first map itself
(:func:`xkd.experiment.evaluation.write_test_map`). Runs written before that, or whose fit
failed, get theirs here, newest first, in one daemon thread; then UMAP is compiled once on a
small random matrix (numba keeps the compiled code on disk), so that a first UMAP with other
settings (PCA off, languages picked, centred) does not pay the compilation on screen.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

#: runs whose missing first map is fitted at start (the newest ones)
MAX_RUNS = 5


def missing_maps(runs_dir: str | Path, limit: int = MAX_RUNS) -> list:
    """The newest finished runs of ``runs_dir`` that have embeddings but no fitted first map."""
    from xkd.runs import list_runs
    from xkd.runs.projections import has_default_map

    out = []
    for run in list_runs(runs_dir):
        if len(out) >= limit:
            break
        folder = run.folder
        if run.state == "finished" and folder.embeddings_path.is_file():
            if not has_default_map(folder):
                out.append(folder)
    return out


def compile_umap() -> None:
    """One small UMAP fit: numba compiles UMAP's functions (cached on disk) before a visitor
    asks for a map."""
    import numpy as np

    from xkd.evaluate.projection import project

    x = np.random.default_rng(0).normal(size=(64, 8))
    project(x, "umap", n_neighbors=15, seed=0)


def warm(runs_dir: str | Path, *, fit: Callable | None = None) -> dict:
    """Fit the missing first maps of ``runs_dir``'s newest runs, then compile UMAP; returns
    what was done (``{"maps": [run ids], "failed": [run ids], "umap": bool}``)."""
    from xkd.runs.projections import write_default_map

    fit = fit or write_default_map
    done: dict = {"maps": [], "failed": [], "umap": False}
    for folder in missing_maps(runs_dir):
        try:
            fit(folder)
            done["maps"].append(folder.run_id)
        except Exception as exc:  # noqa: BLE001 - the page fits it on a visit and says why
            log.warning("could not fit the map of %s: %s", folder.path, exc)
            done["failed"].append(folder.run_id)
    try:
        compile_umap()
        done["umap"] = True
    except Exception as exc:  # noqa: BLE001 - e.g. umap-learn missing: PCA still works
        log.warning("could not compile UMAP: %s", exc)
    return done


def start(runs_dir: str | Path) -> threading.Thread | None:
    """:func:`warm` in a daemon thread (call once per app process); ``XKD_APP_WARM=0`` turns
    it off (the tests do: each of them would compile UMAP)."""
    if os.environ.get("XKD_APP_WARM", "1") == "0":
        return None
    thread = threading.Thread(target=warm, args=(runs_dir,), name="xkd-warm", daemon=True)
    thread.start()
    return thread
