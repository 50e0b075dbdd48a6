"""The Alignment page's "Over training" section: alignment health curves and the map of the
held-out translation pairs replayed step by step. Everything drawn is read from the run folder
(:mod:`xkd.app.health`): the run's own process embedded and projected, so nothing waits here."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from pages import _common as C
from pages import _components as K
from pages._layers import run_layers
from xkd.app import health as H
from xkd.app import labels as L
from xkd.runs import Run

PALETTE = px.colors.qualitative.Plotly + px.colors.qualitative.D3
SYMBOLS = {"teacher": "circle", "student": "diamond", "baseline": "x"}


def _step(steps: list[int]) -> int:
    """The step slider (the last step by default; a stale choice falls back to it)."""
    if st.session_state.get("align_step") not in steps:
        st.session_state["align_step"] = steps[-1]
    if len(steps) == 1:
        st.caption(f"Step {steps[0]}: more maps appear as the run reaches its alignment steps.")
        return steps[0]
    return st.select_slider("Training step", options=steps, key="align_step")


def _map(run: Run, step: int, models: list[str]) -> None:
    drawn = H.map_at(run.path, step)
    if drawn is None:
        return
    points, links = drawn
    points = points[points["model"].isin(models)]
    languages = sorted(points["language"].unique())
    colors = {lang: PALETTE[i % len(PALETTE)] for i, lang in enumerate(languages)}
    fig = go.Figure()
    if st.session_state.get("align_contours", True):
        for lang in languages:
            part = points[(points["language"] == lang) & (points["model"] == "student")]
            if len(part) >= 5:
                fig.add_trace(_contour(part, colors[lang], lang))
    for model in models:
        link = links[links["model"] == model]
        xs, ys = [], []
        for row in link.itertuples():
            xs += [row.x0, row.x1, None]
            ys += [row.y0, row.y1, None]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                hoverinfo="skip",
                showlegend=False,
                line=dict(width=0.6, color="rgba(128,128,128,0.35)"),
            )
        )
        for lang in languages:
            part = points[(points["model"] == model) & (points["language"] == lang)]
            if part.empty:
                continue
            fig.add_trace(
                go.Scatter(
                    x=part["x"],
                    y=part["y"],
                    mode="markers",
                    text=part["text"],
                    name=f"{lang} · {L.model_label(model)}",
                    legendgroup=lang,
                    marker=dict(color=colors[lang], symbol=SYMBOLS.get(model, "circle"), size=7),
                    hovertemplate="%{text}<extra>%{fullData.name}</extra>",
                )
            )
    extent = H.map_extent(run.path)
    fig.update_layout(height=520, margin=dict(l=10, r=10, t=10, b=10))
    fig.update_xaxes(showticklabels=False, range=extent[0] if extent else None)
    fig.update_yaxes(showticklabels=False, range=extent[1] if extent else None)
    C.legend_below(fig, y=-0.02)
    st.plotly_chart(fig, key="align_replay_chart")


def _contour(part, color: str, lang: str) -> go.Histogram2dContour:
    return go.Histogram2dContour(
        x=part["x"],
        y=part["y"],
        ncontours=4,
        showscale=False,
        name=f"{lang} density",
        contours=dict(coloring="lines"),
        line=dict(color=color, width=1),
        hoverinfo="skip",
        colorscale=[[0, color], [1, color]],
        opacity=0.6,
        showlegend=False,
    )


def over_training(run: Run) -> None:
    """The section, or nothing when the run recorded no alignment steps."""
    curves = H.health_curves(run.path)
    steps = H.map_steps(run.path)
    if curves.empty and not steps:
        run_layers(run)
        return
    st.subheader("Over training")
    K.health_chart(curves, key="align_health")
    if not steps:
        return
    c = st.columns([3, 1, 1])
    with c[0]:
        step = _step(steps)
    c[1].toggle("Density contours", key="align_contours", value=True)
    show = c[2].multiselect(
        "Also show",
        ["teacher", "baseline"],
        default=["teacher"],
        key="align_replay_models",
        format_func=L.model_label,
    )
    left, right = st.columns([3, 2])
    with left:
        _map(run, step, ["student", *show])
    with right:
        st.markdown(f"**{L.STUDENT} at step {step}**")
        st.dataframe(H.at_step(curves, step), hide_index=True, key="align_step_table")
        st.caption(
            f"One projection for every step (a PCA fitted once, on the "
            f"{H.fitted_on(run.path) or 'first map'}'s embeddings): "
            "a sentence the model did not move stays in place. Contours: where each "
            "language's sentences are dense; alignment is where they overlap. Diamonds: "
            f"{L.STUDENT}, circles: {L.TEACHER}, x: {L.BASELINE}."
        )
    run_layers(run)
