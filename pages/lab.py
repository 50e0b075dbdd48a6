"""Lab: configure a run (data, languages, models, recipe, training), check it, launch it, watch it.

The form builds a RunConfig through ``xkd.app.launch.config_from_form`` (errors are shown, never
raised); the estimate, the equivalent commands and the tokenizer report come from ``xkd.app``.
Launching starts ``xkd train`` in a subprocess; the live view polls the run folder every 2 s.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from pages import _common as C
from xkd.config import field_help
from xkd.errors import XKDError
from xkd.app import estimate as lab_estimate
from xkd.app import launch as L
from xkd.app import rundata
from xkd.app import tokenizer_report as T
from xkd.losses import LOSSES
from xkd.presets import PRESETS, preset
from xkd.runs import stop_run

HELP = field_help()
FORM_KEYS = (
    "name",
    "data_kind",
    "teacher",
    "student",
    "baseline",
    "parallel",
    "unlabeled_targets",
    "max_length",
    "temperature",
    "alpha",
    "lambda",
    "layer_map",
    "freeze",
    "teacher_freeze",
    "epochs",
    "batch_size",
    "lr",
    "device",
)


# ------------------------------------------------------------------------------ form state


def _apply_values(values: dict, *, force: bool) -> None:
    """Put form values into widget state (``force`` overwrites what the user typed)."""
    ss = st.session_state
    for k in FORM_KEYS:
        if force or f"lab_{k}" not in ss:
            ss[f"lab_{k}"] = values[k]
    kind = values["data_kind"]
    path = values["data_path"]
    for key, val in (
        ("lab_local_path", path if kind == "local path" else ""),
        ("lab_hf_path", path if kind == "Hugging Face" else "hf:"),
    ):
        if force or key not in ss:
            ss[key] = val
    for key, val in (
        ("lab_source_language", values["source_language"]),
        ("lab_target_languages", list(values["target_languages"])),
        ("lab_source_text", values["source_language"]),
        ("lab_targets_text", ", ".join(values["target_languages"])),
    ):
        if force or key not in ss:
            ss[key] = val
    if force or "lab_loss_rows" not in ss:
        ss["lab_loss_rows"] = values["losses"]
        ss["lab_form_version"] = ss.get("lab_form_version", 0) + 1
    if force or "lab_base" not in ss:
        ss["lab_base"] = values["full"]


def _load_preset() -> None:
    name = st.session_state.get("lab_preset", "demo")
    _apply_values(L.form_values(preset(name)), force=True)
    st.session_state["lab_notice"] = f"Loaded the {name} preset."


def _init_form() -> None:
    ss = st.session_state
    clone = ss.pop("lab_clone", None)
    if clone is not None:
        run_id, config = clone
        _apply_values(L.form_values(config), force=True)
        ss["lab_notice"] = f"Cloned the settings of run {run_id}: edit them and launch."
        return
    saved = ss.get("lab_saved")
    _apply_values(saved if saved else L.form_values(preset("demo")), force=False)


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"


def _valid_choice(key: str, options: list, fallback) -> None:
    if st.session_state.get(key) not in options:
        st.session_state[key] = fallback


def _valid_multi(key: str, options: list) -> None:
    st.session_state[key] = [v for v in st.session_state.get(key) or [] if v in options]


# ------------------------------------------------------------------------------ cached work


def _mtime(path: str) -> int:
    try:
        p = Path(path)
        return os.stat(p).st_mtime_ns if p.exists() else 0
    except OSError:
        return 0


@st.cache_resource(show_spinner=False, max_entries=4)
def _dataset(path: str, mtime: int):
    return L.data_summary(path)


@st.cache_data(show_spinner=False, max_entries=16)
def _estimate(config_yaml: str, data_path: str, mtime: int, device: str, _cfg, _dataset):
    return lab_estimate.estimate(_cfg, _dataset, device=device)


@st.cache_data(show_spinner=False, max_entries=16)
def _tok_report(key: tuple, _cfg, _dataset):
    return T.report_for_config(_cfg, _dataset)


def _get_estimate(cfg, data_path: str, dataset):
    try:
        with st.spinner("Estimating…"):
            return _estimate(
                cfg.to_yaml(),
                data_path,
                _mtime(data_path),
                rundata.device_name(cfg.train.device),
                cfg,
                dataset,
            )
    except Exception as exc:  # noqa: BLE001 - an estimate must never break the Lab
        st.warning(f"No estimate for this configuration ({type(exc).__name__}: {exc}).")
        return None


def _show_tokenizer_report(cfg, data_path: str, dataset) -> None:
    if dataset is None:
        st.caption("Needs local data (the report samples texts per language).")
        return
    if not st.toggle("Compute the tokenizer report", key="lab_tok_on", value=True):
        return
    key = (
        cfg.teacher,
        cfg.student,
        data_path,
        _mtime(data_path),
        cfg.data.source_language,
        tuple(cfg.data.target_languages),
        cfg.data.max_length,
    )
    try:
        with st.spinner("Tokenizing a sample per language…"):
            report = _tok_report(key, cfg, dataset)
    except Exception as exc:  # noqa: BLE001 - a report must never break the Lab
        st.warning(f"No tokenizer report ({type(exc).__name__}: {exc}).")
        return
    st.dataframe(
        report.frame,
        hide_index=True,
        width="stretch",
        column_config={
            "unknown-token rate": st.column_config.NumberColumn(format="percent"),
            "truncated": st.column_config.NumberColumn(
                format="percent",
                help=f"share of texts longer than {cfg.data.max_length} tokens",
            ),
            "tokens per word": st.column_config.NumberColumn(format="%.2f"),
            "chars per token": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    for note in report.notes:
        st.caption(note)


def _before_launch(cfg, data_path: str, dataset) -> None:
    """Estimate, equivalent commands, config.yaml and the tokenizer report."""
    est = _get_estimate(cfg, data_path, dataset)
    if est is not None:
        ec = st.columns(4)
        ec[0].metric("Time", rundata.format_seconds(est.total_seconds), help="an estimate")
        ec[1].metric("Peak memory", f"{est.peak_memory_mb / 1024:.1f} GB", help="an estimate")
        ec[2].metric("Student parameters", _count(est.student.params), help=est.student.source)
        ec[3].metric("Teacher parameters", _count(est.teacher.params), help=est.teacher.source)
    est_col, cmd_col = st.columns([2, 3])
    with est_col:
        if est is not None:
            rows = pd.DataFrame(est.rows())
            rows["steps"] = rows["steps"].map(lambda v: "" if pd.isna(v) else str(int(v)))
            st.dataframe(rows, hide_index=True, width="stretch")
            for note in est.notes:
                st.caption(note)
    with cmd_col:
        cmds = lab_estimate.commands(cfg)
        st.markdown("Equivalent command")
        st.code(lab_estimate.pretty_command(cmds["xkd"]), language="bash")
        st.markdown("With accelerate (multi-GPU / mixed precision)")
        st.code(lab_estimate.pretty_command(cmds["accelerate"]), language="bash")
        with st.expander("config.yaml"):
            st.code(cfg.to_yaml(), language="yaml")
    with st.expander("Tokenizer report: can the models read each language?", expanded=False):
        _show_tokenizer_report(cfg, data_path, dataset)


# ------------------------------------------------------------------------------- live view


def _curves_figure(frame, log_y: bool):
    long = rundata.curves_long(frame)
    if long.empty:
        return None
    fig = px.line(
        long,
        x="step",
        y="value",
        color="term",
        facet_col="phase",
        facet_col_spacing=0.06,
        markers=len(long) < 60,
        log_y=log_y,
        color_discrete_sequence=C.SERIES_COLORS,
    )
    fig.update_xaxes(matches=None, title_text="step")
    fig.update_yaxes(matches=None, showticklabels=True)
    fig.for_each_annotation(lambda a: a.update(text=a.text.replace("phase=", "")))
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=30, b=10), legend_title_text="term")
    return fig


def _run_body(run_id: str, *, live: bool) -> None:
    path = C.runs_dir() / run_id
    run = rundata.load_run(path)
    trackers = st.session_state.setdefault("lab_eta", {})
    tracker = trackers.setdefault(run_id, rundata.EtaTracker())
    prog = rundata.progress(
        run.status, baseline=bool(run.config.get("baseline", True)), tracker=tracker
    )
    head = st.columns([4, 1])
    head[0].progress(prog.fraction, text=prog.text)
    if run.active:
        if head[1].button("Stop", key="lab_stop", icon=":material/stop:", width="stretch"):
            with st.spinner("Stopping (the trainer saves a checkpoint first)…"):
                final = stop_run(path, timeout=10)
            st.session_state["lab_notice"] = (
                f"Run {run_id} is now {final.get('state')}; resume it with "
                f"`xkd train --resume {run_id}`."
            )
            st.rerun()
    if run.state == "failed" or run.state == "interrupted":
        st.error(f"Run {run.state}: {run.status.get('error') or 'see the logs below'}")
    elif run.state == "stopped":
        st.warning(f"Run stopped{': ' + run.status['note'] if run.status.get('note') else ''}.")
    elif run.state == "finished":
        head_numbers = C.fmt_pct((run.eval or {}).get("summary", {}).get("student_target_accuracy"))
        st.success(f"Finished. Student accuracy on the target languages: {head_numbers}.")
        links = st.columns(3)
        links[0].page_link(
            C.PAGE_FILES["accuracy"], label="Accuracy", icon=":material/leaderboard:"
        )
        links[1].page_link(
            C.PAGE_FILES["alignment"], label="Alignment", icon=":material/scatter_plot:"
        )
        links[2].page_link(
            C.PAGE_FILES["distributions"], label="Distributions", icon=":material/bar_chart:"
        )
    frame = rundata.metrics_frame(path)
    fig = _curves_figure(frame, st.session_state.get("lab_log_y", False))
    if fig is not None:
        st.plotly_chart(fig, key=f"lab_curves_{'live' if live else 'static'}")
    elif run.active:
        st.caption("Loss curves appear after the first logged training steps.")
    with st.expander("Logs", expanded=run.state in ("failed", "interrupted")):
        st.code(rundata.log_tail(path) or "(no log yet)", language="text")
    if live and not run.active:
        # the run ended while we watched: rerun the whole page once so the polling stops
        st.session_state["lab_last_live"] = run_id
        st.rerun()


@st.fragment(run_every=2)
def _live(run_id: str) -> None:
    _run_body(run_id, live=True)


def _live_run_id(runs) -> str | None:
    current = C.current_run_id()
    active = [r for r in runs if r.is_active]
    if any(r.run_id == current for r in active):
        return current
    return active[0].run_id if active else None


# ------------------------------------------------------------------------------------ page

C.ensure_router("lab")
st.title("Lab")
_init_form()
notice = st.session_state.pop("lab_notice", None)
if notice:
    st.info(notice)

runs_now = C.runs()
live_id = _live_run_id(runs_now)
if live_id:
    with st.container(border=True):
        st.subheader(f"Training: {live_id}")
        st.toggle("log scale", key="lab_log_y")
        _live(live_id)
elif C.current_run_id():
    rid = C.current_run_id()
    info = next((r for r in runs_now if r.run_id == rid), None)
    label = f"Current run: {rid} ({info.state if info else '?'})"
    with st.expander(label, expanded=st.session_state.get("lab_last_live") == rid):
        st.toggle("log scale", key="lab_log_y")
        _run_body(rid, live=False)

st.subheader("New run")
pc = st.columns([3, 1, 4])
pc[0].selectbox(
    "Start from a preset",
    list(PRESETS),
    key="lab_preset",
    help="demo: cross-lingual KD on the built-in data; compress: a smaller same-language "
    "student; soft-labels: the teacher labels target-language text",
)
pc[1].button("Load preset", key="lab_load_preset", on_click=_load_preset, width="stretch")
pc[2].text_input("Run name (optional)", key="lab_name", help=HELP["name"])

# ----------------------------------------------------------------------------------- data
with st.container(border=True):
    st.markdown("**Data**")
    st.radio(
        "Dataset", list(L.DATA_KINDS), key="lab_data_kind", horizontal=True, help=HELP["data.path"]
    )
    kind = st.session_state["lab_data_kind"]
    data_path = ""
    if kind == "demo":
        data_path = "demo"
        st.caption(
            "Built-in offline demo: chatterbot-corpus conversations in 7 languages, 16 topics."
        )
    elif kind == "upload":
        up = st.file_uploader(
            "Upload a .csv, .tsv, .jsonl or .parquet file (columns: text, label, language, "
            "optional split and pair_id; see docs/data.md)",
            type=[s.lstrip(".") for s in L.UPLOAD_SUFFIXES],
            key="lab_upload",
        )
        if up is not None:
            cache = st.session_state.setdefault("lab_uploads", {})
            file_key = f"{up.name}:{up.size}:{getattr(up, 'file_id', '')}"
            if file_key not in cache:
                try:
                    cache[file_key] = str(L.save_upload(C.runs_dir(), up.name, up.getvalue()))
                except XKDError as exc:
                    st.error(str(exc))
            data_path = cache.get(file_key, "")
            if data_path:
                st.caption(f"Saved as `{data_path}`")
        else:
            st.caption("No file yet.")
    elif kind == "local path":
        data_path = st.text_input(
            "File or folder",
            key="lab_local_path",
            placeholder="/data/sib200 or data/my.csv",
            help="a .csv/.tsv/.jsonl/.parquet file, or a folder in the SIB-200 layout",
        ).strip()
    else:
        data_path = st.text_input(
            "Hugging Face dataset id", key="lab_hf_path", placeholder="hf:Davlan/sib200"
        ).strip()
        if data_path and not data_path.startswith("hf:"):
            data_path = "hf:" + data_path
        if data_path == "hf:":
            data_path = ""

    dataset, reason = (None, "no data selected yet")
    if data_path:
        with st.spinner("Reading the data…"):
            dataset, reason = _dataset(data_path, _mtime(data_path))
    languages = dataset.languages() if dataset is not None else []
    cols = st.columns([1, 3])
    if languages:
        src_default = "en" if "en" in languages else languages[0]
        _valid_choice("lab_source_language", languages, src_default)
        cols[0].selectbox(
            "Source language",
            languages,
            key="lab_source_language",
            help=HELP["data.source_language"],
        )
        source = st.session_state["lab_source_language"]
        target_options = [lang for lang in languages if lang != source]
        _valid_multi("lab_target_languages", target_options)
        cols[1].multiselect(
            "Target languages (empty = every other language)",
            target_options,
            key="lab_target_languages",
            help=HELP["data.target_languages"],
        )
        targets = list(st.session_state["lab_target_languages"])
        counts = dataset.frame.groupby(["language", "split"]).size().unstack(fill_value=0)
        st.caption(
            f"{len(dataset.frame)} rows, {len(dataset.labels)} labels, languages: "
            + ", ".join(f"{lang} ({int(counts.loc[lang].sum())})" for lang in languages)
        )
    else:
        if data_path and reason:
            (st.caption if data_path.startswith("hf:") else st.warning)(reason)
        source = cols[0].text_input("Source language", key="lab_source_text").strip()
        targets = [
            t.strip()
            for t in cols[1]
            .text_input(
                "Target languages (comma separated; empty = all others)", key="lab_targets_text"
            )
            .split(",")
            if t.strip()
        ]
    dc = st.columns(3)
    dc[0].checkbox("Parallel pairs", key="lab_parallel", help=HELP["data.parallel"])
    dc[1].checkbox(
        "Unlabelled target text", key="lab_unlabeled_targets", help=HELP["data.unlabeled_targets"]
    )
    dc[2].number_input(
        "Max tokens per text",
        min_value=8,
        max_value=512,
        step=8,
        key="lab_max_length",
        help=HELP["data.max_length"],
    )

# --------------------------------------------------------------------------------- models
with st.container(border=True):
    st.markdown("**Teacher and student**")
    mc = st.columns([2, 2, 1])
    teacher_val = st.session_state.get("lab_teacher") or "minilm"
    mc[0].selectbox(
        "Teacher",
        list(dict.fromkeys([*L.TEACHER_PRESETS, teacher_val])),
        key="lab_teacher",
        accept_new_options=True,
        help=HELP["teacher"] + ". Type a folder path or a Hugging Face id.",
    )
    student_val = st.session_state.get("lab_student") or "from-teacher:3"
    mc[1].selectbox(
        "Student",
        list(dict.fromkeys([*L.STUDENT_PRESETS, student_val])),
        key="lab_student",
        accept_new_options=True,
        help=HELP["student"] + ". Type another value for a folder or a Hugging Face id.",
    )
    mc[2].checkbox("No-KD baseline", key="lab_baseline", help=HELP["baseline"])

# --------------------------------------------------------------------------------- recipe
with st.container(border=True):
    st.markdown("**Distillation recipe**")
    version = st.session_state.get("lab_form_version", 0)
    editor_key = f"lab_losses_v{version}"
    if editor_key not in st.session_state and st.session_state.get("lab_saved"):
        st.session_state["lab_loss_rows"] = st.session_state["lab_saved"]["losses"]
    rows = pd.DataFrame(st.session_state["lab_loss_rows"], columns=["name", "weight", "params"])
    edited = st.data_editor(
        rows,
        key=editor_key,
        num_rows="dynamic",
        width="stretch",
        hide_index=True,
        column_config={
            "name": st.column_config.SelectboxColumn(
                "loss", options=list(LOSSES), required=True, help="loss from xkd.losses"
            ),
            "weight": st.column_config.NumberColumn("weight", min_value=0.0, step=0.1, default=1.0),
            "params": st.column_config.TextColumn(
                "params", help="YAML mapping, e.g. {gamma: 2} or {features: both}"
            ),
        },
    )
    loss_rows = [
        {"name": r["name"], "weight": r["weight"], "params": r["params"] or ""}
        for r in edited.to_dict("records")
        if isinstance(r.get("name"), str) and r["name"]
    ]
    with st.expander("What each loss does"):
        st.markdown(
            "\n".join(f"- `{n}`: {cls.description}" for n, cls in LOSSES.items())
            + "\n\nTry them on your own numbers in the **Loss lab**."
        )
    rc = st.columns(4)
    rc[0].slider(
        "Temperature T",
        0.5,
        10.0,
        step=0.5,
        key="lab_temperature",
        help=HELP["distill.temperature"],
    )
    rc[1].slider(
        "α (hard-label weight)", 0.0, 1.0, step=0.05, key="lab_alpha", help=HELP["distill.alpha"]
    )
    rc[2].number_input(
        "λ (hidden_mse weight)",
        min_value=0.0,
        step=0.1,
        key="lab_lambda",
        help="the `lambda` of losses that have one (hidden_mse)",
    )
    rc[3].text_input(
        "Layer mapping",
        key="lab_layer_map",
        help="auto, last, or student:teacher pairs like 1:2, 2:4, 3:6 (hidden_mse, attention_kl)",
    )
    fc = st.columns(2)
    fc[0].text_input("Student freezing", key="lab_freeze", help=HELP["train.freeze"])
    fc[1].text_input(
        "Teacher fine-tuning", key="lab_teacher_freeze", help=HELP["model.teacher_freeze"]
    )

# ------------------------------------------------------------------------------- training
with st.container(border=True):
    st.markdown("**Training**")
    tc = st.columns(4)
    tc[0].number_input(
        "Epochs", min_value=0.05, step=0.5, key="lab_epochs", help=HELP["train.epochs"]
    )
    tc[1].number_input(
        "Batch size", min_value=1, step=8, key="lab_batch_size", help=HELP["train.batch_size"]
    )
    tc[2].number_input(
        "Learning rate",
        min_value=1e-7,
        max_value=1.0,
        step=1e-5,
        format="%.1e",
        key="lab_lr",
        help=HELP["train.lr"],
    )
    devices = ["auto", "cpu"]
    if rundata.device_label().startswith("cuda"):
        devices += ["cuda", "cuda:0"]
    _valid_choice(
        "lab_device", list(dict.fromkeys([*devices, st.session_state.get("lab_device")])), "auto"
    )
    tc[3].selectbox(
        "Device",
        list(dict.fromkeys([*devices, st.session_state["lab_device"]])),
        key="lab_device",
        help=HELP["train.device"],
    )

# --------------------------------------------------------------------------- build config
ss = st.session_state
values = {k: ss[f"lab_{k}"] for k in FORM_KEYS}
values.update(
    data_path=data_path,
    source_language=source,
    target_languages=targets,
    losses=loss_rows,
)
ss["lab_saved"] = {**values, "full": ss.get("lab_base") or {}}
cfg = None
problem = None
if not data_path:
    problem = "Choose the data first."
else:
    try:
        cfg = L.config_from_form(values, base=ss.get("lab_base"))
    except XKDError as exc:
        problem = str(exc)
    except (TypeError, ValueError) as exc:
        problem = f"invalid value: {exc}"

st.subheader("Before launch")
if cfg is None:
    st.error(f"The configuration is not valid yet: {problem}")
else:
    _before_launch(cfg, data_path, dataset)

    busy = L.busy_reason(C.runs_dir(), cfg.train.device)
    if busy:
        st.warning(busy)
    if st.button(
        "Launch",
        key="lab_launch",
        type="primary",
        icon=":material/rocket_launch:",
        disabled=bool(busy),
    ):
        try:
            launched = L.launch(cfg, C.runs_dir())
        except XKDError as exc:
            st.error(str(exc))
        else:
            C.set_current_run(launched.run_id)
            ss["lab_notice"] = f"Launched run {launched.run_id} (pid {launched.pid})."
            st.rerun()
