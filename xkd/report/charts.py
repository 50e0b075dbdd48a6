"""The reports' plotly figures, drawn from the frames the app's helpers compute.

Colours and labels are the app's (:mod:`xkd.app.labels`), so a chart in a report reads like the
same chart on its page.
"""

from __future__ import annotations

import pandas as pd

from xkd.app import labels as L
from xkd.report.html import _plotly, esc

__all__ = ["accuracy_bars", "alignment_map", "gain_bars", "loss_curves"]

_MARGIN = dict(l=10, r=10, t=30, b=10)


def accuracy_bars(long: pd.DataFrame, languages: list[str]):
    """Test accuracy per language and model with 95 % error bars, and the majority prior
    (:func:`xkd.app.accuracy.accuracy_long`)."""
    go, _ = _plotly()
    fig = go.Figure()
    for model in L.MODELS:
        part = long[long["model"] == model]
        if part.empty:
            continue
        fig.add_bar(
            x=part["language"],
            y=part["accuracy"],
            name=L.model_label(model),
            marker_color=L.MODEL_COLORS[model],
            error_y=dict(type="data", array=part["plus"], arrayminus=part["minus"]),
            customdata=part[["low", "high"]].to_numpy(),
            hovertemplate="%{x}: %{y:.3f} [%{customdata[0]:.3f}, %{customdata[1]:.3f}]"
            "<extra>" + esc(L.model_label(model)) + "</extra>",
        )
    prior = long.drop_duplicates("language")
    fig.add_scatter(
        x=prior["language"],
        y=prior["prior"],
        mode="markers",
        name=L.PRIOR,
        marker=dict(symbol="line-ew", size=28, line=dict(width=3, color="#888")),
        hovertemplate="prior %{y:.3f}<extra></extra>",
    )
    fig.update_layout(
        barmode="group",
        yaxis=dict(range=[0, 1.05], tickformat=".0%", title="test accuracy"),
        xaxis=dict(categoryorder="array", categoryarray=languages),
        margin=_MARGIN,
        legend_title_text="",
    )
    return fig


def loss_curves(frame: pd.DataFrame):
    """Each loss term over the steps, one panel per phase (:func:`xkd.app.rundata.curves_long`)."""
    go, _ = _plotly()
    from plotly.subplots import make_subplots

    phases = list(dict.fromkeys(frame["phase"]))
    fig = make_subplots(
        rows=1, cols=len(phases), subplot_titles=[esc(p) for p in phases], shared_yaxes=False
    )
    for col, phase in enumerate(phases, start=1):
        part = frame[frame["phase"] == phase]
        for term, rows in part.groupby("term", sort=False):
            fig.add_trace(
                go.Scatter(
                    x=rows["step"],
                    y=rows["value"],
                    mode="lines",
                    name=esc(f"{phase}: {term}"),
                    hovertemplate="step %{x}: %{y:.4f}<extra>" + esc(term) + "</extra>",
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="step", row=1, col=col)
    fig.update_layout(margin=_MARGIN, legend_title_text="")
    return fig


def alignment_map(proj: pd.DataFrame, source: str | None):
    """The test-set map: one marker per sentence and model, coloured by language, the
    teacher as circles and the KD student as diamonds; hover shows the sentence."""
    go, _ = _plotly()
    symbols = {"teacher": "circle", "student": "diamond", "baseline": "square"}
    fig = go.Figure()
    languages = sorted(proj["language"].unique(), key=lambda x: (x != source, x))
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"]
    for model, by_model in proj.groupby("model", sort=False):
        for i, lang in enumerate(languages):
            part = by_model[by_model["language"] == lang]
            if part.empty:
                continue
            fig.add_scatter(
                x=part["x"],
                y=part["y"],
                mode="markers",
                name=esc(f"{L.model_label(model)} · {lang}"),
                marker=dict(
                    symbol=symbols.get(model, "circle"),
                    size=8,
                    color=palette[i % len(palette)],
                    opacity=0.8,
                    line=dict(width=0.5, color="#fff"),
                ),
                text=[esc(t) for t in part["text"].astype(str)],
                customdata=[[esc(v)] for v in part["label"].astype(str)],
                hovertemplate="%{text}<br>label %{customdata[0]}<extra>"
                + esc(f"{L.model_label(model)} · {lang}")
                + "</extra>",
            )
    fig.update_layout(
        margin=_MARGIN,
        xaxis=dict(showticklabels=False, title=""),
        yaxis=dict(showticklabels=False, title=""),
        legend_title_text="",
    )
    return fig


def gain_bars(languages: pd.DataFrame):
    """A sweep's paired KD gain per target language and member, in points, with its 95 %
    interval (:func:`xkd.sweep.summary.language_rows`)."""
    go, _ = _plotly()
    fig = go.Figure()
    targets = languages[languages["role"] == "target"]
    for member, part in targets.groupby("member", sort=False):
        gain = 100 * part["kd_gain"].astype(float)
        low = 100 * part["gain low"].astype(float)
        high = 100 * part["gain high"].astype(float)
        fig.add_bar(
            x=part["language"],
            y=gain,
            name=esc(member),
            error_y=dict(type="data", array=high - gain, arrayminus=gain - low),
            customdata=pd.concat([low, high], axis=1).to_numpy(),
            hovertemplate="%{x}: %{y:+.1f} pts [%{customdata[0]:+.1f}, %{customdata[1]:+.1f}]"
            "<extra>" + esc(member) + "</extra>",
        )
    fig.add_hline(y=0, line=dict(color="#888", width=1))
    fig.update_layout(
        barmode="group",
        yaxis=dict(title=f"{L.KD_GAIN} (points)"),
        margin=_MARGIN,
        legend_title_text="",
    )
    return fig
