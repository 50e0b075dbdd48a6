"""Page components shared by every page that shows them: the live run view (progress bar with
ETA), the Stop button, the loss-curve chart and the headline metric row, plus the one-line
notice a component leaves for the next rerun.

Labels come from :mod:`xkd.app.labels` (one label per concept); data from :mod:`xkd.app`.
"""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from xkd.app import fmt, rundata
from xkd.app import labels as L
from xkd.app.health import MEASURES, health_curves, references
from xkd.runs import Run, stop_run

#: Session key of the notice shown once at the top of the next run of a page.
NOTICE_KEY = "xkd_notice"
#: Session key of the per-run ETA trackers (a tracker measures the rate across reruns).
_ETA_KEY = "xkd_eta"
#: Distinct colours for series that are not models (loss terms, runs).
SERIES_COLORS = px.colors.qualitative.Plotly


def notify(text: str) -> None:
    """Leave ``text`` for :func:`show_notice` on the next rerun (e.g. before ``st.rerun``)."""
    st.session_state[NOTICE_KEY] = text


def show_notice() -> None:
    """Show (once) the notice left by :func:`notify`."""
    text = st.session_state.pop(NOTICE_KEY, None)
    if text:
        st.info(text)


def progress_bar(run: Run, *, where=None) -> None:
    """The run's overall progress bar; its text names the phase, the step and the ETA."""
    trackers = st.session_state.setdefault(_ETA_KEY, {})
    tracker = trackers.setdefault(run.run_id, rundata.EtaTracker())
    prog = rundata.progress(
        run.status, baseline=bool(run.config.get("baseline", True)), tracker=tracker
    )
    (where or st).progress(prog.fraction, text=prog.text)


def stop_button(run: Run, *, key: str, where=None) -> None:
    """A Stop button for an active run (nothing otherwise).

    A click asks the trainer to stop (it saves a checkpoint first), leaves a notice with the
    final state and how to resume, and reruns the page.
    """
    if not run.active:
        return
    if (where or st).button("Stop", key=key, icon=":material/stop:", width="stretch"):
        with st.spinner("Stopping (the trainer saves a checkpoint first)…"):
            final = stop_run(run.path, timeout=10)
        notify(
            f"Run {run.run_id} is now {final.get('state')}; resume it with "
            f"`xkd train --resume {run.run_id}`."
        )
        st.rerun()


def loss_curves(long, *, key: str, color: str = "term", log_y: bool = False) -> bool:
    """Draw loss curves from a long frame ``phase, step, term, value, run`` (one panel per
    phase, one line per ``color`` value); False when there is nothing to draw.

    The frame comes from :func:`xkd.app.rundata.curves_long`, which reads only the ``train``
    records of ``metrics.jsonl`` (dev accuracy is not a loss term).
    """
    if long is None or long.empty:
        return False
    fig = px.line(
        long,
        x="step",
        y="value",
        color=color,
        facet_col="phase",
        facet_col_spacing=0.06,
        markers=len(long) < 60,
        log_y=log_y,
        color_discrete_sequence=SERIES_COLORS,
    )
    fig.update_xaxes(matches=None, title_text="step")
    fig.update_yaxes(matches=None, showticklabels=True)
    fig.for_each_annotation(lambda a: a.update(text=a.text.replace("phase=", "")))
    fig.update_layout(
        height=320,
        margin=dict(l=10, r=10, t=30, b=10),
        legend=dict(orientation="h", y=-0.25, title_text=""),
    )
    st.plotly_chart(fig, key=key)
    return True


