"""Resumable checkpoints of a training phase: weights (safetensors), optimizer, scheduler, RNG
and data position, written atomically and read back with ``weights_only=True``."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["TrainState", "latest_checkpoint", "load_checkpoint", "save_checkpoint"]


@dataclass
class TrainState:
    """Where a training phase is: what a checkpoint saves and a resume continues from."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    total_steps: int = 0
    stopped: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)


def _rng_state() -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": _np_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _np_state() -> tuple:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss))


def _set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: Path, objective: nn.Module, optimizer, scheduler, state: TrainState
) -> None:
    """Write a resumable checkpoint atomically (folder written aside, then renamed)."""
    from safetensors.torch import save_file

    tmp = path.with_name(path.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in objective.state_dict().items()}
    save_file(_untie(weights), str(tmp / "objective.safetensors"))
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": _rng_state(),
        },
        tmp / "trainer.pt",
    )
    meta = {k: getattr(state, k) for k in ("step", "epoch", "batch_in_epoch", "total_steps")}
    (tmp / "state.json").write_text(json.dumps(meta))
    if path.exists():
        old = path.with_name(path.name + ".old")
        path.replace(old)
        tmp.replace(path)
        import shutil

        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.replace(path)


def _untie(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    seen: dict[int, str] = {}
    out = {}
    for k, v in weights.items():
        ptr = v.data_ptr()
        out[k] = v.clone() if ptr in seen else v
        seen[ptr] = k
    return out


def latest_checkpoint(path: Path) -> Path | None:
    """The checkpoint to resume from: ``path``, or ``path.old`` if a kill hit mid-swap."""
    for candidate in (path, path.with_name(path.name + ".old")):
        if (candidate / "state.json").exists() and (candidate / "objective.safetensors").exists():
            return candidate
    return None


def load_checkpoint(path: Path, objective: nn.Module, optimizer, scheduler) -> TrainState:
    from safetensors.torch import load_file

    objective.load_state_dict(load_file(str(path / "objective.safetensors")))
    blob = torch.load(path / "trainer.pt", weights_only=True)
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    _set_rng_state(blob["rng"])
    meta = json.loads((path / "state.json").read_text())
    return TrainState(**meta)
