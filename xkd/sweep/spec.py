"""A sweep: a base config plus variations, expanded into member configs.

``sweep.yaml``::

    name: demo-ablation
    question: what does each part of the demo's recipe add?   # one sentence, shown on screen
    base: {preset: demo}              # a preset, a config file (`config: run.yaml`), or keys,
                                      # with `set:` overrides on top
    variants:                         # named members, each a few dotted keys
      - {name: kd}
      - {name: no-parallel, set: {data.parallel: false}}
    grid:                             # every combination, crossed with each variant
      train.seed: [0, 1, 2]

With neither ``variants`` nor ``grid`` the sweep has one member, the base. Every member's config
is built and validated before the first member runs, so a bad key or value in member 7 fails
the sweep at once, naming the member and the key.
"""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from xkd.config import RunConfig, from_dict, load_yaml, merge, set_key
from xkd.errors import ConfigError
from xkd.presets import preset

__all__ = ["Member", "SweepSpec", "Variant", "load_sweep"]

_SPEC_KEYS = {"name", "question", "kind", "base", "variants", "grid"}
_BASE_KEYS = {"preset", "config", "set"}


@dataclass
class Variant:
    """A named member: ``set`` holds dotted config keys and their values."""

    name: str
    set: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Member:
    """One run of a sweep: its name, the keys it changes from the base, its config."""

    name: str
    overrides: dict[str, Any]
    config: RunConfig


def _name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "-", text).strip("-")[:60] or "member"


def _short(key: str) -> str:
    short = {"distill.temperature": "T", "distill.alpha": "alpha", "train.seed": "seed"}
    short |= {"train.sampling_exponent": "s", "data.max_pairs_per_language": "pairs"}
    return short.get(key, key.rsplit(".", 1)[-1])


def _apply(config: dict, overrides: dict[str, Any], where: str) -> dict:
    """``config`` with each dotted key set (a string value is read as on the command line)."""
    out = copy.deepcopy(config)
    for key, value in overrides.items():
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(f"{where}: {key!r} is not a config key")
        if isinstance(value, str):
            set_key(out, f"{key}={value}")
            continue
        node = out
        for part in key.split(".")[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{where}: '{key}' goes below a key that is not a section")
        node[key.split(".")[-1]] = copy.deepcopy(value)
    return out


@dataclass
class SweepSpec:
    """A sweep (see the module docstring). ``base`` is a full config dict."""

    name: str
    base: dict[str, Any]
    variants: list[Variant] = field(default_factory=list)
    grid: dict[str, list] = field(default_factory=dict)
    question: str = ""
    kind: str = "custom"

    def members(self) -> list[Member]:
        """Every member in order (variants x grid points), each config validated."""
        variants = self.variants or [Variant(name="")]
        keys = list(self.grid)
        points = list(itertools.product(*(self.grid[k] for k in keys))) if keys else [()]
        out, seen = [], set()
        for variant in variants:
            for point in points:
                grid = dict(zip(keys, point, strict=True))
                parts = [variant.name] + [f"{_short(k)}={_value(v)}" for k, v in grid.items()]
                name = _name(",".join(p for p in parts if p)) or "base"
                if name in seen:
                    raise ConfigError(f"sweep '{self.name}': two members are named '{name}'")
                seen.add(name)
                overrides = {**variant.set, **grid}
                where = f"sweep '{self.name}', member '{name}'"
                try:
                    config = from_dict(_apply(self.base, overrides, where))
                except ConfigError as exc:
                    msg = str(exc)
                    raise ConfigError(msg if msg.startswith(where) else f"{where}: {msg}") from None
                out.append(Member(name=name, overrides=overrides, config=config))
        return out

    def varied_keys(self) -> list[str]:
        """The config keys some member changes, in first-seen order."""
        keys: dict[str, None] = {}
        for variant in self.variants:
            keys.update(dict.fromkeys(variant.set))
        keys.update(dict.fromkeys(self.grid))
        return list(keys)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "question": self.question,
            "kind": self.kind,
            "base": self.base,
            "variants": [{"name": v.name, "set": v.set} for v in self.variants],
            "grid": self.grid,
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


def _value(v: Any) -> str:
    if isinstance(v, list):
        return "+".join(str(x.get("name", x)) if isinstance(x, dict) else str(x) for x in v)
    return "all" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def _base(raw: Any, folder: Path | None) -> dict:
    if not isinstance(raw, dict):
        raise ConfigError("sweep 'base' must be a mapping: {preset: demo} or config keys")
    if not set(raw) & _BASE_KEYS:  # plain config keys
        return from_dict(raw).to_dict()
    unknown = sorted(set(raw) - _BASE_KEYS)
    if unknown:
        raise ConfigError(
            f"sweep 'base' has unknown key(s) {', '.join(unknown)}: use preset, config and set "
            "(or plain config keys without them)"
        )
    data: dict = {}
    if raw.get("config"):
        path = Path(raw["config"])
        path = path if path.is_absolute() or folder is None else folder / path
        data = load_yaml(path)
    if raw.get("preset"):
        data = merge(preset(raw["preset"]), data)
    data = _apply(data, dict(raw.get("set") or {}), "sweep 'base'")
    return from_dict(data).to_dict()


def load_sweep(source: str | Path | dict) -> SweepSpec:
    """A :class:`SweepSpec` from a ``sweep.yaml`` path or its mapping; unknown keys are errors."""
    folder = None
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"sweep file {path} does not exist")
        folder = path.parent
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    else:
        raw = source
    if not isinstance(raw, dict):
        raise ConfigError("a sweep must be a mapping with name, base, variants and/or grid")
    unknown = sorted(set(raw) - _SPEC_KEYS)
    if unknown:
        raise ConfigError(
            f"sweep has unknown key(s) {', '.join(unknown)}; use {', '.join(sorted(_SPEC_KEYS))}"
        )
    variants = []
    for i, v in enumerate(raw.get("variants") or []):
        if not isinstance(v, dict) or not v.get("name") or set(v) - {"name", "set"}:
            raise ConfigError(
                f"sweep variants[{i}] must be {{name: ..., set: {{key: value}}}}, got {v!r}"
            )
        variants.append(Variant(name=str(v["name"]), set=dict(v.get("set") or {})))
    grid = raw.get("grid") or {}
    if not isinstance(grid, dict) or not all(isinstance(x, list) and x for x in grid.values()):
        raise ConfigError("sweep 'grid' must map config keys to non-empty lists of values")
    return SweepSpec(
        name=_name(str(raw.get("name") or "sweep")),
        base=_base(raw.get("base") or {"preset": "demo"}, folder),
        variants=variants,
        grid=dict(grid),
        question=str(raw.get("question") or ""),
        kind=str(raw.get("kind") or "custom"),
    )
