"""The loss registry: config names to classes, and building a loss from config params.

``LOSSES`` maps config names to classes; :func:`build_loss` builds one from its own params and
:func:`loss_params` lists a loss's params with their defaults. A recipe builds its losses with
:func:`xkd.losses.recipe.build_term_loss`, which also passes ``distill.temperature``.
"""

from __future__ import annotations

import inspect
from typing import Any

from xkd.errors import ConfigError

from .attention_kl import AttentionKLLoss
from .base import DistillLoss
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


def _get(name: str) -> type[DistillLoss]:
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}; valid losses: {', '.join(LOSSES)}")
    return LOSSES[name]


def _params(name: str) -> list[inspect.Parameter]:
    sig = inspect.signature(_get(name).__init__)
    return [
        p
        for p in sig.parameters.values()
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def loss_params(name: str) -> dict[str, Any]:
    """Config params of loss ``name`` with their defaults.

    A param without a default of its own maps to ``None``: that is ``temperature``, which a
    recipe fills from ``distill.temperature`` unless the term's params set it.
    """
    return {p.name: None if p.default is p.empty else p.default for p in _params(name)}


def build_loss(name: str, **params: Any) -> DistillLoss:
    """Build loss ``name`` from its params; ConfigError on an unknown name, param or value.

    Every param without a default (``temperature``) must be given; a recipe passes it.
    """
    cls = _get(name)
    valid = loss_params(name)
    for key in params:
        if key not in valid:
            listed = ", ".join(valid) if valid else "none"
            raise ConfigError(
                f"loss {name!r}: unknown parameter {key!r}; valid parameters: {listed}"
            )
    missing = [p.name for p in _params(name) if p.default is p.empty and p.name not in params]
    if missing:
        raise ConfigError(
            f"loss {name!r}: parameter(s) {', '.join(missing)} have no default; pass them "
            "(a recipe passes distill.temperature)"
        )
    return cls(**params)
