"""One-click ablations: sweeps made from one run's config, each with the question it answers.

Every ablation keeps the no-KD baseline in each member (trained once per distinct student
initialisation, seed and data, through the sweep's shared store), so "no KD" is always on the
table without a member of its own.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from xkd.config import from_dict
from xkd.errors import ConfigError
from xkd.sweep.spec import SweepSpec, Variant

__all__ = ["ABLATIONS", "ablation", "demo_ablation"]


def _losses(config: dict) -> list[dict]:
    return list(from_dict(config).to_dict()["distill"]["losses"])


def kd_vs_no_kd(config: dict) -> SweepSpec:
    no_parallel: dict[str, Any] = {"data.parallel": False}
    if (config.get("data") or {}).get("parallel_corpus"):
        no_parallel["data.parallel_corpus"] = ""
    return SweepSpec(
        name="kd-vs-no-kd",
        kind="kd",
        base=config,
        variants=[Variant("kd"), Variant("kd-no-parallel", no_parallel)],
        question=(
            "Does the parallel data do the transferring? KD with translation pairs, KD on "
            "source-language text only, and no KD (each member's baseline)."
        ),
    )


def leave_one_loss_out(config: dict) -> SweepSpec:
    losses = _losses(config)
    alpha = float(from_dict(config).distill.alpha)
    if len(losses) < 2 and alpha == 0:
        raise ConfigError(
            "the recipe has one loss term and distill.alpha is 0: leaving it out leaves nothing "
            "to train on; add a term (Lab, Recipe) to compare terms"
        )
    variants = [Variant("all-terms")]
    for i, term in enumerate(losses):
        rest = losses[:i] + losses[i + 1 :]
        if not rest:
            continue
        variants.append(Variant(f"without-{term['name']}", {"distill.losses": rest}))
    return SweepSpec(
        name="leave-one-loss-out",
        kind="losses",
        base=config,
        variants=variants,
        question="Which loss term matters? The full recipe against the recipe without each term.",
    )


def temperature_alpha(
    config: dict,
    temperatures: Sequence[float] = (1.0, 2.0, 4.0),
    alphas: Sequence[float] = (0.0, 0.5),
) -> SweepSpec:
    return SweepSpec(
        name="temperature-x-alpha",
        kind="temperature-alpha",
        base=config,
        grid={"distill.temperature": list(temperatures), "distill.alpha": list(alphas)},
        question=(
            "How do temperature and alpha trade off? Softer targets (higher T) against more "
            "weight on the hard source labels (higher alpha)."
        ),
    )


def data_budget(config: dict, sizes: Sequence[int | None] = (4, 8, 16, 32, None)) -> SweepSpec:
    return SweepSpec(
        name="data-budget",
        kind="budget",
        base=config,
        grid={"data.max_pairs_per_language": list(sizes)},
        question=(
            "How many translation pairs does a language need? The same recipe with a budget of "
            "parallel pairs per target language (a learning curve per language; all = every pair)."
        ),
    )


def balance(config: dict, exponents: Sequence[float] = (1.0, 0.3, 0.0)) -> SweepSpec:
    return SweepSpec(
        name="language-balance",
        kind="balance",
        base=config,
        grid={"train.sampling_exponent": list(exponents)},
        question=(
            "Does balancing the languages help the small ones? Each language drawn in proportion "
            "to its size^s: s=1 the data's own shares, s=0.3 smoothed, s=0 every language alike."
        ),
    )


def seeds(config: dict, n: int = 3) -> SweepSpec:
    first = int(from_dict(config).train.seed)
    return SweepSpec(
        name="seeds",
        kind="seeds",
        base=config,
        grid={"train.seed": [first + k for k in range(n)]},
        question=(
            f"Is the gain real or noise? The same config at {n} seeds: the mean and its "
            "interval across seeds."
        ),
    )


def demo_ablation(config: dict, n_seeds: int = 3) -> SweepSpec:
    """KD, KD without parallel data, the recipe without each term, and the KD config at more
    seeds (no KD: every member's baseline)."""
    kd = kd_vs_no_kd(config).variants
    terms = leave_one_loss_out(config).variants[1:]
    first = int(from_dict(config).train.seed)
    more = [Variant(f"kd-seed{first + k}", {"train.seed": first + k}) for k in range(1, n_seeds)]
    return SweepSpec(
        name="ablation",
        kind="ablation",
        base=config,
        variants=kd + terms + more,
        question=(
            "What does each part of the recipe add? KD against no KD and KD without parallel "
            f"data, each loss term left out, and the KD config at {n_seeds} seeds."
        ),
    )


#: name -> (builder, one line for menus)
ABLATIONS = {
    "kd": (kd_vs_no_kd, "KD vs no-KD vs KD without parallel data"),
    "losses": (leave_one_loss_out, "leave one loss term out"),
    "temperature-alpha": (temperature_alpha, "temperature x alpha grid"),
    "budget": (data_budget, "parallel pairs per language (learning curve)"),
    "seeds": (seeds, "the same config at several seeds"),
    "balance": (balance, "language balancing: sampling ~ size^s"),
    "ablation": (demo_ablation, "all of KD/no-KD/no-parallel, each loss out, 3 seeds"),
}


def ablation(name: str, config: dict, **options) -> SweepSpec:
    """The ablation ``name`` (a key of :data:`ABLATIONS`) of a run's ``config`` dict."""
    if name not in ABLATIONS:
        raise ConfigError(f"unknown ablation '{name}'; use one of {', '.join(ABLATIONS)}")
    config = copy.deepcopy(config)
    config.pop("name", None)
    spec = ABLATIONS[name][0](config, **options)
    spec.base = from_dict(config).to_dict()
    return spec
