"""Alignment: do translations land together? A joint 2-D map of teacher and student embeddings."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from pages import _common as C
from pages._alignment_replay import over_training
from xkd.app import alignment as A
from xkd.app import labels as L
from xkd.errors import XKDError
from xkd.runs import Run
from xkd.runs.projections import default_models, projection_frame

SYMBOLS = {"teacher": "circle", "student": "diamond", "baseline": "x"}
PALETTE = px.colors.qualitative.Plotly + px.colors.qualitative.D3
MEASURES = ["src→tgt @1", "tgt→src @1", "pair cosine"]


def intro() -> None:
    st.title("Alignment")
    st.caption(
        f"Sentence embeddings of the test texts, {L.TEACHER} and {L.STUDENT} projected together "
        f"to 2-D. After cross-lingual distillation a sentence and its translations should sit "
        f"close in the {L.STUDENT}'s space. Select points with the box or lasso tool to list "
        f"them and their nearest neighbours in the original space."
    )


def controls(emb) -> tuple[str, list[str], list[str]]:
    """The map's settings; returns (colour by, models, languages)."""
    available = [m for m in L.MODELS if m in set(emb["model"])]
    c = st.columns(3)
    c[0].toggle(
        "PCA instead of UMAP",
        key="align_pca",
        help="PCA is linear and instant; UMAP keeps neighbourhoods (cached per run)",
    )
    c[1].toggle(
        "Mean-centre each language",
        key="align_center",
        help="subtract each language's mean vector (per model) to remove the language offset",
    )
    c[2].toggle("Translation lines", key="align_lines", value=True)
    c = st.columns([1, 2, 3])
    color_by = c[0].radio("Colour by", ["language", "label"], key="align_color", horizontal=True)
    models = c[1].multiselect(
        "Models",
        available,
        default=default_models(available),
        format_func=L.model_label,
        key="align_models",
    )
    languages = sorted(emb["language"].unique())
    chosen = c[2].multiselect("Languages (empty = all)", languages, key="align_langs")
    return color_by, models, chosen


def project(run: Run, emb, models: list[str], languages: list[str]):
    """The joint 2-D projection, or ``None`` after showing why it failed."""
    method = "pca" if st.session_state.get("align_pca") else "umap"
    try:
        with st.spinner(f"Projecting with {method.upper()} (cached: a run writes its first view)…"):
            proj, notes = projection_frame(
                emb,
                method=method,
                center=bool(st.session_state.get("align_center")),
                models=models,
                languages=languages or None,
                cache_dir=run.folder.cache_dir,
            )
    except XKDError as exc:
        st.error(str(exc))
        return None
    except Exception as exc:  # noqa: BLE001 - e.g. UMAP on degenerate vectors: show, don't crash
        st.error(f"Could not project the embeddings ({type(exc).__name__}: {exc}); try PCA.")
        return None
    for note in notes:
        st.caption(note)
    return proj


def embedding_map(run: Run, proj, models: list[str], color_by: str) -> list[int]:
    """Draw the map; returns the ``embeddings.parquet`` rows of the selected points."""
    fig = go.Figure()
    if st.session_state.get("align_lines", True):
        for model, (xs, ys) in A.translation_segments(proj, run.source_language).items():
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    line=dict(width=0.7, color="rgba(128,128,128,0.35)"),
                    hoverinfo="skip",
                    name=f"translations ({L.model_label(model)})",
                    legendgroup="lines",
                )
            )
    values = sorted(proj[color_by].fillna("(none)").astype(str).unique())
    colors = {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(values)}
    trace_rows: dict[int, list[int]] = {}
    for model in models:
        for value in values:
            part = proj[
                (proj["model"] == model) & (proj[color_by].fillna("(none)").astype(str) == value)
            ]
            if part.empty:
                continue
            trace_rows[len(fig.data)] = part["row"].tolist()
            fig.add_trace(
                go.Scatter(
                    x=part["x"],
                    y=part["y"],
                    mode="markers",
                    name=f"{value} · {L.model_label(model)}",
                    legendgroup=value,
                    marker=dict(
                        color=colors[value],
                        symbol=SYMBOLS.get(model, "circle"),
                        size=8 if model == "student" else 7,
                        line=dict(width=0.5, color="rgba(0,0,0,0.4)"),
                        opacity=0.85,
                    ),
                    customdata=L.with_model_labels(part)[
                        ["row", "language", "label", "model"]
                    ].to_numpy(),
                    text=part["text"],
                    hovertemplate="%{text}<br>%{customdata[1]} · %{customdata[2]} · "
                    "%{customdata[3]}<extra></extra>",
                )
            )
    fig.update_layout(
        height=620,
        margin=dict(l=10, r=10, t=10, b=10),
        dragmode="lasso",
        xaxis=dict(showticklabels=False, title=""),
        yaxis=dict(showticklabels=False, title=""),
    )
    C.legend_below(fig, y=-0.02)
    event = st.plotly_chart(
        fig, key="align_chart", on_select="rerun", selection_mode=("box", "lasso", "points")
    )
    st.caption(
        f"Circles: {L.TEACHER} · diamonds: {L.STUDENT} · x: {L.BASELINE}. Lines join translations."
    )
    selected: list[int] = []
    for p in (event or {}).get("selection", {}).get("points", []) if event else []:
        rows = trace_rows.get(p.get("curve_number"))
        idx = p.get("point_index", p.get("point_number"))
        if rows is not None and idx is not None and 0 <= idx < len(rows):
            selected.append(int(rows[idx]))
    return list(dict.fromkeys(selected))


