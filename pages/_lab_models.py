"""The Lab's teacher-and-student section: the two inputs (any id or folder can be typed), one
line each on the chosen model (size, tokenizer, offline or not), and the suggested multilingual
models (:mod:`xkd.app.model_choices`) with "use as teacher/student" buttons."""

from __future__ import annotations

import streamlit as st

from xkd.app import form as F
from xkd.app import labels as L
from xkd.app import model_choices as MC
from xkd.app.form import LabForm
from xkd.config import field_help

HELP = field_help()
KEY_SUGGESTION = "lab_suggestion"  # the suggested model the buttons apply
KEY_USE_TEACHER = "lab_use_teacher"
KEY_USE_STUDENT = "lab_use_student"


def _options(presets: tuple[str, ...], key: str, default: str) -> list[str]:
    """The presets, the suggestions and the current value (typed ones included), once each."""
    current = st.session_state.get(key) or default
    return list(dict.fromkeys([*presets, *(f.model_id for f in MC.SUGGESTIONS), current]))


def _use(key: str) -> None:
    choice = st.session_state.get(KEY_SUGGESTION)
    if choice:
        st.session_state[key] = choice


def _suggestions() -> None:
    with st.expander("Suggested multilingual models", expanded=False):
        st.dataframe(MC.suggestion_rows(), hide_index=True, width="stretch")
        st.caption(
            f"Sizes are approximate. *{MC.IN_CACHE}*: config and weights are in the local "
            f"Hugging Face cache (`{MC.hf_cache_dir()}`), usable offline; *{MC.NEEDS_HUB}*: "
            "downloaded on first use. Any other Hub id or model folder can be typed above."
        )
        names = {f.model_id: f.name for f in MC.SUGGESTIONS}
        sc = st.columns([3, 1, 1], vertical_alignment="bottom")
        sc[0].selectbox(
            "Suggested model",
            list(names),
            key=KEY_SUGGESTION,
            format_func=lambda m: f"{names[m]} ({m})" if m in names else m,
        )
        sc[1].button(
            f"Use as {L.TEACHER}",
            key=KEY_USE_TEACHER,
            on_click=_use,
            args=(F.KEY_TEACHER,),
            width="stretch",
        )
        sc[2].button(
            f"Use as {L.STUDENT}",
            key=KEY_USE_STUDENT,
            on_click=_use,
            args=(F.KEY_STUDENT,),
            width="stretch",
        )


def models() -> None:
    """Teacher, student, baseline and freezing inputs, with the suggestions below them."""
    with st.container(border=True):
        st.markdown(f"**{L.TEACHER.capitalize()} and student**")
        mc = st.columns([2, 2, 1])
        teacher = mc[0].selectbox(
            L.TEACHER.capitalize(),
            _options(F.TEACHER_PRESETS, F.KEY_TEACHER, LabForm.teacher),
            key=F.KEY_TEACHER,
            accept_new_options=True,
            help=HELP["teacher"] + ". Type a folder path or a Hugging Face id.",
        )
        student = mc[1].selectbox(
            "Student",
            _options(F.STUDENT_PRESETS, F.KEY_STUDENT, LabForm.student),
            key=F.KEY_STUDENT,
            accept_new_options=True,
            help=HELP["student"] + ". Type another value for a folder or a Hugging Face id.",
        )
        mc[2].checkbox(f"Also train a {L.BASELINE}", key=F.KEY_BASELINE, help=HELP["baseline"])
        if teacher:
            mc[0].caption(MC.describe(teacher))
        if student:
            mc[1].caption(MC.describe(student))
        _suggestions()
        fc = st.columns(3)
        fc[0].text_input("Student freezing", key=F.KEY_FREEZE, help=HELP["train.freeze"])
        fc[1].text_input(
            "Teacher fine-tuning", key=F.KEY_TEACHER_FREEZE, help=HELP["model.teacher_freeze"]
        )
        fc[2].selectbox(
            "Student head",
            ["linear", "native"],
            key=F.KEY_STUDENT_HEAD,
            help=HELP["model.student_head"],
        )
