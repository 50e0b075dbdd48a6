"""The experiment's losses: the recipe's terms, the baseline's, and dev accuracy during training."""

from __future__ import annotations

import numpy as np

from xkd.config import RunConfig
from xkd.errors import ConfigError
from xkd.train.examples import Examples

__all__ = [
    "baseline_losses",
    "build_losses",
    "cached_layers",
    "check_tokenizers",
    "dev_accuracy_fn",
]


def build_losses(cfg: RunConfig, student_dims, teacher_dims) -> dict:
    """Instantiate the recipe's losses; global temperature/alpha fill params a loss accepts."""
    import inspect

    from xkd.losses import LOSSES, build_loss

    out = {}
    for spec in cfg.distill.losses:
        if spec.name not in LOSSES:
            raise ConfigError(f"unknown loss '{spec.name}'; available: {', '.join(sorted(LOSSES))}")
        accepted = inspect.signature(LOSSES[spec.name].__init__).parameters
        params = dict(spec.params)
        for key in ("temperature", "alpha"):
            if key in accepted and key not in params:
                params[key] = getattr(cfg.distill, key)
        loss = build_loss(spec.name, **params)
        loss.setup(student_dims, teacher_dims)
        name = spec.name if spec.name not in out else f"{spec.name}_{len(out)}"
        out[name] = (spec.weight, loss)
    return out


def baseline_losses() -> dict:
    """The no-KD baseline's objective: cross-entropy on the hard labels, nothing else."""
    from xkd.losses import build_loss

    return {"ce": (1.0, build_loss("ce"))}


def cached_layers(losses: dict) -> tuple[set[int], set[int]]:
    """The teacher's hidden-state and attention layers the recipe reads (what to cache)."""
    hidden, attentions = set(), set()
    for _, loss in losses.values():
        if "hidden" in loss.needs:
            hidden |= set(loss.teacher_layers())
        if "attentions" in loss.needs:
            attentions |= set(loss.teacher_layers())
    return hidden, attentions


def check_tokenizers(losses: dict, teacher, student) -> None:
    token_level = [name for name, (_, loss) in losses.items() if loss.same_tokenizer]
    if not token_level:
        return
    if teacher.tokenizer.get_vocab() != student.tokenizer.get_vocab():
        raise ConfigError(
            f"loss(es) {', '.join(token_level)} compare teacher and student token by token, but their "
            "tokenizers differ (different vocabularies split text differently, so tokens do not "
            "correspond). Use a student built with `from-teacher:K`, or drop these losses: logit "
            "and embedding losses (kl, mse_logits, soft_ce, focal_kd, parallel_mse, cosine, "
            "hidden_mse with align=mean) still work."
        )


def dev_accuracy_fn(model, dev: dict[str, Examples], max_length: int):
    """A callable giving ``{language: dev accuracy}`` of ``model`` (an ``eval`` record's body)."""
    from xkd.evaluate.evaluator import model_outputs

    def run() -> dict[str, float]:
        out = {}
        for lang, ex in dev.items():
            logits, _ = model_outputs(model, ex.student_texts, max_length)
            out[lang] = round(float((logits.argmax(1) == np.array(ex.labels)).mean()), 4)
        model.train()
        return out

    return run
