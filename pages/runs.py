"""Runs: the table of runs, comparisons (curves and config diff), clone, export, delete."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from pages import _common as C
from pages import _components as K
from xkd.app import files, form, rundata
from xkd.app import labels as L
from xkd.app import runs_view as V
from xkd.errors import XKDError
from xkd.runs import Run, delete_run


def overview(runs: list[Run]) -> None:
    st.dataframe(
        V.overview_display(V.runs_overview(runs)),
        hide_index=True,
        width="stretch",
        key="runs_table",
        column_config={
            L.KD_GAIN: st.column_config.TextColumn(help=L.KD_GAIN_HELP),
            L.STUDENT_TARGETS: st.column_config.TextColumn(
                help=f"mean test accuracy of the {L.STUDENT} over the target languages"
            ),
            L.BASELINE_TARGETS: st.column_config.TextColumn(
                help=f"mean test accuracy of the {L.BASELINE} over the target languages"
            ),
        },
    )
    st.caption("Runs launched from a terminal appear here too.")


def compare(runs: dict[str, Run]) -> None:
    st.subheader("Compare runs")
    ids = list(runs)
    chosen = st.multiselect("Runs to compare", ids, default=ids[:2], key="runs_compare")
    if chosen:
        curves(runs, chosen)
    if len(chosen) >= 2:
        all_keys = st.toggle("Show every config key (not only differences)", key="runs_diff_all")
        diff = V.config_diff({rid: runs[rid].config for rid in chosen}, all_keys=all_keys)
        if diff.empty:
            st.caption("The configs are identical.")
        else:
            st.dataframe(diff, hide_index=True, width="stretch", key="runs_diff")
    elif chosen:
        st.caption("Pick a second run to see a config diff.")


def curves(runs: dict[str, Run], chosen: list[str]) -> None:
    frames = [rundata.curves_long(rundata.metrics_frame(runs[rid].path), rid) for rid in chosen]
    long = pd.concat(frames, ignore_index=True)
    if long.empty:
        st.caption("No training curves logged yet for these runs.")
        return
    terms = sorted(long["term"].unique(), key=lambda t: (t != "loss", t))
    term = st.selectbox("Loss term", terms, key="runs_term")
    K.loss_curves(long[long["term"] == term], key="runs_curves", color="run")
    dev = pd.concat(
        [rundata.accuracy_curves(runs[rid].path, rid) for rid in chosen], ignore_index=True
    )
    if not dev.empty:
        st.markdown(f"**Dev accuracy of the {L.STUDENT} during training**")
        fig = px.line(dev, x="step", y="accuracy", color="run", line_dash="language", markers=True)
        fig.update_layout(
            height=300,
            margin=dict(l=10, r=10, t=10, b=10),
            yaxis=dict(range=[0, 1], tickformat=".0%"),
            legend=dict(orientation="h", y=-0.25),
        )
        st.plotly_chart(fig, key="runs_dev_accuracy")


def pick_target(ids: list[str]) -> str:
    st.subheader("One run")
    current = C.current_run_id()
    return st.selectbox(
        "Run", ids, index=ids.index(current) if current in ids else 0, key="runs_target"
    )


def actions(run: Run) -> None:
    buttons = iter(st.columns(4))
    if next(buttons).button(
        "Make current", key="runs_make_current", icon=":material/check:", width="stretch"
    ):
        C.set_current_run(run.run_id)
        st.rerun()

    def clone() -> None:
        st.session_state[form.KEY_CLONE] = (run.run_id, run.config)

    if next(buttons).button(
        "Clone into the Lab",
        key="runs_clone",
        icon=":material/content_copy:",
        width="stretch",
        on_click=clone,
    ):
        st.switch_page(C.PAGE_FILES["lab"])
    if run.active:
        K.stop_button(run, key="runs_stop", where=next(buttons))
    if run.folder.student_dir.is_dir():
        export_student(run, next(buttons))


def export_student(run: Run, slot) -> None:
    zips = st.session_state.setdefault("runs_zips", {})
    if run.run_id in zips:
        slot.download_button(
            f"Download {L.STUDENT} (.zip)",
            zips[run.run_id],
            file_name=f"{run.run_id}-student.zip",
            mime="application/zip",
            key="runs_download",
            icon=":material/download:",
            width="stretch",
        )
    elif slot.button(
        f"Export {L.STUDENT}", key="runs_export", icon=":material/archive:", width="stretch"
    ):
        with st.spinner("Zipping student/ …"):
            try:
                zips.clear()  # keep one zip in memory
                zips[run.run_id] = files.model_zip(run.path, "student")
            except XKDError as exc:
                st.error(str(exc))
        st.rerun()
    st.caption(
        f"The {L.STUDENT} is a save_pretrained folder: load it with "
        f"`xkd.models.load_model('<unzipped folder>')`, or copy it with "
        f"`xkd export {run.run_id} DIR`."
    )


def details(run: Run) -> None:
    with st.expander("Status, config and logs"):
        st.json(run.status, expanded=False)
        st.code(pd.Series(V.flatten(run.config)).to_string(), language="text")
        st.code(rundata.log_tail(run.path) or "(no logs)", language="text")


def delete(run: Run) -> None:
    with st.expander("Delete this run", icon=":material/delete:"):
        if run.active:
            st.caption("Stop the run before deleting it.")
            return
        sure = st.checkbox(f"Yes, delete {run.run_id} and all its files", key="runs_delete_sure")
        if not st.button("Delete", key="runs_delete", type="primary", disabled=not sure):
            return
        try:
            delete_run(C.runs_dir(), run.run_id)
        except XKDError as exc:
            st.error(str(exc))
            return
        if C.current_run_id() == run.run_id:
            C.set_current_run(None)
        st.session_state.pop("runs_delete_sure", None)
        st.toast(f"Deleted {run.run_id}")
        st.rerun()


C.ensure_router("runs")
st.title("Runs")
K.show_notice()
all_runs = C.runs()
if not all_runs:
    C.no_runs_message("Every run you launch (here or with `xkd train`) is listed on this page.")
    st.stop()
by_id = {r.run_id: r for r in all_runs}
overview(all_runs)
compare(by_id)
target = by_id[pick_target(list(by_id))]
actions(target)
details(target)
delete(target)
