"""Sweeps: one-click ablations of the current run, a sweep's live progress, the sweep view."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from pages import _common as C
from pages import _components as K
from xkd.app import form as F
from xkd.app import labels as L
from xkd.app import sweeps as S
from xkd.errors import XKDError
from xkd.report import sweep_report_html
from xkd.sweep import find_sweep
from xkd.sweep.launch import launch_sweep, resume_in_background, stop_sweep

KEY_SWEEP = "sweep_id"


def intro() -> None:
    st.title("Sweeps")
    st.caption(
        "A sweep runs several variations of a config one after another. The teacher's outputs "
        f"are computed once for the whole sweep and each distinct {L.BASELINE} is trained "
        "once; every member is a normal run (open it from the sidebar)."
    )


def ablate(run) -> None:
    """The one-click ablations of the current run."""
    with st.container(border=True):
        st.markdown(f"**Ablate run {run.run_id}**")
        choices = {c.name: c for c in S.ablation_choices(run.config, run.eval)}
        name = st.radio(
            "Ablation",
            list(choices),
            format_func=lambda n: f"{choices[n].label} ({choices[n].members} runs)",
            key="sweep_ablation",
            horizontal=True,
        )
        choice = choices[name]
        if choice.error:
            st.warning(choice.error)
            return
        st.caption(choice.question)
        if st.button("Start the ablation", key="sweep_start", icon=":material/play_arrow:"):
            spec = S.build_ablation(name, run.config, result=run.eval)
            try:
                folder, _ = launch_sweep(spec, C.runs_dir())
            except XKDError as exc:
                st.error(str(exc))
                return
            st.session_state[KEY_SWEEP] = folder.sweep_id
            st.rerun()


def from_file(run) -> None:
    """A sweep written by hand: any variants and grid over the current run's config."""
    with st.expander("Run a sweep file (variants and a grid over any config keys)"):
        text = st.text_area(
            "sweep.yaml", S.example_sweep(run.config if run else None), height=220, key="sweep_yaml"
        )
        if st.button("Start this sweep", key="sweep_file_start", icon=":material/play_arrow:"):
            try:
                folder, _ = launch_sweep(S.parse_sweep(text), C.runs_dir())
            except XKDError as exc:
                st.error(str(exc))
                return
            st.session_state[KEY_SWEEP] = folder.sweep_id
            st.rerun()


def pick_sweep():
    labels = S.sweep_labels(C.runs_dir())
    if not labels:
        st.info("No sweep yet: start an ablation above, or `xkd sweep SWEEP.yaml` in a terminal.")
        return None
    current = st.session_state.get(KEY_SWEEP)
    ids = list(labels)
    index = ids.index(current) if current in ids else 0
    sweep_id = st.selectbox("Sweep", ids, index=index, format_func=labels.get, key="sweep_pick")
    st.session_state[KEY_SWEEP] = sweep_id
    return find_sweep(C.runs_dir(), sweep_id)


@st.fragment(run_every=2)
def progress(folder) -> None:
    p = S.sweep_progress(folder)
    cols = st.columns([5, 1])
    cols[0].progress(p.fraction, text=p.text)
    if p.active and cols[1].button("Stop", key="sweep_stop", icon=":material/stop:"):
        state = stop_sweep(folder)
        st.toast(f"Sweep stopped (its run is {state}); Resume continues it.")
    if p.state in ("stopped", "interrupted") and cols[1].button("Resume", key="sweep_resume"):
        resume_in_background(folder, C.runs_dir())
        st.rerun()
    if st.session_state.get("_sweep_was_active") and not p.active:
        st.session_state["_sweep_was_active"] = False
        st.rerun(scope="app")  # the view below draws the new results
    st.session_state["_sweep_was_active"] = p.active


def members_table(v) -> None:
    st.markdown("**Members**")
    st.dataframe(
        S.members_display(v["members"], v["manifest"].varied),
        hide_index=True,
        width="stretch",
        key="sweep_members",
    )


def parallel_coordinates(v) -> None:
    frame, ticks = S.parallel_frame(v["members"], v["manifest"].varied)
    if len(frame) < 2:
        return
    dims = [
        dict(
            label=k,
            values=frame[k],
            tickvals=list(range(len(t))),
            ticktext=[str(x)[:24] for x in t],
        )
        for k, t in ticks.items()
    ]
    dims += [dict(label=c, values=frame[c]) for c in (L.STUDENT_TARGETS, L.KD_GAIN)]
    fig = go.Figure(
        go.Parcoords(line=dict(color=frame[L.KD_GAIN], colorscale="Viridis"), dimensions=dims)
    )
    fig.update_layout(height=340, margin=dict(l=60, r=40, t=40, b=20))
    st.plotly_chart(fig, key="sweep_parcoords")