def retrieval(run: Run, emb) -> None:
    st.markdown("**Retrieval and pair cosine per language**")
    align = A.alignment_table(run.eval, emb, run.source_language)
    if align.empty:
        st.caption("No translation pairs in the test split, so no retrieval scores.")
        return
    long = L.with_model_labels(
        align.melt(id_vars=["language", "model"], value_vars=MEASURES, var_name="measure")
    )
    bars = px.bar(
        long,
        x="language",
        y="value",
        color="model",
        barmode="group",
        facet_col="measure",
        color_discrete_map=L.LABEL_COLORS,
    )
    bars.for_each_annotation(lambda a: a.update(text=a.text.replace("measure=", "")))
    bars.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10))
    C.legend_below(bars, y=-0.15)
    bars.update_yaxes(range=[0, 1])
    bars.update_xaxes(title_text="")
    st.plotly_chart(bars, key="align_retrieval_chart")
    st.dataframe(
        L.with_model_labels(align.drop(columns="n_pairs")),
        hide_index=True,
        width="stretch",
        key="align_retrieval",
        column_config={c: st.column_config.NumberColumn(format="%.3f") for c in MEASURES},
    )
    pairs = ", ".join(
        f"{lang}: {n}" for lang, n in align.groupby("language")["n_pairs"].first().items()
    )
    st.caption(
        f"Retrieval@1: share of {run.source_language or 'source'} sentences whose nearest "
        f"target-language sentence (cosine) is their translation, and back. Pairs: {pairs}."
    )


def language_bias(run: Run) -> None:
    table = A.language_bias_table(run.eval)
    if table.empty:
        return
    st.markdown("**Language bias: every language in one pool**")
    st.dataframe(
        L.with_model_labels(table),
        hide_index=True,
        width="stretch",
        key="align_bias",
        column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns[2:]},
    )
    st.caption(
        "mixed: retrieval@1 of each target sentence when the candidates are the test sentences "
        "of every language at once (a hit is its translation in any language); own: tgt→src "
        "@1 against the source language alone; drop = own - mixed. A space that clusters by "
        "language retrieves same-language sentences and drops a lot."
    )


def selection(emb, selected: list[int]) -> None:
    st.markdown("**Selection**")
    if not selected:
        st.caption("Draw a box or lasso on the map (or click a point) to list the texts here.")
        return
    chosen = emb.iloc[selected][["text", "language", "label", "model", "pair_id"]]
    st.dataframe(
        L.with_model_labels(chosen), hide_index=True, width="stretch", key="align_selected"
    )
    k = st.slider("Neighbours per text", 1, 10, 3, key="align_k")
    if len(selected) > 50:
        st.caption(f"Neighbours for the first 50 of {len(selected)} selected points.")
    st.dataframe(
        L.with_model_labels(A.neighbours_table(emb, selected[:50], k=k)),
        hide_index=True,
        width="stretch",
        key="align_neighbours",
        column_config={"cosine": st.column_config.NumberColumn(format="%.3f")},
    )


C.ensure_router("alignment")
intro()
live = C.current_run("The embedding map appears here once a run has started.")
if live is None:
    st.stop()
over_training(live)
run, emb = C.current_results(
    "embeddings", "Embeddings", "The embedding map appears here once a run has finished."
)
st.subheader("Test set, at the end")
color_by, models, languages = controls(emb)
if not models:
    st.info("Pick at least one model.")
    st.stop()
proj = project(run, emb, models, languages)
if proj is None:
    st.stop()
left, right = st.columns([3, 2])
with left:
    selected = embedding_map(run, proj, models, color_by)
with right:
    retrieval(run, emb)
    language_bias(run)
selection(emb, selected)
