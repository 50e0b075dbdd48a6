"""Building typed configs from plain data: type coercion, strict dataclass building, YAML, --set.

Generic machinery behind :func:`xkd.config.from_dict`: :func:`_build` turns a mapping into a
dataclass (unknown keys, missing keys and wrong types are ``ConfigError`` naming the dotted key),
:func:`_coerce` converts one value to its annotated type. A field whose metadata has a ``"parse"``
callable ``(value, key) -> value`` is built by it instead of by type. The public names here
(:func:`load_yaml`, :func:`set_key`, :func:`merge`) are re-exported by :mod:`xkd.config`.
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
    if value is None:
        return []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, dict | cls):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ConfigError(
            f"'{key}' must be a list of losses like [{{name: kl, weight: 1.0}}] or "
            f"kl,parallel_mse:10, got {type(value).__name__}"
        )
    return [_loss_from(v, f"{key}[{i}]", cls) for i, v in enumerate(value)]


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
