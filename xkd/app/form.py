"""The Lab form: its widget keys, and :class:`LabForm` <-> :class:`~xkd.config.RunConfig`.

:class:`LabForm` holds exactly what the Lab's widgets show. Its defaults are read from the
config classes (``LabForm()`` is the form of ``RunConfig()``), :meth:`LabForm.from_config`
fills it from a config (a preset, a cloned run) and :meth:`LabForm.to_config` builds the
validated config back (``ConfigError`` when a value is wrong). Each loss term is one
:class:`LossRow` with its own parameters and layer mapping, so a recipe with two
``hidden_mse`` terms on different layers round-trips. Keys the form does not show come from
``base`` (the config the form was filled from). Nothing here imports streamlit.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from xkd.config import (
    DataConfig,
    DistillConfig,
    LossConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    from_dict,
    merge,
)
from xkd.errors import ConfigError

#: Where the data comes from (the Lab's radio); :func:`data_kind_of` reads it off a path.
DATA_KINDS = ("demo", "upload", "local path", "Hugging Face")
#: Student choices offered by the Lab (free text is accepted too).
STUDENT_PRESETS = ("from-teacher:3", "from-teacher:2", "from-teacher:1", "scratch")
TEACHER_PRESETS = ("minilm",)

# Widget keys of the inputs that edit one LabForm field each (field name -> key).
KEY_NAME = "lab_name"
KEY_DATA_KIND = "lab_data_kind"
KEY_PARALLEL = "lab_parallel"
KEY_UNLABELED_TARGETS = "lab_unlabeled_targets"
KEY_MAX_LENGTH = "lab_max_length"
KEY_TEACHER = "lab_teacher"
KEY_STUDENT = "lab_student"
KEY_BASELINE = "lab_baseline"
KEY_TEMPERATURE = "lab_temperature"
KEY_ALPHA = "lab_alpha"
KEY_FREEZE = "lab_freeze"
KEY_TEACHER_FREEZE = "lab_teacher_freeze"
KEY_STUDENT_HEAD = "lab_student_head"
KEY_EPOCHS = "lab_epochs"
KEY_BATCH_SIZE = "lab_batch_size"
KEY_LR = "lab_lr"
KEY_DEVICE = "lab_device"
WIDGET_KEYS: dict[str, str] = {
    "name": KEY_NAME,
    "data_kind": KEY_DATA_KIND,
    "parallel": KEY_PARALLEL,
    "unlabeled_targets": KEY_UNLABELED_TARGETS,
    "max_length": KEY_MAX_LENGTH,
    "teacher": KEY_TEACHER,
    "student": KEY_STUDENT,
    "baseline": KEY_BASELINE,
    "temperature": KEY_TEMPERATURE,
    "alpha": KEY_ALPHA,
    "freeze": KEY_FREEZE,
    "teacher_freeze": KEY_TEACHER_FREEZE,
    "student_head": KEY_STUDENT_HEAD,
    "epochs": KEY_EPOCHS,
    "batch_size": KEY_BATCH_SIZE,
    "lr": KEY_LR,
    "device": KEY_DEVICE,
}
# Inputs whose value depends on another widget (the data kind, the data's languages).
KEY_LOCAL_PATH = "lab_local_path"  # data path when the kind is "local path"
KEY_HF_PATH = "lab_hf_path"  # data path when the kind is "Hugging Face"
KEY_SOURCE_LANGUAGE = "lab_source_language"  # select box, when the data's languages are known
KEY_TARGET_LANGUAGES = "lab_target_languages"  # multiselect, likewise
KEY_SOURCE_TEXT = "lab_source_text"  # text inputs otherwise
KEY_TARGETS_TEXT = "lab_targets_text"
# Form state that is not one widget.
KEY_LOSS_ROWS = "lab_loss_rows"  # rows the loss editor starts from (list of LossRow dicts)
KEY_FORM_VERSION = "lab_form_version"  # bumped when the rows are replaced: a fresh editor
KEY_BASE = "lab_base"  # the config dict the form was filled from (keys the form hides)
KEY_SAVED = "lab_saved"  # the last LabForm, restored when the page is opened again
KEY_CLONE = "lab_clone"  # (run id, config dict) set by another page: open the Lab with it


def _default(cls: type, name: str) -> Any:
    """The default of config field ``cls.name`` as a LabForm field default."""
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    if f.default_factory is not dataclasses.MISSING:
        return field(default_factory=f.default_factory)
    return field(default=f.default)


def data_kind_of(path: str) -> str:
    """The :data:`DATA_KINDS` entry of a ``data.path`` (an upload reads as a local path)."""
    path = str(path or "")
    if path == "demo":
        return "demo"
    return "Hugging Face" if path.startswith("hf:") else "local path"


@dataclass
class LossRow:
    """One term of the recipe as the loss editor shows it.

    ``params`` is a YAML mapping text of the loss's parameters except the layer mapping, which
    is ``layer_map`` (``""``: the loss's default; only for losses that take one).
    """

    name: str
    weight: float = _default(LossConfig, "weight")
    params: str = ""
    layer_map: str = ""

    @classmethod
    def from_loss(cls, loss: LossConfig | dict | str) -> LossRow:
        import yaml

        if isinstance(loss, str):  # "name" or "name:weight" in a not-yet-validated dict
            name, _, weight = loss.partition(":")
            loss = {"name": name, "weight": float(weight or cls.weight)}
        if isinstance(loss, LossConfig):
            loss = dataclasses.asdict(loss)
        params = dict(loss.get("params") or {})
        layer_map = layer_map_text(params.pop("layer_map")) if "layer_map" in params else ""
        text = yaml.safe_dump(params, default_flow_style=True).strip() if params else ""
        return cls(
            name=str(loss.get("name", "")),
            weight=float(loss.get("weight", cls.weight)),
            params=text,
            layer_map=layer_map,
        )


@dataclass
class LabForm:
    """The values of the Lab's form; defaults are those of :class:`~xkd.config.RunConfig`."""

    name: str = _default(RunConfig, "name")
    data_kind: str = data_kind_of(DataConfig.path)
    data_path: str = _default(DataConfig, "path")
    source_language: str = _default(DataConfig, "source_language")
    target_languages: list[str] = _default(DataConfig, "target_languages")
    parallel: bool = _default(DataConfig, "parallel")
    unlabeled_targets: bool = _default(DataConfig, "unlabeled_targets")
    max_length: int = _default(DataConfig, "max_length")
    teacher: str = _default(RunConfig, "teacher")
    student: str = _default(RunConfig, "student")
    baseline: bool = _default(RunConfig, "baseline")
    losses: list[LossRow] = field(default_factory=list)
    temperature: float = _default(DistillConfig, "temperature")
    alpha: float = _default(DistillConfig, "alpha")
    freeze: str = _default(TrainConfig, "freeze")
    teacher_freeze: str = _default(ModelConfig, "teacher_freeze")
    student_head: str = _default(ModelConfig, "student_head")
    epochs: float = _default(TrainConfig, "epochs")
    batch_size: int = _default(TrainConfig, "batch_size")
    lr: float = _default(TrainConfig, "lr")
    device: str = _default(TrainConfig, "device")
    #: The config dict the form was filled from: every key the form does not show.
    base: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_config(cls, cfg: RunConfig | dict) -> LabForm:
        """The form of ``cfg``: a RunConfig, or a (partial) config dict over the defaults.

        A dict that does not validate (an old run's config) still fills the form; the form
        then shows the problem when it builds the config again.
        """
        if isinstance(cfg, RunConfig):
            full = cfg.to_dict()
        else:
            try:
                full = from_dict(copy.deepcopy(cfg)).to_dict()
            except ConfigError:
                full = merge(RunConfig().to_dict(), cfg)
        data, train, distill, model = full["data"], full["train"], full["distill"], full["model"]
        return cls(
            name=str(full.get("name") or ""),
            data_kind=data_kind_of(data["path"]),
            data_path=str(data["path"]),
            source_language=str(data["source_language"]),
            target_languages=[str(t) for t in data["target_languages"] or []],
            parallel=bool(data["parallel"]),
            unlabeled_targets=bool(data["unlabeled_targets"]),
            max_length=int(data["max_length"]),
            teacher=str(full["teacher"]),
            student=str(full["student"]),
            baseline=bool(full["baseline"]),
            losses=[LossRow.from_loss(loss) for loss in distill["losses"] or []],
            temperature=float(distill["temperature"]),
            alpha=float(distill["alpha"]),
            freeze=str(train["freeze"]),
            teacher_freeze=str(model["teacher_freeze"]),
            student_head=str(model["student_head"]),
            epochs=float(train["epochs"]),
            batch_size=int(train["batch_size"]),
            lr=float(train["lr"]),
            device=str(train["device"]),
            base=full,
        )

    def to_config(self, base: dict | None = None) -> RunConfig:
        """The validated config of this form (ConfigError naming the wrong value).

        ``base`` (default: the config the form was filled from) supplies every key the form
        does not show; its ``run_id`` is dropped.
        """
        cfg = copy.deepcopy(self.base if base is None else base)
        cfg.pop("run_id", None)
        update = {
            "name": self.name,
            "teacher": str(self.teacher).strip(),
            "student": str(self.student).strip(),
            "baseline": self.baseline,
            "data": {
                "path": str(self.data_path).strip(),
                "source_language": str(self.source_language).strip(),
                "target_languages": [
                    str(t).strip() for t in self.target_languages or [] if str(t).strip()
                ],
                "parallel": self.parallel,
                "unlabeled_targets": self.unlabeled_targets,
                "max_length": self.max_length,
            },
            "model": {
                "teacher_freeze": str(self.teacher_freeze).strip(),
                "student_head": str(self.student_head).strip(),
            },
            "distill": {
                "temperature": self.temperature,
                "alpha": self.alpha,
                "losses": losses_from_rows(self.losses, temperature=self.temperature),
            },
            "train": {
                "epochs": self.epochs,
                "batch_size": self.batch_size,
                "lr": self.lr,
                "freeze": str(self.freeze).strip(),
                "device": str(self.device).strip(),
            },
        }
        return from_dict(merge(cfg, update))

    # ------------------------------------------------------------------ widget state

    def to_state(self) -> dict[str, Any]:
        """Widget key -> value for every input of the form (and the form's own state)."""
        state = {key: getattr(self, name) for name, key in WIDGET_KEYS.items()}
        kind, path = self.data_kind, self.data_path
        state[KEY_LOCAL_PATH] = path if kind == "local path" else ""
        state[KEY_HF_PATH] = path if kind == "Hugging Face" else "hf:"
        state[KEY_SOURCE_LANGUAGE] = self.source_language
        state[KEY_TARGET_LANGUAGES] = list(self.target_languages)
        state[KEY_SOURCE_TEXT] = self.source_language
        state[KEY_TARGETS_TEXT] = ", ".join(self.target_languages)
        state[KEY_LOSS_ROWS] = [dataclasses.asdict(row) for row in self.losses]
        state[KEY_BASE] = self.base
        return state

    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Any],
        *,
        data_path: str,
        source_language: str,
        target_languages: list[str],
        losses: list[LossRow | dict],
    ) -> LabForm:
        """The form from widget state; the inputs that depend on other widgets are passed."""
        rows = [r if isinstance(r, LossRow) else LossRow(**r) for r in losses]
        return cls(
            **{name: state[key] for name, key in WIDGET_KEYS.items()},
            data_path=data_path,
            source_language=source_language,
            target_languages=list(target_languages),
            losses=rows,
            base=dict(state.get(KEY_BASE) or {}),
        )


