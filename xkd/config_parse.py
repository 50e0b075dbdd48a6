"""Building typed configs from plain data: type coercion, strict dataclass building, YAML, --set.

Generic machinery behind :func:`xkd.config.from_dict`: :func:`_build` turns a mapping into a
dataclass (unknown keys, missing keys and wrong types are ``ConfigError`` naming the dotted key),
:func:`_coerce` converts one value to its annotated type. A field whose metadata has a ``"parse"``
callable ``(value, key) -> value`` is built by it instead of by type. The public names here
(:func:`load_yaml`, :func:`set_key`, :func:`merge`) are re-exported by :mod:`xkd.config`.

Validation helpers that :mod:`xkd.config`'s dataclasses call live here too (that module has no
room): :func:`check_train` (``TrainConfig.validate``), :func:`check_teachers` (``teachers`` and
``distill.teacher_mix``), ``_check_freeze`` (freeze specs) and ``_auto_bool``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from xkd.errors import ConfigError

REPORT_TO = ("tensorboard", "mlflow", "wandb", "trackio")


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
        if isinstance(value, bool):  # YAML reads an unquoted no/yes/off/on as a boolean
            return "yes" if value else "no"
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
        parse = fields[name].metadata.get("parse")
        if parse is not None:  # a field with its own parser (e.g. distill.losses)
            kwargs[name] = parse(value, prefix + name)
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


def losses_from(value: Any, key: str, cls: type) -> list:
    """A list of losses (``cls`` objects: ``LossConfig``); also one mapping, or
    ``"kl,parallel_mse:10"`` (the command line)."""
    value = _items(value, key, cls, "losses like [{name: kl, weight: 1.0}] or kl,parallel_mse:10")
    return [_loss_from(v, f"{key}[{i}]", cls) for i, v in enumerate(value)]


def _items(value: Any, key: str, cls: type, example: str) -> list:
    """A list field given as a list, one mapping (or ``cls`` object), or comma-separated text
    (the command line); None is empty. Anything else is a ConfigError showing ``example``."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, dict | cls):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ConfigError(f"'{key}' must be a list of {example}, got {type(value).__name__}")
    return list(value)


def _loss_from(value: Any, key: str, cls: type):
    """Accept ``{name, weight, params}``, a bare name, or ``"name:weight"``."""
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        name, _, weight = value.partition(":")
        if not name.strip():
            raise ConfigError(f"'{key}': {value!r} has no loss name; write name or name:weight")
        return cls(
            name=name.strip(),
            weight=_coerce(weight.strip(), float, f"{key}.weight") if weight.strip() else 1.0,
        )
    if not isinstance(value, dict):
        raise ConfigError(f"'{key}' must be a mapping like {{name: kl, weight: 1.0}}")
    return _build(cls, value, prefix=f"{key}.")


