"""Typed run configuration.

One :class:`RunConfig` describes a run: data + teacher/student models + distillation recipe +
training settings. The CLI (``--set key=value``), YAML files, presets and the app all build the
same object through :func:`from_dict`; unknown keys and wrong types are ``ConfigError``.
Each field carries its help text in ``metadata["help"]`` (the app shows it as a tooltip).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from xkd.errors import ConfigError


def _f(default: Any = dataclasses.MISSING, help: str = "", **kw: Any) -> Any:
    """A dataclass field with help text (``default`` may be a factory via ``default_factory``)."""
    if default is not dataclasses.MISSING:
        kw["default"] = default
    return field(metadata={"help": help}, **kw)


@dataclass
class DataConfig:
    path: str = _f("demo", "`demo`, a local file/folder, or `hf:<dataset id>`")
    source_language: str = _f("en", "language the teacher is trained/labelled in")
    target_languages: list[str] = _f(
        help="languages to transfer to (empty = every other language in the data)",
        default_factory=list,
    )
    columns: dict[str, str] = _f(
        help="mapping {schema column: file column} for files with other column names",
        default_factory=dict,
    )
    max_length: int = _f(64, "maximum tokens per text")
    parallel: bool = _f(
        True, "use translation pairs (student reads the translation, teacher the source)"
    )
    unlabeled_targets: bool = _f(
        False,
        "also distil on target-language train texts on their own (soft labels, no hard label)",
    )
    max_train_per_language: int | None = _f(None, "cap on training rows per language (None = all)")

    def validate(self) -> None:
        if not self.path:
            raise ConfigError("data.path is empty: use `demo`, a local file/folder or `hf:<id>`")
        if self.max_length < 8:
            raise ConfigError(f"data.max_length={self.max_length} is too small; use >= 8")
        if self.source_language in self.target_languages:
            raise ConfigError(
                f"data.target_languages contains the source language '{self.source_language}'"
            )


@dataclass
class ModelConfig:
    pooling: str = _f("mean", "sentence pooling: mean | cls | attention")
    trust_remote_code: bool = _f(
        False, "allow model code from the model's repository to run (security risk; off by default)"
    )
    scratch_layers: int = _f(4, "layers of a `scratch` student")
    scratch_hidden: int = _f(256, "hidden size of a `scratch` student")
    vocab_size: int = _f(16000, "vocabulary size of a `scratch` student's tokenizer")
    extend_vocab: bool = _f(
        False,
        "add the training text's missing characters to the student's WordPiece vocabulary "
        "(and stop accent stripping): fixes [UNK]-heavy CJK/Korean with an English teacher vocabulary",
    )
    teacher_epochs: int = _f(
        0,
        "epochs of teacher training when it has no head (0 = auto: 30 for a head on frozen features, 3 otherwise)",
    )
    teacher_lr: float = _f(2e-3, "learning rate of teacher head training")
    teacher_freeze: str = _f(
        "head", "what teacher fine-tuning trains: head (frozen encoder) | full | top:K"
    )

    def validate(self) -> None:
        if self.pooling not in ("mean", "cls", "attention"):
            raise ConfigError(f"model.pooling='{self.pooling}': use mean, cls or attention")
        _check_freeze("model.teacher_freeze", self.teacher_freeze)
        for name in ("scratch_layers", "scratch_hidden", "vocab_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1")


@dataclass
class LossConfig:
    name: str = _f(help="loss name from the registry (xkd.losses.LOSSES)")
    weight: float = _f(1.0, "weight w of this term: total = alpha*CE + (1-alpha)*sum(w*loss)")
    params: dict[str, Any] = _f(help="loss params (temperature, gamma, ...)", default_factory=dict)

    def validate(self) -> None:
        if self.weight < 0:
            raise ConfigError(f"distill.losses[{self.name}].weight={self.weight} must be >= 0")
        lam = self.params.get("lambda", self.params.get("lambda_"))
        if lam is not None:  # removed params: say what to write instead
            new = f"{self.weight * lam:g}" if isinstance(lam, int | float) else "<weight*lambda>"
            raise ConfigError(
                f"distill.losses[{self.name}]: 'lambda' was removed; put the factor in the "
                f"term's weight: {{name: {self.name}, weight: {new}}}"
            )
        if "alpha" in self.params:
            raise ConfigError(
                f"distill.losses[{self.name}]: 'alpha' is no longer a loss parameter; set "
                "distill.alpha (the hard-label CE, applied once to the whole objective)"
            )


@dataclass
class DistillConfig:
    losses: list[LossConfig] = _f(
        help="(loss, weight, params) terms summed into the student's objective",
        default_factory=list,
    )
    temperature: float = _f(3.0, "softmax T of every loss that takes one (a term may set its own)")
    alpha: float = _f(0.0, "hard-label CE weight, applied once: alpha*CE + (1-alpha)*sum(w*loss)")

    def validate(self) -> None:
        if self.temperature <= 0:
            raise ConfigError(f"distill.temperature={self.temperature} must be > 0")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"distill.alpha={self.alpha} must be within [0, 1]")
        if not self.losses:
            raise ConfigError("distill.losses is empty: add at least one loss, e.g. {name: kl}")
        for loss in self.losses:
            loss.validate()
        if self.alpha > 0 and any(loss.name == "ce" for loss in self.losses):
            raise ConfigError(
                f"distill.alpha={self.alpha:g} already adds the hard-label CE once; a `ce` term "
                "would count it twice: drop the `ce` term, or set distill.alpha: 0 and weight "
                "the `ce` term instead"
            )


@dataclass
class TrainConfig:
    epochs: float = _f(3, "training epochs of the student (fractions allowed)")
    batch_size: int = _f(32, "examples per batch")
    lr: float = _f(1e-4, "peak learning rate (AdamW)")
    weight_decay: float = _f(0.01, "AdamW weight decay")
    warmup_ratio: float = _f(0.1, "share of steps with linear warm-up")
    grad_clip: float = _f(1.0, "gradient norm clipping (0 = off)")
    seed: int = _f(0, "random seed")
    freeze: str = _f("full", "student fine-tuning: full | top:K (top K blocks only)")
    eval_every: int = _f(0, "evaluate on dev every N steps (0 = only at the end)")
    log_every: int = _f(5, "write metrics.jsonl every N steps")
    checkpoint_every: int = _f(0, "save a resumable checkpoint every N steps (0 = each epoch end)")
    device: str = _f("auto", "auto | cpu | cuda | cuda:N")
    mixed_precision: str = _f("auto", "auto (bf16/fp16 on GPU, off on CPU) | no | bf16 | fp16")
    max_steps: int = _f(0, "stop after this many steps (0 = no limit)")

    def validate(self) -> None:
        if self.epochs <= 0:
            raise ConfigError(f"train.epochs={self.epochs} must be > 0")
        if self.batch_size < 1:
            raise ConfigError(f"train.batch_size={self.batch_size} must be >= 1")
        if self.lr <= 0:
            raise ConfigError(f"train.lr={self.lr} must be > 0")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"train.warmup_ratio={self.warmup_ratio} must be within [0, 1)")
        _check_freeze("train.freeze", self.freeze, allow_head=False)
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise ConfigError(
                f"train.mixed_precision='{self.mixed_precision}': use auto, no, bf16 or fp16"
            )
        if not (
            self.device in ("auto", "cpu", "cuda")
            or self.device.startswith("cuda:")
            or self.device == "mps"
        ):
            raise ConfigError(f"train.device='{self.device}': use auto, cpu, cuda or cuda:N")
        for name in (
            "weight_decay",
            "grad_clip",
            "seed",
            "eval_every",
            "log_every",
            "checkpoint_every",
            "max_steps",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name}={getattr(self, name)} must be >= 0")
        if self.seed >= 2**32:
            raise ConfigError(f"train.seed={self.seed} must be < 2**32")


@dataclass
class RunConfig:
    name: str = _f("", "optional run name (used in the run id)")
    teacher: str = _f(
        "minilm", "teacher: `minilm` (built-in, offline), an HF id, or a local folder"
    )
    student: str = _f(
        "from-teacher:3", "student: `from-teacher:K`, `scratch`, an HF id, or a local folder"
    )
    baseline: bool = _f(True, "also train a no-KD baseline student (same init, source labels only)")
    data: DataConfig = _f(help="dataset and languages", default_factory=DataConfig)
    model: ModelConfig = _f(help="model options", default_factory=ModelConfig)
    distill: DistillConfig = _f(help="distillation recipe", default_factory=DistillConfig)
    train: TrainConfig = _f(help="training settings", default_factory=TrainConfig)

    def validate(self) -> RunConfig:
        if not self.teacher:
            raise ConfigError("teacher is empty: use `minilm`, an HF id or a local folder")
        if not self.student:
            raise ConfigError(
                "student is empty: use `from-teacher:K`, `scratch`, an HF id or a folder"
            )
        for part in (self.data, self.model, self.distill, self.train):
            part.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


def _check_freeze(key: str, value: str, allow_head: bool = True) -> None:
    ok = value == "full" or (allow_head and value == "head")
    if value.startswith("top:"):
        ok = value[4:].isdigit() and int(value[4:]) >= 0
    if not ok:
        extra = " | head" if allow_head else ""
        raise ConfigError(f"{key}='{value}': use full | top:K (K a whole number){extra}")


# ---------------------------------------------------------------------------------------------
# Building configs from plain data (YAML, CLI, app)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Coerce ``value`` to the annotated type ``tp``; ConfigError naming ``key`` if impossible."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"'{key}' must be a mapping, got {type(value).__name__}")
        return _build(tp, value, prefix=f"{key}.")
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"'{key}' must be a list, got {type(value).__name__}")
        return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"'{key}' must be a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "no", "0", "off"):
            return False
        raise ConfigError(f"'{key}' must be true or false, got {value!r}")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"'{key}' must be a number, got {value!r}")
        try:
            num = float(value) if tp is float else _as_int(value)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"'{key}' must be {_type_name(tp)}, got {value!r}") from None
        if not math.isfinite(num):
            raise ConfigError(f"'{key}' must be a finite number, got {value!r}")
        return num
    if tp is str:
        if isinstance(value, dict | list):
            raise ConfigError(f"'{key}' must be a string, got {type(value).__name__}")
        return str(value)
    return value


def _as_int(value: Any) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    return int(float(value)) if isinstance(value, str) and "." in value else int(value)


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {', '.join(prefix + u for u in unknown)}; "
            f"valid keys here: {', '.join(prefix + k for k in fields)}"
        )
    kwargs = {}
    for name, value in data.items():
        if cls is DistillConfig and name == "losses":
            kwargs[name] = _losses_from(value, f"{prefix}losses")
            continue
        kwargs[name] = _coerce(value, hints[name], prefix + name)
    missing = [
        n
        for n, f in fields.items()
        if n not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"missing config key(s): {', '.join(prefix + m for m in missing)}")
    return cls(**kwargs)


def _losses_from(value: Any, key: str) -> list[LossConfig]:
    """A list of losses; also one mapping, or ``"kl,parallel_mse:10"`` (the command line)."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, dict | LossConfig):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ConfigError(
            f"'{key}' must be a list of losses like [{{name: kl, weight: 1.0}}] or "
            f"kl,parallel_mse:10, got {type(value).__name__}"
        )
    return [_loss_from(v, f"{key}[{i}]") for i, v in enumerate(value)]


