"""Lab: configure a run (data, languages, models, recipe, training), check it, launch it, watch it.

The widgets hold a :class:`xkd.app.form.LabForm` (its keys, defaults and config round trip);
the estimate, the equivalent commands and the tokenizer report come from ``xkd.app``; the
teacher-and-student section (with the suggested models) is ``pages/_lab_models.py``.
Launching starts ``xkd train`` in a subprocess (:mod:`xkd.runs.launch`, the library's busy
policy); the live view polls the run folder every 2 s. The page reads as its sections, in order,
at the bottom of this file.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from pages import _common as C
from pages import _components as K
from pages._lab_launch import before_launch, launch_button, mtime
from pages._lab_models import models
from pages._layers import layer_assistant
from xkd.app import files, rundata
from xkd.app import form as F
from xkd.app.form import LabForm, LossRow
from xkd.config import RunConfig, field_help
from xkd.errors import XKDError
from xkd.losses import LOSSES
from xkd.presets import PRESETS, preset
from xkd.runs import Run, load_run

HELP = field_help()
RESULT_PAGES = {
    "Accuracy": C.PAGE_FILES["accuracy"],
    "Alignment": C.PAGE_FILES["alignment"],
    "Distributions": C.PAGE_FILES["distributions"],
}


def _keep_valid(key: str, options: list, fallback) -> None:
    if st.session_state.get(key) not in options:
        st.session_state[key] = fallback


@st.cache_resource(show_spinner=False, max_entries=4)
def _dataset(path: str, mtime: int):
    return files.data_summary(path)


# ------------------------------------------------------------------------------ form state


def init_form() -> None:
    """Fill the widgets: from a cloned run, else from the last form, else the demo preset."""
    ss = st.session_state
    clone = ss.pop(F.KEY_CLONE, None)
    if clone is not None:
        run_id, config = clone
        F.apply_to_state(LabForm.from_config(config), ss, force=True)
        K.notify(f"Cloned the settings of run {run_id}: edit them and launch.")
        return
    saved = ss.get(F.KEY_SAVED)
    F.apply_to_state(saved or LabForm.from_config(preset("demo")), ss, force=False)


def _load_preset() -> None:
    name = st.session_state.get("lab_preset", "demo")
    F.apply_to_state(LabForm.from_config(preset(name)), st.session_state, force=True)
    K.notify(f"Loaded the {name} preset.")


# ------------------------------------------------------------------------------- live view


@st.fragment(run_every=2)
def _live(run_id: str) -> None:
    run = load_run(C.runs_dir() / run_id)
    K.run_view(run, key="lab", result_pages=RESULT_PAGES, log_y=st.session_state["lab_log_y"])
    if not run.active:  # it ended while we watched: rerun the page once so the polling stops
        st.session_state["lab_last_live"] = run_id
        st.rerun()


def live_view(runs: list[Run]) -> None:
    """The run training now (the current one first), or the current run in an expander."""
    current = C.current_run_id()
    active = [r.run_id for r in runs if r.active]
    live_id = current if current in active else (active[0] if active else None)
    if live_id:
        with st.container(border=True):
            st.subheader(f"Training: {live_id}")
            st.toggle("log scale", key="lab_log_y")
            _live(live_id)
    elif current and (C.runs_dir() / current).is_dir():
        run = load_run(C.runs_dir() / current)
        label = f"Current run: {current} ({run.state or '?'})"
        with st.expander(label, expanded=st.session_state.get("lab_last_live") == current):
            log_y = st.toggle("log scale", key="lab_log_y")
            K.run_view(run, key="lab", result_pages=RESULT_PAGES, log_y=log_y)


# ----------------------------------------------------------------------------- sections


def presets() -> None:
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
    pc[2].text_input("Run name (optional)", key=F.KEY_NAME, help=HELP["name"])


def _uploaded_path() -> str:
    up = st.file_uploader(
        "Upload a .csv, .tsv, .jsonl or .parquet file (columns: text, label, language, "
        "optional split and pair_id; see docs/data.md)",
        type=[s.lstrip(".") for s in files.UPLOAD_SUFFIXES],
        key="lab_upload",
    )
    if up is None:
        st.caption("No file yet.")
        return ""
    cache = st.session_state.setdefault("lab_uploads", {})
    file_key = f"{up.name}:{up.size}:{getattr(up, 'file_id', '')}"
    if file_key not in cache:
        try:
            cache[file_key] = str(files.save_upload(C.runs_dir(), up.name, up.getvalue()))
        except XKDError as exc:
            st.error(str(exc))
    if cache.get(file_key):
        st.caption(f"Saved as `{cache[file_key]}`")
    return cache.get(file_key, "")


def data() -> tuple[str, object, str | None]:
    """The data source: ``(data path, dataset or None, why there is no dataset)``."""
    with st.container(border=True):
        st.markdown("**Data**")
        kind = st.radio(
            "Dataset", F.DATA_KINDS, key=F.KEY_DATA_KIND, horizontal=True, help=HELP["data.path"]
        )
        if kind == "demo":
            path = "demo"
            st.caption(
                "Built-in offline demo: chatterbot-corpus conversations in 7 languages, 16 topics."
            )
        elif kind == "upload":
            path = _uploaded_path()
        elif kind == "local path":
            path = st.text_input(
                "File or folder",
                key=F.KEY_LOCAL_PATH,
                placeholder="/data/sib200 or data/my.csv",
                help="a .csv/.tsv/.jsonl/.parquet file, or a folder in the SIB-200 layout",
            ).strip()
        else:
            path = st.text_input(
                "Hugging Face dataset id", key=F.KEY_HF_PATH, placeholder="hf:Davlan/sib200"
            ).strip()
            path = "" if path in ("", "hf:") else path if path.startswith("hf:") else f"hf:{path}"
        dc = st.columns(3)
        dc[0].checkbox("Parallel pairs", key=F.KEY_PARALLEL, help=HELP["data.parallel"])
        dc[1].checkbox(
            "Unlabelled target text",
            key=F.KEY_UNLABELED_TARGETS,
            help=HELP["data.unlabeled_targets"],
        )
        dc[2].number_input(
            "Max tokens per text",
            min_value=8,
            max_value=512,
            step=8,
            key=F.KEY_MAX_LENGTH,
            help=HELP["data.max_length"],
        )
    if not path:
        return "", None, "no data selected yet"
    with st.spinner("Reading the data…"):
        dataset, reason = _dataset(path, mtime(path))
    return path, dataset, reason


def languages(data_path: str, dataset, reason: str | None) -> tuple[str, list[str]]:
    """Source and target languages: picked from the data's, or typed when it is not read."""
    ss = st.session_state
    with st.container(border=True):
        st.markdown("**Languages**")
        found = dataset.languages() if dataset is not None else []
        cols = st.columns([1, 3])
        if not found:
            if data_path and reason:
                (st.caption if data_path.startswith("hf:") else st.warning)(reason)
            source = cols[0].text_input("Source language", key=F.KEY_SOURCE_TEXT).strip()
            typed = cols[1].text_input(
                "Target languages (comma separated; empty = all others)", key=F.KEY_TARGETS_TEXT
            )
            return source, [t.strip() for t in typed.split(",") if t.strip()]
        _keep_valid(F.KEY_SOURCE_LANGUAGE, found, "en" if "en" in found else found[0])
        source = cols[0].selectbox(
            "Source language",
            found,
            key=F.KEY_SOURCE_LANGUAGE,
            help=HELP["data.source_language"],
        )
        options = [lang for lang in found if lang != source]
        ss[F.KEY_TARGET_LANGUAGES] = [
            v for v in ss.get(F.KEY_TARGET_LANGUAGES) or [] if v in options
        ]
        targets = cols[1].multiselect(
            "Target languages (empty = every other language)",
            options,
            key=F.KEY_TARGET_LANGUAGES,
            help=HELP["data.target_languages"],
        )
        counts = dataset.frame.groupby("language").size()
        st.caption(
            f"{len(dataset.frame)} rows, {len(dataset.labels)} labels, languages: "
            + ", ".join(f"{lang} ({int(counts[lang])})" for lang in found)
        )
    return source, list(targets)


