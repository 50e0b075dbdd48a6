"""The Lab's launch section: the checks before launch (time and memory estimate, equivalent
commands, config.yaml, tokenizer report: computed by ``xkd.app``, cached, never breaking the
page) and the Launch button (refused on a busy device with the CLI's message)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from pages import _common as C
from pages import _components as K
from xkd.app import commands as CMD
from xkd.app import estimate as E
from xkd.app import labels as L
from xkd.app import model_choices as MC
from xkd.app import rundata
from xkd.app import tokenizer_report as T
from xkd.config import RunConfig
from xkd.errors import XKDError
from xkd.runs import busy_message, device_name
from xkd.runs.launch import launch


def mtime(path: str) -> int:
    """The file modification time in ns (0 when missing), for cache keys."""
    try:
        return os.stat(path).st_mtime_ns if Path(path).exists() else 0
    except OSError:
        return 0


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"


@st.cache_data(show_spinner=False, max_entries=16)
def _estimate(key: tuple, _cfg, _dataset):
    return E.estimate(_cfg, _dataset, device=key[-1])


@st.cache_data(show_spinner=False, max_entries=16)
def _tok_report(key: tuple, _cfg, _dataset):
    return T.report_for_config(_cfg, _dataset)


def before_launch(cfg: RunConfig, data_path: str, dataset) -> None:
    """Estimate, commands and config.yaml, then the tokenizer report."""
    estimate(cfg, data_path, dataset)
    tokenizer_report(cfg, data_path, dataset)


def estimate(cfg: RunConfig, data_path: str, dataset) -> None:
    """Time and memory estimate, the equivalent commands and config.yaml."""
    try:
        with st.spinner("Estimating…"):
            device = device_name(cfg.train.device)
            # a model that reaches the local cache since is estimated from its real config
            cached = tuple(MC.availability(m).status for m in (cfg.teacher, cfg.student))
            key = (cfg.to_yaml(), data_path, mtime(data_path), cached, device)
            est = _estimate(key, cfg, dataset)
    except Exception as exc:  # noqa: BLE001 - an estimate must never break the Lab
        st.warning(f"No estimate for this configuration ({type(exc).__name__}: {exc}).")
        est = None
    if est is not None:
        ec = st.columns(4)
        ec[0].metric("Time", rundata.format_seconds(est.total_seconds), help="an estimate")
        ec[1].metric("Peak memory", f"{est.peak_memory_mb / 1024:.1f} GB", help="an estimate")
        ec[2].metric("Student parameters", _count(est.student.params), help=est.student.source)
        ec[3].metric(
            f"{L.TEACHER.capitalize()} parameters",
            _count(est.teacher.params),
            help=est.teacher.source,
        )
    est_col, cmd_col = st.columns([2, 3])
    if est is not None:
        rows = pd.DataFrame(est.rows())
        rows["steps"] = rows["steps"].map(lambda v: "" if pd.isna(v) else str(int(v)))
        est_col.dataframe(rows, hide_index=True, width="stretch")
        for note in est.notes:
            est_col.caption(note)
    with cmd_col:
        n = CMD.process_count()
        cmds = CMD.commands(cfg, processes=n)
        st.markdown("Equivalent command")
        st.code(CMD.pretty_command(cmds["xkd"]), language="bash")
        st.markdown(f"In {n} processes (one per GPU, or CPU processes), with torchrun")
        st.code(CMD.pretty_command(cmds["torchrun"]), language="bash")
        st.markdown(f"Or with accelerate ({n} processes)")
        st.code(CMD.pretty_command(cmds["accelerate"]), language="bash")
        with st.expander("config.yaml"):
            st.code(cfg.to_yaml(), language="yaml")


def tokenizer_report(cfg: RunConfig, data_path: str, dataset) -> None:
    with st.expander("Tokenizer report: can the models read each language?", expanded=False):
        if dataset is None:
            st.caption("Needs local data (the report samples texts per language).")
            return
        if not st.toggle("Compute the tokenizer report", key="lab_tok_on", value=True):
            return
        d = cfg.data
        key = (cfg.teacher, cfg.student, data_path, mtime(data_path), d.source_language)
        key += (tuple(d.target_languages), d.max_length)
        try:
            with st.spinner("Tokenizing a sample per language…"):
                report = _tok_report(key, cfg, dataset)
        except Exception as exc:  # noqa: BLE001 - a report must never break the Lab
            st.warning(f"No tokenizer report ({type(exc).__name__}: {exc}).")
            return
        pct = st.column_config.NumberColumn
        st.dataframe(
            report.frame,
            hide_index=True,
            width="stretch",
            column_config={
                "unknown-token rate": pct(format="percent"),
                "truncated": pct(format="percent", help=f"longer than {d.max_length} tokens"),
                "tokens per word": pct(format="%.2f"),
                "chars per token": pct(format="%.2f"),
            },
        )
        for note in report.notes:
            st.caption(note)


def launch_button(cfg: RunConfig) -> None:
    """Launch, unless the device is busy (the CLI's policy and message)."""
    busy = busy_message(C.runs_dir(), cfg.train.device)
    if busy:
        st.warning(busy)
    clicked = st.button(
        "Launch",
        key="lab_launch",
        type="primary",
        icon=":material/rocket_launch:",
        disabled=bool(busy),
    )
    if not clicked:
        return
    try:
        launched = launch(cfg, C.runs_dir())
    except XKDError as exc:
        st.error(str(exc))
        return
    C.set_current_run(launched.run_id)
    K.notify(f"Launched run {launched.run_id} (pid {launched.pid}).")
    st.rerun()
