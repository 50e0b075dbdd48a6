"""Language balancing of the KD student's examples: smoothed sampling and oversampling.

Each example counts for the language of its student text (``Examples.languages``). With
``n_l`` examples in language ``l``:

- **oversampling** (``train.oversample_min: N``) raises a small language to ``m_l = max(n_l, N)``
  examples per epoch: whole copies of its examples, then a seeded random subset;
- **smoothed sampling** (``train.sampling_exponent: s``) gives language ``l`` the share
  ``m_l**s / sum_k m_k**s`` of an epoch of ``sum_k m_k`` examples (``s = 1``: the data's own
  proportions; ``s = 0``: every language equally often; 0.3 as XLM-R's / mBERT's exponentially
  smoothed sampling, Conneau et al. 2020, https://arxiv.org/abs/1911.02116). The epoch length
  stays the number of examples (after oversampling).

The shares are exact per epoch (largest-remainder quotas, not a draw per step): a language
above its quota gets a fresh random subset of its examples each epoch, one below it whole
copies plus a subset. The order depends only on (languages, s, N, seed, epoch), so every
process computes the same one and a resumed run continues identically. Where the quotas are
the natural counts (``s = 1`` and ``N = 0``, a single language, or equal sizes), nothing is
balanced and the loop keeps its plain permutation.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

__all__ = ["balance_facts", "epoch_counts", "epoch_order", "epoch_size", "language_counts"]


def language_counts(languages: Sequence[str]) -> dict[str, int]:
    """Examples per language, in order of first appearance."""
    out: dict[str, int] = {}
    for lang in languages:
        out[lang] = out.get(lang, 0) + 1
    return out


def epoch_size(counts: dict[str, int], oversample_min: int = 0) -> int:
    """Examples in one epoch: ``sum_l max(n_l, N)`` over the languages (more than one)."""
    if len(counts) < 2:
        return sum(counts.values())
    return sum(max(n, oversample_min) for n in counts.values())


def epoch_counts(
    counts: dict[str, int], exponent: float = 1.0, oversample_min: int = 0
) -> dict[str, int]:
    """Examples of each language in one epoch (they sum to :func:`epoch_size`)."""
    if len(counts) < 2:
        return dict(counts)
    sizes = {lang: max(n, oversample_min) for lang, n in counts.items()}
    if exponent == 1:
        return sizes
    total = sum(sizes.values())
    weights = {lang: m**exponent for lang, m in sizes.items()}
    norm = sum(weights.values())
    quotas = {lang: total * w / norm for lang, w in weights.items()}
    out = {lang: int(q) for lang, q in quotas.items()}
    rest = total - sum(out.values())
    # the largest remainders get the examples left (ties: the order of appearance)
    for lang in sorted(quotas, key=lambda k: out[k] - quotas[k])[:rest]:
        out[lang] += 1
    return out


def epoch_order(
    languages: Sequence[str],
    *,
    exponent: float = 1.0,
    oversample_min: int = 0,
    seed: int = 0,
    epoch: int = 0,
) -> list[int] | None:
    """The epoch's example indices (repeats allowed), shuffled; ``None`` when the quotas are the
    natural counts (nothing to balance: the loop keeps its own permutation)."""
    counts = language_counts(languages)
    quota = epoch_counts(counts, exponent, oversample_min)
    if quota == counts:
        return None
    rng = random.Random(f"xkd-balance:{seed}:{epoch}")
    groups: dict[str, list[int]] = {lang: [] for lang in counts}
    for i, lang in enumerate(languages):
        groups[lang].append(i)
    order: list[int] = []
    for lang, idx in groups.items():
        copies, extra = divmod(quota[lang], len(idx))
        order += idx * copies + rng.sample(idx, extra)
    rng.shuffle(order)
    return order


def balance_facts(
    languages: Sequence[str], exponent: float = 1.0, oversample_min: int = 0
) -> dict[str, Any]:
    """What balancing does to one epoch: per language its examples and natural share, and its
    examples and share per epoch after balancing (for ``eval.json`` / the run's notes)."""
    counts = language_counts(languages)
    quota = epoch_counts(counts, exponent, oversample_min)
    n, total = sum(counts.values()), sum(quota.values())
    return {
        "sampling_exponent": exponent,
        "oversample_min": oversample_min,
        "epoch_examples": total,
        "languages": {
            lang: {
                "examples": counts[lang],
                "share": round(counts[lang] / n, 4) if n else 0.0,
                "epoch_examples": quota[lang],
                "epoch_share": round(quota[lang] / total, 4) if total else 0.0,
            }
            for lang in counts
        },
    }
