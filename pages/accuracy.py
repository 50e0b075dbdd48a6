"""Accuracy: per language teacher vs KD student vs no-KD baseline, and runs × languages."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from pages import _common as C
from pages import _components as K
from xkd.app import accuracy as A
from xkd.app import attribution as G
from xkd.app import form as F
from xkd.app import heatmap as H
from xkd.app import labels as L
from xkd.report import run_report_html
from xkd.runs import Run


def intro() -> None:
    st.title("Accuracy")
    st.caption(
        f"Test-split accuracy per language. The {L.TEACHER} was trained on the source language "
        f"only; the {L.STUDENT} learned from the {L.TEACHER}, the {L.BASELINE} from the source "
        f"labels alone. **{L.TEACHER_KEPT}** (source language) = {L.STUDENT} / {L.TEACHER} "
        f"accuracy; **{L.TRANSFER_RATIO}** (target languages) = {L.STUDENT} accuracy on the "
        f"language / {L.TEACHER} accuracy on the same items in the source language."
    )


def accuracy_bars(run: Run, table) -> None:
    long = L.with_model_labels(A.accuracy_long(run.eval, C.predictions(run)))
    fig = px.bar(
        long,
        x="language",
        y="accuracy",
        error_y="plus",
        error_y_minus="minus",
        color="model",
        barmode="group",
        color_discrete_map=L.LABEL_COLORS,
        category_orders={
            "language": table["language"].tolist(),
            "model": [L.model_label(m) for m in L.MODELS],
        },
        hover_data={
            "accuracy": ":.3f",
            "low": ":.3f",
            "high": ":.3f",
            "prior": ":.3f",
            "plus": False,
            "minus": False,
        },
    )
    fig.add_trace(
        go.Scatter(
            x=table["language"],
            y=table["prior"],
            mode="markers",
            marker=dict(symbol="line-ew", size=28, line=dict(width=3, color="#888")),
            name=L.PRIOR,
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


def per_language_table(run: Run, table) -> None:
    st.markdown("**Per language**")
    show_all = st.toggle(
        "Show F1, calibration and agreement columns", key="acc_all_cols", value=False
    )
    st.dataframe(
        A.accuracy_display(table, all_columns=show_all),
        hide_index=True,
        width="stretch",
        key="acc_table",
        column_config={
            L.PRIOR: st.column_config.TextColumn(help=L.PRIOR_HELP),
            L.TEACHER_KEPT: st.column_config.TextColumn(help=L.TEACHER_KEPT_HELP),
            L.TRANSFER_RATIO: st.column_config.TextColumn(
                help=L.transfer_ratio_help(run.source_language)
            ),
            L.KD_GAIN: st.column_config.TextColumn(help=L.KD_GAIN_HELP),
            A.SIGNIFICANT: st.column_config.TextColumn(help=L.SIGNIFICANT_HELP),
        },
    )
    st.caption(L.INTERVALS_NOTE)
    st.caption(
        f"{L.TEACHER_KEPT} is shown for the source language and the {L.TRANSFER_RATIO} for "
        f"target languages: {L.transfer_ratio_help(run.source_language)}"
    )
    for note in A.ratio_notes(table, run.source_language):
        st.caption(note)
    st.download_button(
        "Download CSV",
        table.to_csv(index=False).encode(),
        file_name=f"{run.run_id}-accuracy.csv",
        mime="text/csv",
        key="acc_csv",
        icon=":material/download:",
    )


def this_run(run: Run) -> None:
    table = A.accuracy_table(run.eval, C.predictions(run))
    if table.empty:
        C.results_missing(run, "Accuracies")
        return
    K.headline_row(run, speed=True)
    accuracy_bars(run, table)
    per_language_table(run, table)
    K.report_download(
        "Download report (HTML)",
        lambda: run_report_html(run),
        file_name=f"{run.run_id}-report.html",
        key="acc_report",
        help="one self-contained file to share: headline, per-language accuracy with 95 % "
        "intervals, alignment map, loss curves, config, environment and the command that "
        "reproduces the run (the same file as `xkd report RUN`)",
    )


def across_runs() -> None:
    st.divider()
    st.subheader("Across runs")
    finished = [r for r in C.runs() if r.state == "finished"]
    metric = st.selectbox("Metric", list(H.HEATMAP_METRICS), key="acc_heat_metric")
    results = {r.run_id: r.eval for r in finished}
    needs_predictions = H.HEATMAP_METRICS[metric][0] == "transfer ratio"
    predictions = {r.run_id: C.predictions(r) for r in finished} if needs_predictions else None
    heat = H.heatmap_frame(results, metric, predictions)
    if heat.empty:
        st.caption("The heatmap compares finished runs; none has results for this metric yet.")
        return
    st.caption(H.HEATMAP_METRICS[metric][1])
    is_acc = H.heatmap_is_accuracy(metric)
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
        H.heatmap_display(heat, metric, H.heatmap_ends(results, metric, predictions)),
        hide_index=True,
        width="stretch",
        key="acc_heat_table",
    )
    st.download_button(
        "Download CSV",
        heat.to_csv().encode(),
        file_name="runs-by-language.csv",
        mime="text/csv",
        key="acc_heat_csv",
        icon=":material/download:",
    )


def vocabulary_fix(run: Run) -> None:
    """Where the attribution points to the vocabulary: clone the run into the Lab with a fix."""
    languages = G.vocabulary_languages(run.eval)
    if not languages or not run.config:
        return
    st.markdown(f"**The vocabulary holds back {', '.join(languages)}.** Try a fix in the Lab:")
    cols = st.columns(2)
    for col, (key, (what, config)) in zip(cols, G.vocabulary_fixes(run.config).items()):

        def clone(config=config) -> None:
            st.session_state[F.KEY_CLONE] = (run.run_id, config)

        if col.button(f"Clone with {key}", key=f"acc_fix_{key}", help=what, on_click=clone):
            st.switch_page(C.PAGE_FILES["lab"])


def transfer_gaps(run: Run) -> None:
    """Why each target language gained or lost: the gaps next to the factors."""
    table = G.attribution_table(run.eval)
    if table.empty:
        return
    st.subheader("Transfer gaps and their likely causes")
    lines = G.shortfall_lines(run.eval)
    if lines:
        st.warning("Languages that fall short:\n" + "\n".join(f"- {line}" for line in lines))
    else:
        st.success("No target language falls short of the teacher by 15 points or more.")
    st.dataframe(table, hide_index=True, width="stretch", key="acc_attribution")
    vocabulary_fix(run)
    long = G.gap_vs_factors(run.eval)
    if not long.empty:
        fig = px.scatter(
            long, x="value", y="gap", text="language", facet_col="factor", facet_col_spacing=0.04
        )
        fig.update_traces(textposition="top center")
        fig.update_xaxes(matches=None, title_text="")
        fig.for_each_annotation(lambda a: a.update(text=a.text.replace("factor=", "")))
        fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10))
        st.plotly_chart(fig, key="acc_gap_factors")
    st.caption(
        "teacher (source items) - student: the teacher's accuracy on the source-language "
        "versions of a language's test items minus the KD student's on the items themselves "
        "(what crossing the language costs). A language falls short at a gap of 15 points or "
        "more, or a student within 5 points of the majority prior; the cause is the first of: "
        "unknown tokens (5 % or more), twice the source's tokens per word (for scripts without "
        "spaces: a character per token), few parallel pairs, "
        "a weak teacher, a small test set."
    )


C.ensure_router("accuracy")
intro()
run = C.current_run("Accuracy per language appears here once a run has finished.")
if run is None:
    st.stop()
this_run(run)
transfer_gaps(run)
across_runs()
