"""Accuracy: per language teacher vs KD student vs no-KD baseline, and runs × languages."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from pages import _common as C
from xkd.app import rundata, views

C.ensure_router("accuracy")
st.title("Accuracy")
st.caption(
    "Test-split accuracy per language. The teacher was trained on the source language only; "
    "the KD student learned from the teacher, the baseline from the source labels alone. "
    "**% of teacher kept** = student / teacher accuracy."
)

run = C.current_run("Accuracy per language appears here once a run has finished.")
if run is None:
    st.stop()

table = views.accuracy_table(run.eval)
if table.empty:
    C.results_missing(run, "Accuracies")
else:
    head = views.headline(run.eval)
    m = st.columns(5)
    m[0].metric("Student, target languages", C.fmt_pct(head.get("student_target_accuracy")))
    m[1].metric("Baseline, target languages", C.fmt_pct(head.get("baseline_target_accuracy")))
    gain = head.get("kd_gain")
    m[2].metric("KD gain", f"{100 * gain:+.1f} pts" if gain is not None and gain == gain else "—")
    m[3].metric("Source accuracy kept", C.fmt_pct(head.get("source_kept")))
    speed = (run.eval or {}).get("throughput") or {}
    ratio = speed.get("student_vs_teacher")
    m[4].metric(
        "Speed vs teacher",
        f"{ratio:.1f}×" if isinstance(ratio, (int, float)) else "—",
        help="inference sentences per second, student / teacher, on the run's device",
    )

    long = views.accuracy_long(run.eval)
    fig = px.bar(
        long,
        x="language",
        y="accuracy",
        color="model",
        barmode="group",
        color_discrete_map=views.MODEL_COLORS,
        category_orders={"language": table["language"].tolist(), "model": list(views.MODELS)},
        hover_data={"accuracy": ":.3f", "prior": ":.3f"},
    )
    fig.add_trace(
        go.Scatter(
            x=table["language"],
            y=table["prior"],
            mode="markers",
            marker=dict(symbol="line-ew", size=28, line=dict(width=3, color="#888")),
            name="majority prior",
            hovertemplate="prior %{y:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        yaxis=dict(range=[0, 1], tickformat=".0%"),
        height=380,
        margin=dict(l=10, r=10, t=10, b=10),
        legend_title_text="",
    )
    st.plotly_chart(fig, key="acc_bars")

    st.markdown("**Per language**")
    show_all = st.toggle(
        "Show F1, calibration and agreement columns", key="acc_all_cols", value=False
    )
    shown = (
        table
        if show_all
        else table[
            [
                "language",
                "role",
                "n",
                "prior",
                "teacher",
                "student",
                "baseline",
                "% of teacher kept",
                "KD gain (points)",
                "teacher macro-F1",
                "student macro-F1",
                "baseline macro-F1",
            ]
        ]
    )
    pct = st.column_config.NumberColumn(format="%.3f")
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        key="acc_table",
        column_config={
            "prior": st.column_config.NumberColumn(
                format="%.3f", help="share of the most frequent label (always-guess-it accuracy)"
            ),
            "teacher": pct,
            "student": pct,
            "baseline": pct,
            "% of teacher kept": st.column_config.NumberColumn(format="%.1f%%"),
            "baseline % of teacher": st.column_config.NumberColumn(format="%.1f%%"),
            "KD gain (points)": st.column_config.NumberColumn(format="%+.1f"),
            **{
                c: pct
                for c in table.columns
                if c.endswith(("macro-F1", "ECE")) or c in ("agreement", "KL(teacher‖student)")
            },
        },
    )
    st.download_button(
        "Download CSV",
        table.to_csv(index=False).encode(),
        file_name=f"{run.run_id}-accuracy.csv",
        mime="text/csv",
        key="acc_csv",
        icon=":material/download:",
    )

st.divider()
st.subheader("Across runs")
runs = C.runs()
results = {}
for info in runs:
    if info.state == "finished":
        results[info.run_id] = rundata.load_run(info.path).eval
metric = st.selectbox("Metric", list(views.HEATMAP_METRICS), key="acc_heat_metric")
heat = views.heatmap_frame(results, metric)
if heat.empty:
    st.caption("The heatmap compares finished runs; none has results yet.")
else:
    st.caption(views.HEATMAP_METRICS[metric])
    is_acc = metric.endswith("accuracy")
    fig = px.imshow(
        heat,
        text_auto=".2f" if is_acc else ".0f",
        aspect="auto",
        color_continuous_scale="Viridis",
        zmin=0 if is_acc else None,
        zmax=1 if is_acc else None,
        labels=dict(x="language", y="run", color=metric),
    )
    fig.update_layout(
        height=max(260, 100 + 45 * len(heat)),
        margin=dict(l=10, r=10, t=10, b=10),
        coloraxis_colorbar=dict(title="", thickness=14),
    )
    st.plotly_chart(fig, key="acc_heatmap")
    st.dataframe(
        heat.reset_index(),
        hide_index=True,
        width="stretch",
        key="acc_heat_table",
        column_config={c: st.column_config.NumberColumn(format="%.3f") for c in heat.columns},
    )
    st.download_button(
        "Download CSV",
        heat.to_csv().encode(),
        file_name="runs-by-language.csv",
        mime="text/csv",
        key="acc_heat_csv",
        icon=":material/download:",
    )
