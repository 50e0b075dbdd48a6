"""Distillation losses: one :class:`DistillLoss` per file, and the registry.

``LOSSES`` maps config names to classes; :func:`build_loss` builds one from config params and
:func:`loss_params` lists a loss's params with their defaults. Every loss documents its formula,
inputs and source in its module docstring.
"""

from __future__ import annotations

import inspect
from typing import Any

from xkd.errors import ConfigError
from xkd.models.dims import ModelDims

from .attention_kl import AttentionKLLoss
from .base import DistillLoss, KDInputs
from .ce import CELoss
from .cosine import CosineLoss
from .focal_kd import FocalKDLoss
from .hidden_mse import HiddenMSELoss
from .kl import KLLoss
from .mse_logits import MSELogitsLoss
from .parallel_mse import ParallelMSELoss
from .soft_ce import SoftCELoss

LOSSES: dict[str, type[DistillLoss]] = {
    cls.name: cls
    for cls in (
        CELoss,
        KLLoss,
        MSELogitsLoss,
        SoftCELoss,
        FocalKDLoss,
        HiddenMSELoss,
        CosineLoss,
        AttentionKLLoss,
        ParallelMSELoss,
    )
}

# YAML keys that are Python keywords map to the constructor's trailing-underscore name.
_ALIASES = {"lambda": "lambda_"}


def _get(name: str) -> type[DistillLoss]:
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}; valid losses: {', '.join(LOSSES)}")
    return LOSSES[name]


def loss_params(name: str) -> dict[str, Any]:
    """Config params of loss ``name`` with their defaults (YAML spelling, e.g. ``lambda``)."""
    sig = inspect.signature(_get(name).__init__)
    inverse = {v: k for k, v in _ALIASES.items()}
    return {
        inverse.get(p.name, p.name): p.default
        for p in sig.parameters.values()
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def build_loss(name: str, **params: Any) -> DistillLoss:
    """Build loss ``name`` from config ``params``; ConfigError on an unknown name or param.

    ``lambda`` and ``lambda_`` are the same param (``lambda`` is a Python keyword).
    """
    cls = _get(name)
    valid = loss_params(name)
    kwargs: dict[str, Any] = {}
    for key, value in params.items():
        yaml_key = {v: k for k, v in _ALIASES.items()}.get(key, key)
        if yaml_key not in valid:
            listed = ", ".join(valid) if valid else "none"
            raise ConfigError(
                f"loss {name!r}: unknown parameter {key!r}; valid parameters: {listed}"
            )
        py_key = _ALIASES.get(yaml_key, yaml_key)
        if py_key in kwargs:
            raise ConfigError(f"loss {name!r}: parameter {yaml_key!r} given twice ({key!r})")
        kwargs[py_key] = value
    return cls(**kwargs)


__all__ = [
    "LOSSES",
    "AttentionKLLoss",
    "CELoss",
    "CosineLoss",
    "DistillLoss",
    "FocalKDLoss",
    "HiddenMSELoss",
    "KDInputs",
    "KLLoss",
    "MSELogitsLoss",
    "ModelDims",
    "ParallelMSELoss",
    "SoftCELoss",
    "build_loss",
    "loss_params",
]
