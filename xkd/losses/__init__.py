"""Distillation losses: one :class:`DistillLoss` per file, the registry and the recipe.

``LOSSES`` maps config names to classes; :func:`build_loss` builds one from its params and
:func:`loss_params` lists a loss's params with their defaults (:mod:`xkd.losses.registry`).
:func:`build_recipe` turns the ``distill`` config section into a :class:`Recipe` (the weighted
terms, ``alpha`` and the temperature) that :class:`xkd.train.objective.KDObjective` optimises
as ``alpha * CE + (1 - alpha) * sum_i w_i * L_i`` (:mod:`xkd.losses.recipe`). Every loss
documents its formula, inputs, reference and a runnable example in its docstrings.
"""

from __future__ import annotations

from xkd.models.dims import ModelDims

from .attention_kl import AttentionKLLoss
from .base import DistillLoss, KDInputs, PooledTarget
from .ce import CELoss
from .cosine import CosineLoss
from .focal_kd import FocalKDLoss
from .hidden_mse import HiddenMSELoss
from .kl import KLLoss
from .mse_logits import MSELogitsLoss
from .parallel_mse import ParallelMSELoss
from .recipe import HARD_LABEL_TERM, Recipe, Term, build_recipe, build_term_loss, combine_hard_soft
from .registry import LOSSES, build_loss, loss_params
from .soft_ce import SoftCELoss

__all__ = [
    "HARD_LABEL_TERM",
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
    "PooledTarget",
    "Recipe",
    "SoftCELoss",
    "Term",
    "build_loss",
    "build_recipe",
    "build_term_loss",
    "combine_hard_soft",
    "loss_params",
]
