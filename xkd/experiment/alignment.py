"""Alignment-only runs: a parallel corpus and no task data (``data.path`` empty,
``data.parallel_corpus`` set). There are no labels, so nothing predicts one: the student learns
the teacher's sentence embeddings from the pairs, no baseline is trained (it would learn from
labels), and evaluation reports retrieval@1 and pair cosine per language. The checks here run
before any expensive work."""

from __future__ import annotations

from xkd.config import RunConfig
from xkd.errors import ConfigError

__all__ = ["check_recipe"]


def check_recipe(cfg: RunConfig) -> None:
    """Refuse what needs labels or logits in an alignment-only run, naming the setting (before
    the recipe is built: its prediction losses would fail on zero classes)."""
    from xkd.losses.registry import LOSSES

    logit_terms = [
        t.name for t in cfg.distill.losses if t.name in LOSSES and "logits" in LOSSES[t.name].needs
    ]
    if logit_terms:
        raise ConfigError(
            f"an alignment-only run (data.parallel_corpus without data.path) has no labels, so "
            f"no logits to distil: remove {', '.join(logit_terms)} from distill.losses (keep "
            "parallel_mse, cosine or hidden_mse)"
        )
    if cfg.distill.alpha > 0:
        raise ConfigError(
            f"distill.alpha={cfg.distill.alpha} weighs hard labels, which an alignment-only run "
            "does not have; set distill.alpha=0"
        )