def recipe() -> list[LossRow]:
    """The loss terms (one editor row each) and the objective's temperature and α."""
    ss = st.session_state
    with st.container(border=True):
        st.markdown("**Distillation recipe**")
        editor_key = F.loss_editor_key(ss)
        if editor_key not in ss and ss.get(F.KEY_SAVED):  # back on the page: the last rows
            ss[F.KEY_LOSS_ROWS] = ss[F.KEY_SAVED].to_state()[F.KEY_LOSS_ROWS]
        columns = [f.name for f in dataclasses.fields(LossRow)]
        edited = st.data_editor(
            pd.DataFrame(ss[F.KEY_LOSS_ROWS], columns=columns),
            key=editor_key,
            num_rows="dynamic",
            width="stretch",
            hide_index=True,
            column_config={
                "name": st.column_config.SelectboxColumn(
                    "loss", options=list(LOSSES), required=True, help="loss from xkd.losses"
                ),
                "weight": st.column_config.NumberColumn(
                    "weight", min_value=0.0, step=0.1, default=LossRow.weight
                ),
                "params": st.column_config.TextColumn(
                    "params", help="YAML mapping, e.g. {gamma: 2} or {features: both}"
                ),
                "layer_map": st.column_config.TextColumn(
                    "layer map",
                    help="student:teacher block pairs like 1:2, 2:4, or auto (hidden_mse, "
                    "attention_kl) or last (attention_kl); empty = the loss's default",
                ),
            },
        )
        with st.expander("What each loss does"):
            st.markdown(
                "\n".join(f"- `{n}`: {cls.description}" for n, cls in LOSSES.items())
                + "\n\nTry them on your own numbers in the **Loss lab**."
            )
        rc = st.columns(2)
        rc[0].slider(
            "Temperature T",
            0.5,
            10.0,
            step=0.5,
            key=F.KEY_TEMPERATURE,
            help=HELP["distill.temperature"],
        )
        rc[1].slider(
            "α (hard-label weight)",
            0.0,
            1.0,
            step=0.05,
            key=F.KEY_ALPHA,
            help=HELP["distill.alpha"],
        )
    return [
        LossRow(r["name"], r["weight"], r["params"] or "", r["layer_map"] or "")
        for r in edited.to_dict("records")
        if isinstance(r.get("name"), str) and r["name"]
    ]


