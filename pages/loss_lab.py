"""Loss lab: what each distillation loss computes, on logits you type, with its gradient."""

from __future__ import annotations

import math

import plotly.express as px
import streamlit as st

from pages import _common as C
from pages import _components as K
from xkd.app import losslab

C.ensure_router("loss_lab")

st.title("Loss lab")
st.caption(
    "Type a teacher's and a student's logits for one example, pick T, α and γ, and see every "
    "loss term, its share of the total and its gradient on the student's logits (what training "
    "pushes on). Values come from the same functions `xkd train` uses (`xkd.losses`)."
)

with st.expander("Formulas", expanded=True):
    f1, f2 = st.columns(2)
    with f1:
        st.markdown(
            "With $p = \\mathrm{softmax}(t/T)$ (teacher) and $q = \\mathrm{softmax}(s/T)$ (student):"
        )
        st.latex(r"\mathcal{L}_{KL} = T^2 \sum_c p_c \,(\log p_c - \log q_c)")
        st.latex(r"\mathcal{L}_{soft\,CE} = -T^2 \sum_c p_c \log q_c")
        st.latex(r"\mathcal{L}_{MSE} = \frac{1}{C}\sum_c \Big(\frac{s_c}{T} - \frac{t_c}{T}\Big)^2")
        st.latex(r"\mathcal{L}_{focal} = -T^2 \sum_c p_c \,(1 - q_c)^{\gamma} \log q_c")
    with f2:
        st.latex(r"\mathcal{L}_{hard} = -\log \mathrm{softmax}(s)_y \quad (T = 1)")
        st.latex(r"\mathcal{L} = \alpha\,\mathcal{L}_{hard} + (1 - \alpha)\,\mathcal{L}_{soft}")
        st.latex(r"\mathcal{L}_{feat} = \frac{1}{H_t}\,\lVert W h_s - h_t \rVert^2")
        st.markdown(
            "The $T^2$ factor keeps gradient sizes comparable across temperatures (Hinton et al. "
            "2015). $W$ is a learned projection from the student's width to the teacher's "
            "(`hidden_mse`, `parallel_mse`). The worked example's soft term is the one-class "
            "$-p \\ln q$ (`binary_soft_ce`)."
        )

DEFAULTS = {
    "ll_teacher": "2.0, 0.5, -1.0",
    "ll_student": "0.5, 0.3, 0.1",
    "ll_label": 0,
    "ll_T": 2.0,
    "ll_alpha": 0.5,
    "ll_gamma": 2.0,
    "ll_soft": "kl",
}
for key, value in DEFAULTS.items():
    st.session_state.setdefault(key, value)


def _load_worked_example() -> None:
    ex = losslab.WORKED_EXAMPLE
    st.session_state["ll_teacher"] = ", ".join(f"{v:.6g}" for v in ex["teacher_logits"])
    st.session_state["ll_student"] = ", ".join(f"{v:g}" for v in ex["student_logits"])
    st.session_state["ll_label"] = ex["label"]
    st.session_state["ll_T"] = ex["temperature"]
    st.session_state["ll_alpha"] = ex["alpha"]
    st.session_state["ll_gamma"] = ex["gamma"]
    st.session_state["ll_soft"] = ex["soft"]
    st.session_state["ll_worked"] = True


def _reset() -> None:
    for key, value in DEFAULTS.items():
        st.session_state[key] = value
    st.session_state["ll_worked"] = False


b = st.columns([2, 1, 5])
b[0].button(
    "Load the worked example", key="ll_worked_button", on_click=_load_worked_example, type="primary"
)
b[1].button("Reset", key="ll_reset", on_click=_reset)

inp = st.columns([3, 3, 1])
inp[0].text_input("Teacher logits t (one per class)", key="ll_teacher")
inp[1].text_input("Student logits s", key="ll_student")
inp[2].number_input("Label y", min_value=0, max_value=99, step=1, key="ll_label")
sl = st.columns(4)
sl[0].slider("Temperature T", 0.5, 10.0, step=0.5, key="ll_T")
sl[1].slider("α (hard-label weight)", 0.0, 1.0, step=0.05, key="ll_alpha")
sl[2].slider("γ (focal)", 0.0, 5.0, step=0.5, key="ll_gamma")
sl[3].selectbox("Soft term in the total", list(losslab.SOFT_TERMS), key="ll_soft")