def _loss_from(value: Any, key: str) -> LossConfig:
    """Accept ``{name, weight, params}``, a bare name, or ``"name:weight"``."""
    if isinstance(value, LossConfig):
        return value
    if isinstance(value, str):
        name, _, weight = value.partition(":")
        if not name.strip():
            raise ConfigError(f"'{key}': {value!r} has no loss name; write name or name:weight")
        return LossConfig(
            name=name.strip(),
            weight=_coerce(weight.strip(), float, f"{key}.weight") if weight.strip() else 1.0,
        )
    if not isinstance(value, dict):
        raise ConfigError(f"'{key}' must be a mapping like {{name: kl, weight: 1.0}}")
    return _build(LossConfig, value, prefix=f"{key}.")


def from_dict(data: dict[str, Any]) -> RunConfig:
    """Build and validate a :class:`RunConfig`; unknown keys and wrong types raise ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError("a config must be a mapping of keys to values")
    return _build(RunConfig, data).validate()


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def set_key(data: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Apply one ``key.sub=value`` override (value parsed as YAML) to nested ``data`` in place."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key=value, got {assignment!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if key.strip() == "data.target_languages" and isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"--set {key}: '{part}' is not a section")
        node = nxt
    node[parts[-1]] = value
    return data


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base`` (lists are replaced, not merged)."""
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def field_help(cls: type = RunConfig, prefix: str = "") -> dict[str, str]:
    """Flat ``{dotted key: help}`` for the CLI and the app's tooltips."""
    out: dict[str, str] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = prefix + f.name
        if dataclasses.is_dataclass(hints[f.name]):
            out.update(field_help(hints[f.name], key + "."))
        else:
            out[key] = f.metadata.get("help", "")
    return out
