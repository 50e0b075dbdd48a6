"""The command lines equivalent to a config: ``xkd train --preset <base> --set key=value ...``
and the same in several processes through ``torchrun`` and ``accelerate launch`` (the Lab shows
them before launch)."""

from __future__ import annotations

import json
import shlex
from typing import Any

from xkd.config import RunConfig


def _flatten(mapping: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value and key not in ("columns", "params"):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _yaml_value(key: str, value: Any) -> str:
    import yaml

    if key == "data.target_languages" and isinstance(value, list) and value:
        return ",".join(str(v) for v in value)
    if isinstance(value, str):
        try:
            if yaml.safe_load(value) == value and value.strip() == value and value:
                return value
        except yaml.YAMLError:
            pass
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)


def set_arguments(cfg: RunConfig, base: str = "demo") -> list[str]:
    """``key=value`` overrides that turn preset ``base`` into ``cfg`` (for ``--set``)."""
    from xkd.config import from_dict
    from xkd.presets import preset

    ref = _flatten(from_dict(preset(base)).to_dict())
    mine = _flatten(cfg.to_dict())
    out = []
    for key, value in mine.items():
        if ref.get(key, object()) != value:
            out.append(f"{key}={_yaml_value(key, value)}")
    return out


def commands(cfg: RunConfig, base: str = "demo", *, processes: int = 2) -> dict[str, str]:
    """Equivalent command lines: ``xkd train --preset <base> --set ...``, and the same run in
    ``processes`` processes through ``torchrun`` (CPU or GPUs) and through ``accelerate
    launch`` (GPUs; on a machine without one it runs CPU processes too). The test suite runs
    all three (``tests/test_processes.py``).
    """
    sets = set_arguments(cfg, base)
    args = ["train", "--preset", base]
    for s in sets:
        args += ["--set", s]
    quoted = " ".join(shlex.quote(a) for a in args)
    n = int(processes)
    return {
        "xkd": f"xkd {quoted}",
        "torchrun": f"torchrun --nproc_per_node {n} -m xkd.cli {quoted}",
        "accelerate": f"accelerate launch --multi_gpu --num_processes {n} -m xkd.cli {quoted}",
        "set_arguments": sets,  # type: ignore[dict-item]
    }


def pretty_command(command: str, width: int = 88) -> str:
    """Break a long command before each ``--set`` with shell line continuations."""
    if len(command) <= width:
        return command
    return command.replace(" --set ", " \\\n  --set ")


def process_count() -> int:
    """How many processes the Lab's launch commands use: one per GPU when there are several,
    else 2."""
    import torch

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return n if n > 1 else 2