try:
    teacher = losslab.parse_logits(st.session_state["ll_teacher"])
    student = losslab.parse_logits(st.session_state["ll_student"])
    result = losslab.loss_terms(
        teacher,
        student,
        int(st.session_state["ll_label"]),
        temperature=float(st.session_state["ll_T"]),
        alpha=float(st.session_state["ll_alpha"]),
        gamma=float(st.session_state["ll_gamma"]),
        soft=st.session_state["ll_soft"],
    )
except ValueError as exc:
    st.error(str(exc))
    st.stop()

m = st.columns(4)
m[0].metric("Total loss", f"{result.total:.4f}")
hard = result.term("hard_ce")
soft = result.term(result.soft)
m[1].metric("Hard CE", f"{hard.value:.4f}", help=f"weight α = {result.alpha:g}")
m[2].metric(f"{result.soft}", f"{soft.value:.4f}", help=f"weight 1 − α = {1 - result.alpha:g}")
m[3].metric("Soft share of total", f"{100 * (soft.share or 0):.1f}%")
if st.session_state.get("ll_worked") and result.soft == "binary_soft_ce":
    st.success(
        f"Worked example: teacher p = 0.6, student q = 0.5, α = 0.5. Hard CE = −ln 0.5 = "
        f"{hard.value:.3f}; soft term = −0.6 · ln 0.5 = {soft.value:.3f}; total = 0.5 · "
        f"{hard.value:.3f} + 0.5 · {soft.value:.3f} = {result.total:.4f} ≈ 0.554."
    )
for note in result.notes:
    st.caption(note)

st.dataframe(
    result.frame(),
    hide_index=True,
    width="stretch",
    key="ll_table",
    column_config={
        "value": st.column_config.NumberColumn(format="%.4f"),
        "weight": st.column_config.NumberColumn(format="%.2f"),
        "contribution": st.column_config.NumberColumn(format="%.4f"),
        "share of total": st.column_config.NumberColumn(format="percent"),
    },
)
st.caption("Terms with weight 0 are not in the total; they are shown for comparison.")

classes = [f"class {i}" for i in range(len(teacher))]
g1, g2 = st.columns(2)
with g1:
    st.markdown("**Softened distributions at T**")
    probs = losslab.probs_frame(result, classes)
    fig = px.bar(
        probs,
        x="class",
        y="probability",
        color="model",
        barmode="group",
        color_discrete_map={"teacher": "#7c5cff", "student": "#16a085"},
    )
    fig.update_layout(
        height=300, margin=dict(l=10, r=10, t=10, b=10), yaxis_range=[0, 1], legend_title_text=""
    )
    st.plotly_chart(fig, key="ll_probs")
with g2:
    st.markdown("**Gradient on the student logits** (training moves s against it)")
    grads = result.gradient_frame(classes)
    shown_terms = ["hard_ce", result.soft, "total"]
    grads = grads[grads["term"].isin(shown_terms)]
    fig = px.bar(
        grads,
        x="class",
        y="gradient",
        color="term",
        barmode="group",
        color_discrete_sequence=K.SERIES_COLORS,
    )
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=10, b=10), legend_title_text="")
    st.plotly_chart(fig, key="ll_grads")

st.subheader("Feature matching")
st.caption(
    "The hidden-state term for one pooled vector pair: MSE(W h_s, h_t), i.e. `hidden_mse` with "
    "align=mean. W (teacher width × student width) maps the student's space to the teacher's; "
    "rows separated by `;`, empty = identity."
)
fc = st.columns(3)
hs_text = fc[0].text_input("Student vector h_s", "1.0, 0.0", key="ll_hs")
ht_text = fc[1].text_input("Teacher vector h_t", "0.5, 0.5, 1.0", key="ll_ht")
w_text = fc[2].text_input("W (rows separated by ;)", "1, 0; 0, 1; 0.5, 0.5", key="ll_w")
try:
    hs = losslab.parse_logits(hs_text)
    ht = losslab.parse_logits(ht_text)
    w = (
        [losslab.parse_logits(r) for r in w_text.split(";") if r.strip()]
        if w_text.strip()
        else None
    )
    value, grad = losslab.feature_mse(hs, ht, w)
except ValueError as exc:
    st.error(str(exc))
else:
    fm = st.columns(2)
    fm[0].metric("MSE(W h_s, h_t)", f"{value:.4f}")
    fm[1].metric("Gradient on h_s", "[" + ", ".join(f"{g:+.3f}" for g in grad) + "]")
    if not all(math.isfinite(g) for g in grad):
        st.warning("The gradient is not finite for these numbers.")