def loss_editor_key(state: Mapping[str, Any]) -> str:
    """The loss editor's widget key (a new one each time :func:`apply_to_state` replaces rows)."""
    return f"lab_losses_v{state.get(KEY_FORM_VERSION, 0)}"


def apply_to_state(form: LabForm, state: MutableMapping[str, Any], *, force: bool) -> None:
    """Put ``form`` into widget ``state``; ``force`` overwrites what the user typed (and makes
    ``form`` the saved one, so its loss rows are not replaced by the last form's)."""
    if force:
        state[KEY_SAVED] = form
    for key, value in form.to_state().items():
        if force or key not in state:
            state[key] = value
            if key == KEY_LOSS_ROWS:
                state[KEY_FORM_VERSION] = state.get(KEY_FORM_VERSION, 0) + 1


# ----------------------------------------------------------------------------- parsing


def parse_mapping(text: str, what: str) -> dict:
    """A YAML/JSON mapping typed in the form (``""`` -> ``{}``); ConfigError otherwise."""
    import yaml

    text = (text or "").strip()
    if not text:
        return {}
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what}: not valid YAML/JSON ({str(exc).splitlines()[0]})") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{what}: expected a mapping like {{gamma: 2}}, got {text!r}")
    return value


def parse_layer_map(text: str) -> str | list[list[int]]:
    """``auto`` | ``last`` | ``1:4, 2:8`` (student:teacher pairs) -> a loss ``layer_map`` value."""
    text = (text or "").strip()
    if text in ("", "auto"):
        return "auto"
    if text == "last":
        return "last"
    pairs = []
    for part in re.split(r"[,;\s]+", text):
        if not part:
            continue
        m = re.fullmatch(r"(\d+)\s*[:\-]\s*(\d+)", part)
        if not m:
            raise ConfigError(
                f"layer mapping {text!r}: write auto, last, or student:teacher pairs like 1:4, 2:8"
            )
        pairs.append([int(m.group(1)), int(m.group(2))])
    return pairs


