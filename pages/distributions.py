"""Distributions: teacher vs student probabilities per example, softened live by a temperature."""

from __future__ import annotations

from dataclasses import dataclass

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from pages import _common as C
from xkd.app import distributions as D
from xkd.app import labels as L

CORRECTNESS = ["all", "student correct", "student wrong", "teacher wrong"]
AGREEMENT_COLUMNS = {
    "teacher accuracy": f"{L.TEACHER} accuracy",
    "student accuracy": f"{L.STUDENT} accuracy",
}


@dataclass
class Filters:
    temperature: float
    languages: list[str]
    correctness: str
    agreement: str
    text: str


def intro() -> None:
    st.title("Distributions")
    st.caption(
        f"What the {L.STUDENT} learned to predict compared with the {L.TEACHER}, example by "
        "example. The temperature T softens both distributions (softmax(logits / T)), as "
        f"distillation does; KL is KL({L.TEACHER} ‖ {L.STUDENT}) at that T, in nats."
    )


def filters(preds) -> Filters:
    f = st.columns([2, 2, 2, 2, 3])
    return Filters(
        temperature=f[0].slider("Temperature T", 0.5, 10.0, 1.0, step=0.5, key="dist_T"),
        languages=f[1].multiselect(
            "Languages", sorted(preds["language"].unique()), key="dist_lang"
        ),
        correctness=f[2].selectbox(
            "Correctness",
            CORRECTNESS,
            format_func=lambda o: o.replace("student", L.STUDENT),
            key="dist_correct",
        ),
        agreement=f[3].selectbox(
            f"{L.TEACHER} vs {L.STUDENT}", ["all", "agree", "disagree"], key="dist_agree"
        ),
        text=f[4].text_input("Text contains", key="dist_text"),
    )


def examples_table(rows):
    """The matching examples; returns the table's selection event."""
    cols = ["text", "language", "label", "teacher_pred", "student_pred"]
    cols += ["teacher_conf", "student_conf", "kl"]
    return st.dataframe(
        rows[[c for c in cols if c in rows]],
        hide_index=True,
        width="stretch",
        height=360,
        key="dist_table",
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            "teacher_conf": st.column_config.ProgressColumn(
                f"{L.TEACHER} conf.", min_value=0.0, max_value=1.0, format="%.2f"
            ),
            "student_conf": st.column_config.ProgressColumn(
                f"{L.STUDENT} conf.", min_value=0.0, max_value=1.0, format="%.2f"
            ),
            "kl": st.column_config.NumberColumn("KL", format="%.3f"),
            "teacher_pred": st.column_config.TextColumn(f"{L.TEACHER} says"),
            "student_pred": st.column_config.TextColumn(f"{L.STUDENT} says"),
        },
    )


def one_example(preds, rows, event, labels: list[str], temperature: float) -> None:
    if rows.empty:
        st.info("No example matches the filters.")
        return
    sel = getattr(getattr(event, "selection", None), "rows", None) if event is not None else None
    example = rows.iloc[min(int(sel[0]), len(rows) - 1) if sel else 0]
    row = int(example["row"])
    st.markdown(f"**{example['text']}**")
    st.caption(
        f"{example['language']} · true label: {example['label'] or '–'} · "
        f"{L.TEACHER}: {example.get('teacher_pred', '–')} · "
        f"{L.STUDENT}: {example.get('student_pred', '–')}"
    )
    bars = D.example_bars(preds, row, labels, temperature)
    fig = go.Figure()
    for model in ("teacher", "student"):
        part = bars[bars["model"] == model]
        name = L.model_label(model)
        fig.add_trace(
            go.Bar(
                y=part["label"],
                x=part["signed"],
                orientation="h",
                name=name,
                marker_color=L.MODEL_COLORS[model],
                customdata=part["probability"],
                hovertemplate=f"{name} %{{y}}: %{{customdata:.3f}}<extra></extra>",
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
            title=f"← {L.TEACHER} · probability · {L.STUDENT} →",
        ),
        yaxis=dict(autorange="reversed"),
        legend=dict(orientation="h", yanchor="top", y=-0.3, x=0),
    )
    st.plotly_chart(fig, key="dist_example")
    st.metric(
        f"KL({L.TEACHER} ‖ {L.STUDENT}) at T = {temperature:g}",
        f"{D.example_kl(preds, row, temperature):.4f}",
    )
    if not sel:
        st.caption("Select a row in the table to inspect another example.")


