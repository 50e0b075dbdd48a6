"""Streamlit glue shared by the pages: cached readers, the current run, empty states.

Computation lives in :mod:`xkd.app`; this module only adds Streamlit caching and the messages
every page shows the same way. Cache keys include file modification times, so a run that
finishes (or a re-evaluated one) is read again.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from pages import _components as K
from xkd.app import rundata
from xkd.runs import Run, load_run

PAGE_FILES = {
    "home": "pages/home.py",
    "lab": "pages/lab.py",
    "alignment": "pages/alignment.py",
    "distributions": "pages/distributions.py",
    "accuracy": "pages/accuracy.py",
    "runs": "pages/runs.py",
    "sweeps": "pages/sweeps.py",
    "loss_lab": "pages/loss_lab.py",
}


def ensure_router(page: str) -> None:
    """Run the page inside ``app.py``'s frame even on a first deep link.

    Streamlit runs a file from ``pages/`` directly (without ``app.py``) when the very first
    session after the server starts opens a page URL such as ``/lab``: that legacy behaviour
    stops once ``app.py`` has called ``st.navigation``. So when ``app.py`` has not run in this
    session, go through it and let it switch back to this page.
    """
    if not st.session_state.get("_xkd_router"):
        st.session_state["_xkd_wanted_page"] = PAGE_FILES[page]
        st.switch_page("app.py")


#: Distinct colours for series that are not models (loss terms, runs).


def runs_dir() -> Path:
    return rundata.runs_dir()


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


@st.cache_data(show_spinner=False, max_entries=8)
def _predictions(path: str, mtime: float):
    return rundata.read_predictions(path)


@st.cache_data(show_spinner=False, max_entries=8)
def _embeddings(path: str, mtime: float):
    return rundata.read_embeddings(path)


def predictions(run: Run):
    """``predictions.parquet`` of a run (cached until the file changes), or None."""
    return _predictions(str(run.path), _mtime(run.folder.predictions_path))


def embeddings(run: Run):
    """``embeddings.parquet`` of a run (cached until the file changes), or None."""
    return _embeddings(str(run.path), _mtime(run.folder.embeddings_path))


def runs():
    """Every run in the runs folder, newest first (read fresh on each rerun)."""
    return rundata.all_runs(runs_dir())


def current_run_id() -> str | None:
    return st.session_state.get("run_id")


def set_current_run(run_id: str | None) -> None:
    """Make ``run_id`` the current run (the sidebar picks it up on the next rerun)."""
    st.session_state["run_id"] = run_id


def no_runs_message(what: str) -> None:
    """The empty state: nothing to show yet, with a link to the Lab."""
    with st.container(border=True):
        st.markdown(f"**No runs yet.** {what}")
        st.caption(
            f"Runs are read from `{runs_dir()}` (set `XKD_RUNS_DIR` to use another folder). "
            "Start one in the Lab, or from a terminal: `xkd train --preset demo`."
        )
        st.page_link(PAGE_FILES["lab"], label="Open the Lab", icon=":material/science:")


def current_run(what: str) -> Run | None:
    """The current run's data, or ``None`` after showing the empty state."""
    run_id = current_run_id()
    if not run_id:
        no_runs_message(what)
        return None
    path = runs_dir() / run_id
    if not path.is_dir():
        st.warning(f"Run {run_id} no longer exists; pick another run in the sidebar.")
        return None
    return load_run(path)


def current_results(table: str, what: str, empty: str):
    """The current run and its ``predictions`` or ``embeddings`` table, as ``(run, frame)``.

    Stops the page after the empty state (``empty``: what the page shows once there is a
    run) or after :func:`results_missing` (``what``: the missing results, e.g. "Embeddings").
    """
    run = current_run(empty)
    if run is None:
        st.stop()
    frame = {"predictions": predictions, "embeddings": embeddings}[table](run)
    if frame is None or frame.empty:
        results_missing(run, what)
        st.stop()
    return run, frame


def results_missing(run: Run, what: str) -> None:
    """Explain why a run has no results yet (still going, failed, stopped)."""
    state = run.state or "unknown"
    if run.active:
        st.info(
            f"Run **{run.run_id}** is still {state}. {what} appear when it finishes "
            "evaluating; the Lab shows it training live."
        )
        K.progress_bar(run)
        st.page_link(PAGE_FILES["lab"], label="Watch it in the Lab", icon=":material/monitoring:")
    elif state in ("failed", "interrupted"):
        st.error(
            f"Run **{run.run_id}** {state}: {run.error or 'see its logs'}. "
            f"{what} exist only for finished runs."
        )
    elif state == "stopped":
        st.warning(
            f"Run **{run.run_id}** was stopped before evaluation, so it has no {what.lower()}. "
            "Resume it with `xkd train --resume " + run.run_id + "`."
        )
    else:
        st.info(f"Run **{run.run_id}** has no {what.lower()} yet.")


def legend_below(fig, y: float = -0.22):
    """Put a plotly legend under the plot, so narrow charts keep their width for the data."""
    fig.update_layout(
        legend=dict(orientation="h", yanchor="top", y=y, x=0, title_text="", font=dict(size=11))
    )
    return fig
