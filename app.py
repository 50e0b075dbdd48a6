"""xkd lab: the Streamlit app (`xkd app`, or `streamlit run app.py`).

This file is the router and the shared frame: it declares the pages with ``st.navigation``
and draws the sidebar (device, runs folder, current run). The current run id lives in
``st.session_state["run_id"]`` (default: the newest run). Every page reads its data from the
run folders, so a refresh or a page switch never loses a run.

Environment: ``XKD_RUNS_DIR`` (default ``runs/``); ``XKD_APP_DEMO=1`` launches the demo run once
when no run exists yet (``xkd app --demo``), so a first visit shows a run training live;
``XKD_APP_WARM=0`` turns off the background preparation at start (``xkd.app.warm``).
"""

from __future__ import annotations

import streamlit as st

from xkd.app import fmt, labels, rundata, warm
from xkd.errors import XKDError
from xkd.runs import launch as run_launch

st.set_page_config(page_title="xkd lab", page_icon=":material/school:", layout="wide")

PAGES = {
    "": [
        st.Page("pages/home.py", title="Overview", icon=":material/home:", default=True),
    ],
    "Train": [
        st.Page("pages/lab.py", title="Lab", icon=":material/science:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/list:"),
        st.Page("pages/sweeps.py", title="Sweeps", icon=":material/tune:"),
    ],
    "Inspect a run": [
        st.Page("pages/accuracy.py", title="Accuracy", icon=":material/leaderboard:"),
        st.Page("pages/alignment.py", title="Alignment", icon=":material/scatter_plot:"),
        st.Page("pages/distributions.py", title="Distributions", icon=":material/bar_chart:"),
    ],
    "Learn": [
        st.Page("pages/loss_lab.py", title="Loss lab", icon=":material/function:"),
    ],
}


@st.cache_resource(show_spinner=False)
def _device() -> str:
    return rundata.device_label()


@st.cache_resource(show_spinner=False)
def _warm(base: str) -> object:
    """Once per app process: fit the first maps that older runs lack and compile UMAP, in the
    background (``xkd.app.warm``)."""
    return warm.start(base)


def _start_demo_once(base) -> None:
    """``xkd app --demo``: launch the demo preset when the runs folder is empty (once)."""
    if st.session_state.get("_demo_checked"):
        return
    st.session_state["_demo_checked"] = True
    try:
        launched = run_launch.maybe_launch_demo(base)
    except XKDError as exc:
        st.sidebar.error(f"Could not start the demo run: {exc}")
        return
    if launched is not None:
        st.session_state["run_id"] = launched.run_id
        st.toast(f"Started the demo run {launched.run_id}; watch it in the Lab.")


def _on_run_pick() -> None:
    st.session_state["run_id"] = st.session_state.get("sidebar_run")


def sidebar() -> None:
    base = rundata.runs_dir()
    _warm(str(base))
    _start_demo_once(base)
    runs = rundata.all_runs(base)
    current = rundata.pick_run(runs, st.session_state.get("run_id"))
    st.session_state["run_id"] = current
    with st.sidebar:
        st.caption(f"Device: **{_device()}**")
        st.caption(f"Runs folder: `{base}`")
        if not runs:
            st.info("No runs yet: start one in the Lab.")
            return
        ids = [r.run_id for r in runs]
        names = {r.run_id: rundata.run_label(r) for r in runs}
        if st.session_state.get("sidebar_run") != current:
            st.session_state["sidebar_run"] = current
        st.selectbox(
            "Current run",
            ids,
            key="sidebar_run",
            format_func=lambda rid: names.get(rid, rid),
            on_change=_on_run_pick,
            help="The run the Accuracy, Alignment and Distributions pages show "
            "(newest by default).",
        )
        run = next(r for r in runs if r.run_id == current)
        head = run.headline
        if run.active:
            total = run.total_steps or 0
            step = f" · step {run.step}/{total}" if total else ""
            st.caption(f":orange[●] {run.state} · {run.phase or ''}{step}")
        elif run.state == "finished" and head is not None:
            st.caption(
                f":green[●] finished · {labels.STUDENT_TARGETS} "
                f"{fmt.pct(head.student_target_accuracy)}"
            )
        elif run.state:
            st.caption(f"{run.state}" + (f": {run.error}" if run.error else ""))


page = st.navigation(PAGES, position="sidebar", expanded=True)
st.session_state["_xkd_router"] = True
wanted = st.session_state.pop("_xkd_wanted_page", None)
if wanted:  # a first deep link that Streamlit ran without this router (see pages/_common.py)
    st.switch_page(wanted)
sidebar()
page.run()
