"""Distributions: teacher vs student probabilities per example, softened live by a temperature."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from pages import _common as C
from xkd.app import views

C.ensure_router("distributions")
st.title("Distributions")
st.caption(
    "What the student learned to predict compared with the teacher, example by example. The "
    "temperature T softens both distributions (softmax(logits / T)), as distillation does; KL is "
    "KL(teacher ‖ student) at that T, in nats."
)

run = C.current_run("Per-example predictions appear here once a run has finished.")
if run is None:
    st.stop()
preds = C.predictions(run)
if preds is None or preds.empty:
    C.results_missing(run, "Predictions")
    st.stop()
labels = run.labels or sorted({str(v) for v in preds["label"].dropna()})

f = st.columns([2, 2, 2, 2, 3])
T = f[0].slider("Temperature T", 0.5, 10.0, 1.0, step=0.5, key="dist_T")
langs = f[1].multiselect("Languages", sorted(preds["language"].unique()), key="dist_lang")
correctness = f[2].selectbox(
    "Correctness", ["all", "student correct", "student wrong", "teacher wrong"], key="dist_correct"
)
agreement = f[3].selectbox("Teacher vs student", ["all", "agree", "disagree"], key="dist_agree")
text = f[4].text_input("Text contains", key="dist_text")

table = views.prediction_table(preds, labels, T)
rows = views.filter_predictions(
    table, languages=langs, correctness=correctness, agreement=agreement, text=text
)
st.caption(f"{len(rows)} of {len(table)} test examples match.")

left, right = st.columns([3, 2])
with left:
    cols = [
        "text",
        "language",
        "label",
        "teacher_pred",
        "student_pred",
        "teacher_conf",
        "student_conf",
        "kl",
    ]
    shown = rows[[c for c in cols if c in rows]]
    event = st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        height=360,
        key="dist_table",
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            "teacher_conf": st.column_config.ProgressColumn(
                "teacher conf.", min_value=0.0, max_value=1.0, format="%.2f"
            ),
            "student_conf": st.column_config.ProgressColumn(
                "student conf.", min_value=0.0, max_value=1.0, format="%.2f"
            ),
            "kl": st.column_config.NumberColumn("KL", format="%.3f"),
            "teacher_pred": st.column_config.TextColumn("teacher says"),
            "student_pred": st.column_config.TextColumn("student says"),
        },
    )
with right:
    if rows.empty:
        st.info("No example matches the filters.")
    else:
        picked = 0
        sel = (
            getattr(getattr(event, "selection", None), "rows", None) if event is not None else None
        )
        if sel:
            picked = min(int(sel[0]), len(rows) - 1)
        example = rows.iloc[picked]
        row = int(example["row"])
        st.markdown(f"**{example['text']}**")
        st.caption(
            f"{example['language']} · true label: {example['label'] or '—'} · "
            f"teacher: {example.get('teacher_pred', '—')} · student: {example.get('student_pred', '—')}"
        )
        bars = views.example_bars(preds, row, labels, T)
        fig = go.Figure()
        for model in ("teacher", "student"):
            part = bars[bars["model"] == model]
            fig.add_trace(
                go.Bar(
                    y=part["label"],
                    x=part["signed"],
                    orientation="h",
                    name=model,
                    marker_color=views.MODEL_COLORS[model],
                    customdata=part["probability"],
                    hovertemplate=f"{model} %{{y}}: %{{customdata:.3f}}<extra></extra>",
                )
            )
        fig.update_layout(
            barmode="relative",
            height=170 + 30 * len(labels),
            margin=dict(l=10, r=10, t=10, b=10),
            xaxis=dict(
                range=[-1, 1],
                tickvals=[-1, -0.5, 0, 0.5, 1],
                ticktext=["1", "0.5", "0", "0.5", "1"],
                title="← teacher · probability · student →",
            ),
            yaxis=dict(autorange="reversed"),
            legend=dict(orientation="h", yanchor="top", y=-0.3, x=0),
        )
        st.plotly_chart(fig, key="dist_example")
        st.metric(f"KL(teacher ‖ student) at T = {T:g}", f"{views.example_kl(preds, row, T):.4f}")
        if not sel:
            st.caption("Select a row in the table to inspect another example.")

st.subheader("Aggregates")
a, b, c = st.columns(3)
with a:
    st.markdown("**Confidence** (max probability at T)")
    conf = views.confidence_frame(
        preds[preds["language"].isin(langs)] if langs else preds, labels, T
    )
    if conf.empty:
        st.caption("No data.")
    else:
        hist = px.histogram(
            conf,
            x="confidence",
            color="model",
            barmode="overlay",
            nbins=20,
            opacity=0.6,
            color_discrete_map=views.MODEL_COLORS,
            range_x=[0, 1],
        )
        hist.update_layout(height=320, margin=dict(l=10, r=10, t=10, b=10))
        C.legend_below(hist, y=-0.3)
        st.plotly_chart(hist, key="dist_conf")
with b:
    st.markdown("**Reliability** (accuracy vs confidence)")
    rel = views.reliability_frame(preds, labels, languages=langs or None, temperature=T)
    rel = rel[rel["count"] > 0]
    if rel.empty:
        st.caption("No labelled examples.")
    else:
        fig = px.line(
            rel,
            x="confidence",
            y="accuracy",
            color="model",
            markers=True,
            hover_data=["count"],
            color_discrete_map=views.MODEL_COLORS,
        )
        fig.add_trace(
            go.Scatter(
                x=[0, 1],
                y=[0, 1],
                mode="lines",
                line=dict(dash="dot", color="#888"),
                name="perfect calibration",
            )
        )
        fig.update_layout(
            height=300,
            margin=dict(l=10, r=10, t=10, b=10),
            xaxis_range=[0, 1],
            yaxis_range=[0, 1],
            legend_title_text="",
        )
        st.plotly_chart(fig, key="dist_reliability")
with c:
    st.markdown("**Teacher–student agreement per language**")
    agr = views.agreement_frame(preds, labels, T)
    if agr.empty:
        st.caption("No data.")
    else:
        fig = px.bar(
            agr,
            x="language",
            y="agreement",
            hover_data=["n", "mean KL"],
            color_discrete_sequence=[views.MODEL_COLORS["student"]],
        )
        fig.update_layout(
            height=300,
            margin=dict(l=10, r=10, t=10, b=10),
            yaxis=dict(range=[0, 1], tickformat=".0%"),
        )
        st.plotly_chart(fig, key="dist_agreement")
st.dataframe(
    views.agreement_frame(preds, labels, T),
    hide_index=True,
    width="stretch",
    key="dist_agreement_table",
    column_config={
        c: st.column_config.NumberColumn(format="%.3f")
        for c in ("agreement", "mean KL", "teacher accuracy", "student accuracy")
    },
)
