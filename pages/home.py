"""Overview: what the lab does, the current run at a glance, and where to go next."""

from __future__ import annotations

import streamlit as st

from pages import _common as C
from pages import _components as K
from xkd.app import labels as L
from xkd.app.runs_view import recipe_text
from xkd.runs import Run


def intro() -> None:
    st.title("xkd lab")
    st.markdown(
        "Knowledge distillation for **cross-lingual transfer**: a teacher trained on one "
        "language teaches a smaller student that should also work in other languages. Train a "
        f"{L.STUDENT} in the **Lab**, then inspect how much of the {L.TEACHER} it kept per "
        "language (**Accuracy**), whether translations land together in its embedding space "
        "(**Alignment**) and how its predicted distributions match the teacher's "
        "(**Distributions**). The **Loss lab** shows what each distillation loss computes on "
        "numbers you type."
    )


def current(run: Run) -> None:
    st.subheader(f"Current run: {run.run_id}")
    targets = ", ".join(run.target_languages) or "every other language"
    st.markdown(
        f"**{run.state or 'unknown'}** · {L.TEACHER} `{run.teacher or '?'}` → {L.STUDENT} "
        f"`{run.student or '?'}` · data `{run.data_path or '?'}` · "
        f"{run.source_language or '?'} → {targets}"
    )
    if run.active:
        K.progress_bar(run)
        st.page_link(
            C.PAGE_FILES["lab"], label="Watch it train in the Lab", icon=":material/monitoring:"
        )
    elif run.headline is not None:
        K.headline_row(run)
        st.caption(f"Recipe: {recipe_text(run.config)}")
    else:
        C.results_missing(run, "Results")


def page_links() -> None:
    st.subheader("Pages")
    links = st.columns(3)
    links[0].page_link(
        C.PAGE_FILES["lab"], label="Lab: configure and launch", icon=":material/science:"
    )
    links[0].page_link(
        C.PAGE_FILES["runs"], label="Runs: compare, clone, export", icon=":material/list:"
    )
    links[1].page_link(
        C.PAGE_FILES["accuracy"], label="Accuracy per language", icon=":material/leaderboard:"
    )
    links[1].page_link(
        C.PAGE_FILES["alignment"], label="Alignment of embeddings", icon=":material/scatter_plot:"
    )
    links[2].page_link(
        C.PAGE_FILES["distributions"],
        label=f"{L.TEACHER} vs {L.STUDENT} distributions",
        icon=":material/bar_chart:",
    )
    links[2].page_link(C.PAGE_FILES["loss_lab"], label="Loss lab", icon=":material/function:")


C.ensure_router("home")
intro()
if not C.runs():
    C.no_runs_message(f"Train a first {L.STUDENT} to fill these pages.")
    st.stop()
run = C.current_run("")
if run is None:
    st.stop()
current(run)
page_links()