def health_chart(curves, *, key: str) -> bool:
    """Alignment health over steps (:func:`xkd.app.health.health_curves`): one panel per
    measure, one line per language for the student; dashed lines: the teacher, dotted: the
    no-KD baseline at its end. False when there is nothing to draw."""
    student = curves[curves["model"] == "student"] if curves is not None else None
    if student is None or student.empty:
        return False
    measures = [m for m in MEASURES.values() if m in set(student["measure"])]
    languages = sorted(set(student["language"]))
    colors = {lang: SERIES_COLORS[i % len(SERIES_COLORS)] for i, lang in enumerate(languages)}
    fig = make_subplots(rows=1, cols=len(measures), subplot_titles=measures)
    refs = references(curves)
    last = int(student["step"].max()) or 1
    for col, measure in enumerate(measures, start=1):
        for lang in languages:
            part = student[(student["measure"] == measure) & (student["language"] == lang)]
            if part.empty:
                continue
            fig.add_trace(
                go.Scatter(
                    x=part["step"],
                    y=part["value"],
                    mode="lines+markers",
                    name=lang,
                    legendgroup=lang,
                    showlegend=col == 1,
                    line=dict(color=colors[lang]),
                ),
                row=1,
                col=col,
            )
            for model, dash in (("teacher", "dash"), ("baseline", "dot")):
                ref = refs[(refs["model"] == model) & (refs["measure"] == measure)]
                ref = ref[ref["language"] == lang]
                if not ref.empty:
                    fig.add_trace(
                        go.Scatter(
                            x=[0, last],
                            y=[ref["value"].iloc[0]] * 2,
                            mode="lines",
                            line=dict(color=colors[lang], dash=dash, width=1),
                            name=f"{lang} · {L.model_label(model)}",
                            legendgroup=lang,
                            showlegend=False,
                            hoverinfo="name+y",
                        ),
                        row=1,
                        col=col,
                    )
    fig.update_layout(
        height=300, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.25)
    )
    fig.update_xaxes(title_text="step")
    st.plotly_chart(fig, key=key)
    st.caption(
        f"{L.STUDENT} on held-out translation pairs at each alignment step; dashed: the "
        f"{L.TEACHER}, dotted: the {L.BASELINE}. A lower language-ID probe accuracy means a "
        "more language-neutral space."
    )
    return True


def headline_row(run: Run, *, speed: bool = False) -> None:
    """The run's headline metrics in one row (from ``run.headline``; ``–`` where missing).

    With ``speed`` a fifth metric shows the student's inference speed relative to the teacher.
    """
    metrics = L.headline_metrics(run.headline)
    cols = st.columns(len(metrics) + int(speed))
    for col, m in zip(cols, metrics):
        col.metric(m.label, m.value, help=m.help)
        if m.detail:
            col.caption(f"95 % interval {m.detail}")
    if speed:
        ratio = fmt.get(run.eval, "throughput", "student_vs_teacher")
        cols[-1].metric(
            "Speed vs teacher",
            f"{fmt.num(ratio):.1f}×" if fmt.is_number(ratio) else fmt.DASH,
            help=f"inference sentences per second, {L.STUDENT} / {L.TEACHER}, on the run's device",
        )


def _outcome(run: Run, result_pages: dict[str, str]) -> None:
    """What became of a run that is no longer active: error, stop note, or the headline."""
    if run.state in ("failed", "interrupted"):
        st.error(f"Run {run.state}: {run.error or 'see the logs below'}")
    elif run.state == "stopped":
        note = run.status.get("note")
        st.warning(f"Run stopped{': ' + note if note else ''}.")
    elif run.state == "finished":
        st.success(f"Finished. The {L.STUDENT} against the {L.TEACHER} and the {L.BASELINE}:")
        headline_row(run)
        links = st.columns(len(result_pages))
        for col, (label, page) in zip(links, result_pages.items()):
            col.page_link(page, label=label)


def run_view(run: Run, *, key: str, result_pages: dict[str, str], log_y: bool = False) -> None:
    """The live run view: progress bar and Stop button, the outcome once it ended (with the
    headline row and links to ``result_pages``, label -> page file), loss curves and logs."""
    head = st.columns([4, 1])
    progress_bar(run, where=head[0])
    stop_button(run, key=f"{key}_stop", where=head[1])
    _outcome(run, result_pages)
    long = rundata.curves_long(rundata.metrics_frame(run.path))
    if not loss_curves(long, key=f"{key}_curves", log_y=log_y) and run.active:
        st.caption("Loss curves appear after the first logged training steps.")
    health_chart(health_curves(run.path), key=f"{key}_health")
    with st.expander("Logs", expanded=run.state in ("failed", "interrupted")):
        st.code(rundata.log_tail(run.path) or "(no log yet)", language="text")


def report_download(label: str, build, *, file_name: str, key: str, help: str) -> None:
    """A download of an HTML report; ``build()`` runs on click only (the file inlines
    plotly.js, a few MB) and the click does not rerun the page."""
    st.download_button(
        label,
        build,
        file_name=file_name,
        mime="text/html",
        key=key,
        on_click="ignore",
        icon=":material/description:",
        help=help,
    )
