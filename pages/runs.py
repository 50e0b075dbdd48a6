"""Runs: the table of runs, comparisons (curves and config diff), clone, export, delete."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from pages import _common as C
from xkd.errors import XKDError
from xkd.app import launch as L
from xkd.app import rundata, views
from xkd.runs import delete_run, stop_run

C.ensure_router("runs")
st.title("Runs")
runs = C.runs()
if not runs:
    C.no_runs_message("Every run you launch (here or with `xkd train`) is listed on this page.")
    st.stop()

loaded = {info.run_id: rundata.load_run(info.path) for info in runs}
configs = {rid: r.config for rid, r in loaded.items()}
results = {rid: r.eval for rid, r in loaded.items()}
overview = views.runs_overview(runs, configs, results)
st.dataframe(
    overview,
    hide_index=True,
    width="stretch",
    key="runs_table",
    column_config={
        "student target acc": st.column_config.NumberColumn(format="%.3f"),
        "baseline target acc": st.column_config.NumberColumn(format="%.3f"),
        "teacher source acc": st.column_config.NumberColumn(format="%.3f"),
        "KD gain (points)": st.column_config.NumberColumn(format="%+.1f"),
    },
)
st.caption("Click a column header to sort. Runs launched from a terminal appear here too.")

ids = [r.run_id for r in runs]
st.subheader("Compare runs")
default = [rid for rid in ids[:2]]
compare = st.multiselect("Runs to compare", ids, default=default, key="runs_compare")
if len(compare) >= 1:
    frames = [rundata.curves_long(rundata.metrics_frame(loaded[rid].path), rid) for rid in compare]
    long = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if long.empty:
        st.caption("No training curves logged yet for these runs.")
    else:
        terms = sorted(long["term"].unique(), key=lambda t: (t != "loss", t))
        term = st.selectbox("Loss term", terms, key="runs_term")
        part = long[long["term"] == term]
        fig = px.line(
            part, x="step", y="value", color="run", facet_col="phase", facet_col_spacing=0.06
        )
        fig.update_xaxes(matches=None)
        fig.update_yaxes(matches=None, showticklabels=True)
        fig.for_each_annotation(lambda a: a.update(text=a.text.replace("phase=", "")))
        fig.update_layout(
            height=320, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.25)
        )
        st.plotly_chart(fig, key="runs_curves")
if len(compare) >= 2:
    all_keys = st.toggle("Show every config key (not only differences)", key="runs_diff_all")
    diff = views.config_diff({rid: configs[rid] for rid in compare}, all_keys=all_keys)
    if diff.empty:
        st.caption("The configs are identical.")
    else:
        st.dataframe(diff, hide_index=True, width="stretch", key="runs_diff")
elif compare:
    st.caption("Pick a second run to see a config diff.")

st.subheader("One run")
current = C.current_run_id()
target = st.selectbox(
    "Run",
    ids,
    index=ids.index(current) if current in ids else 0,
    key="runs_target",
)
run = loaded[target]
buttons = iter(st.columns(4))
a, b = next(buttons), next(buttons)
if a.button("Make current", key="runs_make_current", icon=":material/check:", width="stretch"):
    C.set_current_run(target)
    st.rerun()


def _clone() -> None:
    st.session_state["lab_clone"] = (target, run.config)


if b.button(
    "Clone into the Lab",
    key="runs_clone",
    icon=":material/content_copy:",
    width="stretch",
    on_click=_clone,
):
    st.switch_page(C.PAGE_FILES["lab"])

if run.active:
    if next(buttons).button("Stop", key="runs_stop", icon=":material/stop:", width="stretch"):
        with st.spinner("Stopping…"):
            final = stop_run(run.path, timeout=10)
        st.toast(f"{target}: {final.get('state')}")
        st.rerun()
if run.folder.student_dir.is_dir():
    d = next(buttons)
    zips = st.session_state.setdefault("runs_zips", {})
    if target in zips:
        d.download_button(
            "Download student (.zip)",
            zips[target],
            file_name=f"{target}-student.zip",
            mime="application/zip",
            key="runs_download",
            icon=":material/download:",
            width="stretch",
        )
    elif d.button("Export student", key="runs_export", icon=":material/archive:", width="stretch"):
        with st.spinner("Zipping student/ …"):
            try:
                zips.clear()  # keep one zip in memory
                zips[target] = L.model_zip(run.path, "student")
            except XKDError as exc:
                st.error(str(exc))
        st.rerun()
    st.caption(
        f"The student is a save_pretrained folder: load it with "
        f"`xkd.models.load_model('<unzipped folder>')`, or copy it with "
        f"`xkd export {target} DIR`."
    )

with st.expander("Status, config and logs"):
    st.json(run.status, expanded=False)
    st.code(pd.Series(views.flatten(run.config)).to_string(), language="text")
    st.code(rundata.log_tail(run.path) or "(no logs)", language="text")

with st.expander("Delete this run", icon=":material/delete:"):
    if run.active:
        st.caption("Stop the run before deleting it.")
    else:
        sure = st.checkbox(f"Yes, delete {target} and all its files", key="runs_delete_sure")
        if st.button("Delete", key="runs_delete", type="primary", disabled=not sure):
            try:
                delete_run(C.runs_dir(), target)
            except XKDError as exc:
                st.error(str(exc))
            else:
                if C.current_run_id() == target:
                    C.set_current_run(None)
                st.session_state.pop("runs_delete_sure", None)
                st.toast(f"Deleted {target}")
                st.rerun()
