"""The Lab's layer-mapping assistant: teacher x student CKA for the form's models and data, the
suggested monotone ``layer_map``, and one click that puts it into the recipe's ``hidden_mse``."""

from __future__ import annotations

import dataclasses

import plotly.express as px
import streamlit as st

from pages import _components as K
from xkd.app import form as F
from xkd.app import layers as Y
from xkd.config import RunConfig
from xkd.errors import XKDError

_RESULT = "lab_layers_result"  # session key: {key: report dict}


def heatmap(report: dict, *, key: str, title: str = "") -> None:
    """The CKA heatmap with the suggested pairs marked."""
    frame = Y.heatmap_frame(report)
    fig = px.imshow(frame, zmin=0, zmax=1, color_continuous_scale="Viridis", text_auto=".2f")
    for s, t in report["suggested"]:
        fig.add_shape(
            type="rect",
            x0=s - 0.5,
            x1=s + 0.5,
            y0=t - 0.5,
            y1=t + 0.5,
            line=dict(color="white", width=3),
        )
    fig.update_layout(
        height=80 + 36 * len(frame),
        margin=dict(l=10, r=10, t=30 if title else 10, b=10),
        title=title or None,
    )
    st.plotly_chart(fig, key=key)


def _use(layer_map: list[list[int]]) -> None:
    ss = st.session_state
    saved = ss[F.KEY_SAVED]
    form = dataclasses.replace(saved, losses=Y.with_layer_map(list(saved.losses), layer_map))
    F.apply_to_state(form, ss, force=True)
    K.notify(f"hidden_mse now maps the layers {F.layer_map_text(layer_map)}.")


def layer_assistant(cfg: RunConfig) -> None:
    """The assistant's expander (computed on request: it runs both models on 300 texts)."""
    from xkd.experiment.layers import suggest_layers

    ss = st.session_state
    key = Y.assistant_key(cfg)
    with st.expander("Layer-mapping assistant (CKA)", expanded=key in ss.get(_RESULT, {})):
        st.caption(
            "Linear CKA between every teacher layer and every student layer on 300 of the "
            "student's training texts, and the monotone layer_map with the highest total CKA "
            "(white squares), for the hidden_mse loss."
        )
        if st.button("Suggest a layer map", key="lab_layers_run"):
            try:
                with st.spinner("Running the teacher and the student on 300 texts…"):
                    ss.setdefault(_RESULT, {})[key] = suggest_layers(cfg).to_dict()
            except XKDError as exc:
                st.error(str(exc))
        report = ss.get(_RESULT, {}).get(key)
        if report is None:
            return
        heatmap(report, key="lab_layers_heatmap")
        suggested, default = (
            F.layer_map_text(report["suggested"]),
            F.layer_map_text(report["default"]),
        )
        st.markdown(
            f"Suggested: `{suggested}` (mean CKA {report['suggested_score']:.3f}); evenly "
            f"spread: `{default}` ({report['default_score']:.3f}). "
            + (
                "The widths differ: hidden_mse learns a projection."
                if report["projection_needed"]
                else "Same width: no projection is needed."
            )
        )
        st.button(
            "Use it in hidden_mse", key="lab_layers_use", on_click=_use, args=(report["suggested"],)
        )


def run_layers(run) -> None:
    """A finished run's layers before and after training (the Alignment page), on request;
    kept in the run's ``cache/layers.json``."""
    if run.state != "finished":
        return
    cached = (run.folder.cache_dir / "layers.json").is_file()
    with st.expander("Layers: teacher x student CKA before and after training", expanded=cached):
        if not cached and not st.button("Compare the layers", key="align_layers_run"):
            st.caption(
                "Runs the teacher, the untrained and the trained student on 300 training texts "
                "(a few seconds); the result is kept with the run."
            )
            return
        try:
            with st.spinner("Running the models on 300 texts…"):
                result = Y.run_layers(run.path)
        except XKDError as exc:
            st.error(str(exc))
            return
        left, right = st.columns(2)
        with left:
            heatmap(result["before"], key="align_layers_before", title="before training")
        with right:
            heatmap(result["after"], key="align_layers_after", title="after training")
        st.caption(
            f"Suggested layer_map before: `{F.layer_map_text(result['before']['suggested'])}`, "
            f"after: `{F.layer_map_text(result['after']['suggested'])}`. Higher CKA after "
            "training means the student's layer now represents the texts more like that "
            "teacher layer."
        )