def layer_map_text(value: Any) -> str:
    """Inverse of :func:`parse_layer_map` for showing a config in the form."""
    if isinstance(value, list):
        return ", ".join(f"{s}:{t}" for s, t in value)
    return str(value or "auto")


def losses_from_rows(rows: list[LossRow | dict], *, temperature: Any) -> list[dict]:
    """Config ``distill.losses`` from the editor's rows, each loss checked now, not at launch
    (with the recipe's ``temperature``, ``distill.temperature``, unless a row sets its own)."""
    from xkd.losses import LOSSES, build_term_loss, loss_params

    out = []
    for i, row in enumerate(rows):
        row = row if isinstance(row, LossRow) else LossRow(**row)
        name = str(row.name or "").strip()
        if not name:
            continue
        what = f"loss row {i + 1} ({name})"
        if name not in LOSSES:
            raise ConfigError(
                f"loss row {i + 1}: unknown loss {name!r}; use one of {', '.join(LOSSES)}"
            )
        try:
            weight = float(row.weight)
        except (TypeError, ValueError):
            raise ConfigError(f"{what}: weight must be a number") from None
        params = parse_mapping(str(row.params or ""), f"{what} params")
        accepted = loss_params(name)
        if str(row.layer_map or "").strip():
            if "layer_map" not in accepted:
                raise ConfigError(
                    f"{what}: this loss has no layer mapping; clear it (losses with one: "
                    f"{', '.join(n for n in LOSSES if 'layer_map' in loss_params(n))})"
                )
            params["layer_map"] = parse_layer_map(row.layer_map)
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise ConfigError(
                f"loss {name!r}: unknown parameter(s) {', '.join(unknown)}; valid: "
                f"{', '.join(accepted) or 'none'}"
            )
        try:
            build_term_loss(name, params, temperature=float(temperature))
        except ConfigError as exc:
            raise ConfigError(f"loss row {i + 1}: {exc}") from None
        except TypeError as exc:
            raise ConfigError(f"{what}: {exc}") from None
        out.append({"name": name, "weight": weight, "params": params})
    if not out:
        raise ConfigError("add at least one loss (e.g. kl with weight 1)")
    return out