def training() -> None:
    ss = st.session_state
    with st.container(border=True):
        st.markdown("**Training**")
        tc = st.columns(4)
        tc[0].number_input(
            "Epochs", min_value=0.05, step=0.5, key=F.KEY_EPOCHS, help=HELP["train.epochs"]
        )
        tc[1].number_input(
            "Batch size", min_value=1, step=8, key=F.KEY_BATCH_SIZE, help=HELP["train.batch_size"]
        )
        tc[2].number_input(
            "Learning rate",
            min_value=1e-7,
            max_value=1.0,
            step=1e-5,
            format="%.1e",
            key=F.KEY_LR,
            help=HELP["train.lr"],
        )
        devices = ["auto", "cpu"]
        if rundata.device_label().startswith("cuda"):
            devices += ["cuda", "cuda:0"]
        devices = list(dict.fromkeys([*devices, ss.get(F.KEY_DEVICE) or "auto"]))
        tc[3].selectbox("Device", devices, key=F.KEY_DEVICE, help=HELP["train.device"])


def build(form: LabForm) -> RunConfig | None:
    """The config of the form, or ``None`` after showing why it is not valid yet."""
    st.session_state[F.KEY_SAVED] = form
    st.subheader("Before launch")
    problem = "Choose the data first."
    if form.data_path:
        try:
            return form.to_config()
        except XKDError as exc:
            problem = str(exc)
        except (TypeError, ValueError) as exc:
            problem = f"invalid value: {exc}"
    st.error(f"The configuration is not valid yet: {problem}")
    return None


# ------------------------------------------------------------------------------------ page

C.ensure_router("lab")
st.title("Lab")
init_form()
K.show_notice()
live_view(C.runs())
presets()
data_path, dataset, reason = data()
source, targets = languages(data_path, dataset, reason)
models()
losses = recipe()
training()
form = LabForm.from_state(
    st.session_state,
    data_path=data_path,
    source_language=source,
    target_languages=targets,
    losses=losses,
)
cfg = build(form)
if cfg is not None:
    layer_assistant(cfg)
    before_launch(cfg, data_path, dataset)
    launch_button(cfg)