def confidence(preds, labels: list[str], f: Filters) -> None:
    st.markdown("**Confidence** (max probability at T)")
    part = preds[preds["language"].isin(f.languages)] if f.languages else preds
    conf = D.confidence_frame(part, labels, f.temperature)
    if conf.empty:
        st.caption("No data.")
        return
    hist = px.histogram(
        L.with_model_labels(conf),
        x="confidence",
        color="model",
        barmode="overlay",
        nbins=20,
        opacity=0.6,
        color_discrete_map=L.LABEL_COLORS,
        range_x=[0, 1],
    )
    hist.update_layout(height=320, margin=dict(l=10, r=10, t=10, b=10))
    C.legend_below(hist, y=-0.3)
    st.plotly_chart(hist, key="dist_conf")


def reliability(preds, labels: list[str], f: Filters) -> None:
    st.markdown("**Reliability** (accuracy vs confidence)")
    rel = D.reliability_frame(
        preds, labels, languages=f.languages or None, temperature=f.temperature
    )
    rel = rel[rel["count"] > 0]
    if rel.empty:
        st.caption("No labelled examples.")
        return
    fig = px.line(
        L.with_model_labels(rel),
        x="confidence",
        y="accuracy",
        color="model",
        markers=True,
        hover_data=["count"],
        color_discrete_map=L.LABEL_COLORS,
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


def agreement_chart(agr) -> None:
    st.markdown(f"**{L.TEACHER}–{L.STUDENT} agreement per language**")
    if agr.empty:
        st.caption("No data.")
        return
    fig = px.bar(
        agr,
        x="language",
        y="agreement",
        hover_data=["n", "mean KL"],
        color_discrete_sequence=[L.MODEL_COLORS["student"]],
    )
    fig.update_layout(
        height=300,
        margin=dict(l=10, r=10, t=10, b=10),
        yaxis=dict(range=[0, 1], tickformat=".0%"),
    )
    st.plotly_chart(fig, key="dist_agreement")


def aggregates(preds, labels: list[str], f: Filters) -> None:
    st.subheader("Aggregates")
    agr = D.agreement_frame(preds, labels, f.temperature)
    a, b, c = st.columns(3)
    with a:
        confidence(preds, labels, f)
    with b:
        reliability(preds, labels, f)
    with c:
        agreement_chart(agr)
    st.dataframe(
        agr.rename(columns=AGREEMENT_COLUMNS),
        hide_index=True,
        width="stretch",
        key="dist_agreement_table",
        column_config={
            c: st.column_config.NumberColumn(format="%.3f")
            for c in ("agreement", "mean KL", *AGREEMENT_COLUMNS.values())
        },
    )


C.ensure_router("distributions")
intro()
run, preds = C.current_results(
    "predictions", "Predictions", "Per-example predictions appear here once a run has finished."
)
labels = run.labels or sorted({str(v) for v in preds["label"].dropna()})
chosen = filters(preds)
table = D.prediction_table(preds, labels, chosen.temperature)
rows = D.filter_predictions(
    table,
    languages=chosen.languages,
    correctness=chosen.correctness,
    agreement=chosen.agreement,
    text=chosen.text,
)
st.caption(f"{len(rows)} of {len(table)} test examples match.")
left, right = st.columns([3, 2])
with left:
    event = examples_table(rows)
with right:
    one_example(preds, rows, event, labels, chosen.temperature)
aggregates(preds, labels, chosen)
