"""Overview: what the lab does, the current run at a glance, and where to go next."""

from __future__ import annotations

import streamlit as st

from pages import _common as C
from xkd.app import rundata, views

C.ensure_router("home")
st.title("xkd lab")
st.markdown(
    "Knowledge distillation for **cross-lingual transfer**: a teacher trained on one language "
    "teaches a smaller student that should also work in other languages. Train a student in "
    "the **Lab**, then inspect how much of the teacher it kept per language (**Accuracy**), "
    "whether translations land together in its embedding space (**Alignment**) and how its "
    "predicted distributions match the teacher's (**Distributions**). The **Loss lab** shows "
    "what each distillation loss computes on numbers you type."
)

runs = C.runs()
if not runs:
    C.no_runs_message("Train a first student to fill these pages.")
    st.stop()

run = C.current_run("")
if run is None:
    st.stop()

st.subheader(f"Current run: {run.run_id}")
prog = rundata.progress(run.status, baseline=bool(run.config.get("baseline", True)))
data_cfg = run.config.get("data") or {}
targets = ", ".join(data_cfg.get("target_languages") or []) or "every other language"
st.markdown(
    f"**{run.state or 'unknown'}** · teacher `{run.config.get('teacher', '?')}` → student "
    f"`{run.config.get('student', '?')}` · data `{data_cfg.get('path', '?')}` · "
    f"{data_cfg.get('source_language', '?')} → {targets}"
)
if run.active:
    st.progress(prog.fraction, text=prog.text)
    st.page_link(
        C.PAGE_FILES["lab"], label="Watch it train in the Lab", icon=":material/monitoring:"
    )
elif run.eval:
    head = views.headline(run.eval)
    m = st.columns(4)
    m[0].metric("Student, target languages", C.fmt_pct(head.get("student_target_accuracy")))
    m[1].metric("No-KD baseline, targets", C.fmt_pct(head.get("baseline_target_accuracy")))
    gain = head.get("kd_gain")
    m[2].metric(
        "KD gain",
        f"{100 * gain:+.1f} pts" if gain is not None and gain == gain else "—",
        help="mean target accuracy of the KD student minus the no-KD baseline",
    )
    m[3].metric(
        "Source accuracy kept",
        C.fmt_pct(head.get("source_kept")),
        help="student / teacher accuracy on the source language",
    )
    st.caption(f"Recipe: {views.recipe_text(run.config)}")
else:
    C.results_missing(run, "Results")

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
    label="Teacher vs student distributions",
    icon=":material/bar_chart:",
)
links[2].page_link(C.PAGE_FILES["loss_lab"], label="Loss lab", icon=":material/function:")