def gains_chart(v) -> None:
    long = S.gains_long(v["languages"])
    if long.empty:
        return
    st.markdown(f"**{L.KD_GAIN} per language** (points, 95 % paired bootstrap intervals)")
    fig = px.bar(
        long,
        x="language",
        y="gain",
        color="member",
        barmode="group",
        error_y="plus",
        error_y_minus="minus",
        hover_data={"significant": True, "plus": False, "minus": False},
    )
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=10, b=10), yaxis_title="points")
    st.plotly_chart(fig, key="sweep_gains")


def effects(v) -> None:
    eff = v["effects"]
    if eff.empty:
        return
    st.markdown(
        f"**Effect of each varied key on the {L.KD_GAIN}** (mean over the members with that value)"
    )
    eff = eff.assign(value=eff["value"].astype(str), kd_gain=100 * eff["kd_gain"])
    fig = px.line(eff, x="value", y="kd_gain", color="language", facet_col="key", markers=True)
    fig.update_xaxes(matches=None, type="category", title_text="")
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=30, b=10), yaxis_title="points")
    st.plotly_chart(fig, key="sweep_effects")


def curves(v) -> None:
    """Accuracy over the values of each varied key, one line per language, with its band."""
    for key in v["manifest"].varied:
        band = S.curve_bands(v["languages"], key)
        if band["value"].nunique() < 3:
            continue
        st.markdown(f"**{L.STUDENT} accuracy over {key}** (95 % bands)")
        fig = go.Figure()
        for i, (lang, part) in enumerate(band.groupby("language", sort=False)):
            color = px.colors.qualitative.Plotly[i % 10]
            x = part["value"].astype(str).tolist()
            fig.add_trace(
                go.Scatter(
                    x=x + x[::-1],
                    y=list(part["high"]) + list(part["low"])[::-1],
                    fill="toself",
                    line=dict(width=0),
                    fillcolor=color,
                    opacity=0.18,
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=x, y=part["accuracy"], name=lang, mode="lines+markers", line=dict(color=color)
                )
            )
        fig.update_layout(
            height=320, margin=dict(l=10, r=10, t=10, b=10), yaxis=dict(tickformat=".0%")
        )
        fig.update_xaxes(type="category", title_text=key)
        st.plotly_chart(fig, key=f"sweep_curve_{key}")


def seeds(v) -> None:
    table = v["seeds"]
    if table.empty or not (table["seeds"] >= 2).any():
        return
    st.markdown("**Across seeds** (mean and 95 % Student-t interval)")
    st.dataframe(table[table["seeds"] >= 2], hide_index=True, width="stretch", key="sweep_seeds")


def report(folder) -> None:
    K.report_download(
        "Download the sweep report (HTML)",
        lambda: sweep_report_html(folder),
        file_name=f"{folder.sweep_id}-report.html",
        key="sweep_report",
        help="one self-contained file: the members, per-language gains with intervals, seeds, "
        "the effect of each key, the best member and how to reproduce (= `xkd report SWEEP`)",
    )


def best(folder, v) -> None:
    row = v["best"]
    if row is None:
        return
    st.success(
        f"Best member: **{row['member']}** ({L.STUDENT_TARGETS} {100 * row['student_target_accuracy']:.1f} %)."
    )
    config = S.clone_config(folder, row["member"])
    if config and st.button("Clone the best member into the Lab", key="sweep_clone"):
        st.session_state[F.KEY_CLONE] = (row["run"], config)
        st.switch_page(C.PAGE_FILES["lab"])


C.ensure_router("sweeps")
intro()
run = C.current_run("Ablations start from a finished run; sweeps from a file run with `xkd sweep`.")
if run is not None and run.state == "finished":
    ablate(run)
from_file(run)
folder = pick_sweep()
if folder is None:
    st.stop()
view = S.view_frames(folder)
st.subheader(view["manifest"].name)
st.caption(view["manifest"].question)
progress(folder)
members_table(view)
parallel_coordinates(view)
gains_chart(view)
effects(view)
curves(view)
seeds(view)
best(folder, view)
report(folder)