def _auto_bool(value: Any, key: str) -> bool | None:
    """``true`` / ``false``, or ``auto`` (also ``null``) = None: the experiment decides."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    if isinstance(value, str) and value.strip().lower() not in ("true", "false", "yes", "no"):
        raise ConfigError(f"'{key}' must be true, false or auto, got {value!r}")
    return _coerce(value, bool, key)


def _check_freeze(key: str, value: str, allow_head: bool = True) -> None:
    ok = value == "full" or (allow_head and value == "head")
    if value.startswith("top:"):
        ok = value[4:].isdigit() and int(value[4:]) >= 0
    if not ok:
        extra = " | head" if allow_head else ""
        raise ConfigError(f"{key}='{value}': use full | top:K (K a whole number){extra}")


def check_train(cfg) -> None:
    """``TrainConfig.validate``: a ConfigError naming the ``train.`` key and what to use."""
    if set(cfg.report_to) - set(REPORT_TO):
        bad = ", ".join(sorted(set(cfg.report_to) - set(REPORT_TO)))
        raise ConfigError(f"train.report_to: unknown {bad}; use any of {', '.join(REPORT_TO)}")
    if cfg.epochs <= 0:
        raise ConfigError(f"train.epochs={cfg.epochs} must be > 0")
    if cfg.batch_size < 1:
        raise ConfigError(f"train.batch_size={cfg.batch_size} must be >= 1")
    if cfg.lr <= 0:
        raise ConfigError(f"train.lr={cfg.lr} must be > 0")
    if not 0 <= cfg.warmup_ratio < 1:
        raise ConfigError(f"train.warmup_ratio={cfg.warmup_ratio} must be within [0, 1)")
    _check_freeze("train.freeze", cfg.freeze, allow_head=False)
    if cfg.mixed_precision not in ("auto", "no", "bf16", "fp16"):
        raise ConfigError(
            f"train.mixed_precision='{cfg.mixed_precision}': use auto, no, bf16 or fp16"
        )
    if not (
        cfg.device in ("auto", "cpu", "cuda")
        or cfg.device.startswith("cuda:")
        or cfg.device == "mps"
    ):
        raise ConfigError(f"train.device='{cfg.device}': use auto, cpu, cuda or cuda:N")
    for name in (
        "weight_decay",
        "grad_clip",
        "seed",
        "eval_every",
        "alignment_points",
        "log_every",
        "checkpoint_every",
        "max_steps",
        "oversample_min",
    ):
        if getattr(cfg, name) < 0:
            raise ConfigError(f"train.{name}={getattr(cfg, name)} must be >= 0")
    if not 0 <= cfg.sampling_exponent <= 1:  # > 1 or < 0 overshoot the two ends
        raise ConfigError(f"train.sampling_exponent={cfg.sampling_exponent} must be in [0, 1]")
    if cfg.seed >= 2**32:
        raise ConfigError(f"train.seed={cfg.seed} must be < 2**32")
    if cfg.alignment_points > 100:
        raise ConfigError(
            f"train.alignment_points={cfg.alignment_points}: use at most 100 (each point "
            "stores a map of the held-out pairs)"
        )


def teachers_from(value: Any, key: str, cls: type) -> list:
    """``teachers`` from plain data: a list of mappings (``cls``: ``TeacherConfig``) or of model
    specs, one mapping, or ``"minilm,runs/r1/teacher"`` (the command line)."""
    value = _items(value, key, cls, "teachers like [{model: minilm, weight: 1.0}]")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            item = {"model": item}
        if not isinstance(item, dict | cls):
            raise ConfigError(f"'{key}[{i}]' must be a mapping like {{model: minilm}}")
        out.append(item if isinstance(item, cls) else _build(cls, item, prefix=f"{key}[{i}]."))
    return out


def check_teachers(cfg) -> None:
    """``teachers`` and ``distill.teacher_mix`` / ``teacher_weight`` (``RunConfig.validate``):
    a setting that would be silently unused is refused, with the key and what to write."""
    mix, first = cfg.distill.teacher_mix, cfg.distill.teacher_weight
    if mix not in ("average", "per_language"):
        raise ConfigError(f"distill.teacher_mix='{mix}': use average or per_language")
    if not first > 0:
        raise ConfigError(f"distill.teacher_weight={first} must be > 0")
    if not cfg.teachers and mix != "average":
        raise ConfigError(
            f"distill.teacher_mix={mix} chooses among several teachers, but `teachers` is empty: "
            "add teachers: [{model: ..., languages: [...]}], or drop distill.teacher_mix"
        )
    if not cfg.teachers and first != 1.0:
        raise ConfigError(
            f"distill.teacher_weight={first:g} weighs the first teacher against `teachers`, "
            "which is empty: add teachers: [{model: ...}], or drop distill.teacher_weight"
        )
    if mix == "per_language" and first != 1.0:
        raise ConfigError(
            f"distill.teacher_weight={first:g} only weighs distill.teacher_mix: average; drop it"
        )
    owner: dict[str, str] = {}
    for i, extra in enumerate(cfg.teachers):
        key = f"teachers[{i}]"
        if not extra.model.strip():
            raise ConfigError(f"{key}.model is empty: use `minilm`, an HF id or a local folder")
        if not extra.weight > 0:
            raise ConfigError(f"{key}.weight={extra.weight} must be > 0 (or drop the teacher)")
        if extra.freeze:
            _check_freeze(f"{key}.freeze", extra.freeze)
        if mix == "average" and extra.languages:
            raise ConfigError(
                f"{key}.languages={extra.languages} choose a teacher per language only with "
                f"distill.teacher_mix: per_language; set it, or drop {key}.languages"
            )
        if mix == "per_language" and not extra.languages:
            raise ConfigError(
                f"{key} has no languages: with distill.teacher_mix: per_language each extra "
                "teacher teaches the languages it lists (e.g. languages: [de, fr]); the first "
                "teacher teaches the rest"
            )
        if mix == "per_language" and extra.weight != 1.0:
            raise ConfigError(
                f"{key}.weight={extra.weight:g} only weighs distill.teacher_mix: average; drop it"
            )
        for lang in extra.languages:
            if lang in owner:
                raise ConfigError(
                    f"language '{lang}' is in {owner[lang]}.languages and {key}.languages: "
                    "give each language one teacher"
                )
            owner[lang] = key
