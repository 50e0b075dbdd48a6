"""Bootstrap intervals for accuracies and KD gains, and intervals across seeds.

Test sets in cross-lingual transfer are small (the demo has 16 to 40 sentences a language), so
a single accuracy says little. Every number xkd compares carries an interval:

- **accuracy** (per language and model): the 95 % percentile bootstrap interval of the mean of
  the item-level correctness ``c_i`` (1 right, 0 wrong) over test-set resamples;
- **KD gain** (per language): the *paired* bootstrap of ``d_i = c_i(student) - c_i(baseline)``
  on the same resampled items, with a two-sided bootstrap p-value
  ``p = min(1, 2 * min(P*(gain* <= 0), P*(gain* >= 0)))``; the gain is *significant* when the
  interval excludes 0;
- **mean KD gain** over target languages (the headline): each language resampled on its own
  (a stratified bootstrap), the per-language gains averaged per resample;
- **across seeds**: mean and Student-t interval ``mean ± t(0.975, n-1) * sd / sqrt(n)``.

Resampling n items with replacement only matters through how often each *outcome* is drawn:
the number of right answers in a resample is ``Binomial(n, accuracy)`` and the counts of
``d = +1, -1, 0`` are ``Multinomial(n, [p+, p-, p0])``. xkd draws these counts directly, which
is the bootstrap exactly (not an approximation) at a cost that does not grow with n.

Example (the hand-computed case of the tests): 3 of 4 right gives a bootstrap distribution of
``Binomial(4, 0.75) / 4``, whose 2.5 % and 97.5 % quantiles are 0.25 and 1.0:

>>> lo, hi = accuracy_interval([1, 1, 1, 0], resamples=20_000)
>>> (float(lo), float(hi))
(0.25, 1.0)

Reference: Efron & Tibshirani, *An Introduction to the Bootstrap* (1993), ch. 13 (percentile
intervals) and 15-16 (paired comparisons and bootstrap tests).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "LEVEL",
    "RESAMPLES",
    "Gain",
    "add_intervals",
    "accuracy_interval",
    "mean_gain",
    "paired_gain",
    "prediction_intervals",
    "seed_interval",
]

#: Bootstrap resamples and the interval's level used everywhere (eval.json, the app, reports).
RESAMPLES = 4000
LEVEL = 0.95
SEED = 0


def _correct(values: Sequence, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).reshape(-1)
    if arr.size and not np.isin(arr, (0.0, 1.0)).all():
        raise ValueError(f"{name} must hold 0/1 (or bool) correctness per item")
    return arr


def _bounds(samples: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2
    lo, hi = np.quantile(samples, [tail, 1 - tail], method="inverted_cdf")
    return float(lo), float(hi)


def accuracy_interval(
    correct: Sequence, *, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = SEED
) -> tuple[float, float]:
    """The percentile bootstrap interval of the accuracy of ``correct`` (0/1 per item).

    ``(nan, nan)`` for no items.
    """
    c = _correct(correct, "correct")
    n = c.size
    if n == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    return _bounds(rng.binomial(n, c.mean(), size=resamples) / n, level)


@dataclass(frozen=True)
class Gain:
    """A difference of accuracies (fractions) with its bootstrap interval.

    ``gain`` = mean(student correct) - mean(baseline correct); ``low``/``high`` its interval;
    ``p`` the two-sided bootstrap p-value; ``significant``: the interval excludes 0; ``n``
    the paired items (per language) or the languages (a mean gain).
    """

    gain: float
    low: float
    high: float
    p: float
    significant: bool
    n: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> Gain:
        return cls(**{k: data[k] for k in ("gain", "low", "high", "p", "significant", "n")})


def _diff_counts(a: np.ndarray, b: np.ndarray, resamples: int, rng) -> np.ndarray:
    """Resampled mean of ``a - b`` (paired items), through the counts of +1, -1 and 0."""
    n = a.size
    d = a - b
    probs = [float((d > 0).mean()), float((d < 0).mean()), float((d == 0).mean())]
    counts = rng.multinomial(n, probs, size=resamples)
    return (counts[:, 0] - counts[:, 1]) / n


def _gain(point: float, samples: np.ndarray, level: float, n: int) -> Gain:
    lo, hi = _bounds(samples, level)
    p = min(1.0, 2 * min(float((samples <= 0).mean()), float((samples >= 0).mean())))
    return Gain(gain=point, low=lo, high=hi, p=p, significant=bool(lo > 0 or hi < 0), n=n)


def paired_gain(
    student: Sequence,
    baseline: Sequence,
    *,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = SEED,
) -> Gain | None:
    """The KD gain on paired items (``student[i]`` and ``baseline[i]`` score the same item),
    with its paired bootstrap interval; None for no items."""
    a, b = _correct(student, "student"), _correct(baseline, "baseline")
    if a.size != b.size:
        raise ValueError(f"paired items differ in number: {a.size} vs {b.size}")
    if a.size == 0:
        return None
    rng = np.random.default_rng(seed)
    samples = _diff_counts(a, b, resamples, rng)
    return _gain(float(a.mean() - b.mean()), samples, level, a.size)


def mean_gain(
    pairs: Mapping[str, tuple[Sequence, Sequence]],
    *,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = SEED,
) -> Gain | None:
    """The mean over languages of the paired KD gain, ``pairs = {language: (student, baseline)}``
    (as the headline averages languages); each language is resampled on its own."""
    rng = np.random.default_rng(seed)
    points, draws = [], []
    for student, baseline in pairs.values():
        a, b = _correct(student, "student"), _correct(baseline, "baseline")
        if a.size == 0 or a.size != b.size:
            continue
        points.append(float(a.mean() - b.mean()))
        draws.append(_diff_counts(a, b, resamples, rng))
    if not points:
        return None
    return _gain(float(np.mean(points)), np.mean(draws, axis=0), level, len(points))


def seed_interval(values: Sequence[float], *, level: float = LEVEL) -> dict:
    """Mean and Student-t interval of one number over seeds (runs differing in ``train.seed``):
    ``{"mean", "low", "high", "sd", "n"}``; the interval is ``nan`` below two seeds."""
    from scipy import stats

    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    n = x.size
    mean = float(x.mean()) if n else math.nan
    if n < 2:
        return {"mean": mean, "low": math.nan, "high": math.nan, "sd": math.nan, "n": int(n)}
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "sd": sd, "n": int(n)}


def _correctness(predictions, labels: Sequence[str], model: str) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``predictions`` (a ``predictions.parquet`` frame): whether ``model`` is right,
    and whether the row is scored at all (a label the run knows)."""
    index = {name: i for i, name in enumerate(labels)}
    y = np.array([index.get(v, -1) if isinstance(v, str) else -1 for v in predictions["label"]])
    column = f"{model}_logits"
    if column not in predictions or not len(predictions):
        return np.zeros(len(predictions), bool), y >= 0
    logits = np.stack([np.asarray(v, dtype=float) for v in predictions[column]])
    return logits.argmax(axis=1) == y, y >= 0


def prediction_intervals(
    predictions, *, labels: Sequence[str], source_language: str | None, seed: int = SEED
) -> dict:
    """The intervals of a run's test predictions (one row per item: ``language``, ``label``
    and ``<model>_logits`` columns): ``{"languages": {language: {"<model>": [low, high],
    "kd_gain": Gain dict}}, "kd_gain": Gain dict or None}``, the last the mean over target
    languages (the headline's KD gain). Models without logits are left out."""
    models = [m for m in ("teacher", "student", "baseline") if f"{m}_logits" in predictions]
    right = {m: _correctness(predictions, labels, m) for m in models}
    out: dict = {"languages": {}, "kd_gain": None}
    pairs = {}
    for lang in sorted(set(predictions["language"])):
        in_lang = (predictions["language"] == lang).to_numpy()
        entry: dict = {}
        for m, (ok, scored) in right.items():
            mask = in_lang & scored
            if mask.any():
                entry[m] = list(accuracy_interval(ok[mask], seed=seed))
        if "student" in right and "baseline" in right:
            mask = in_lang & right["student"][1]
            pair = (right["student"][0][mask], right["baseline"][0][mask])
            gain = paired_gain(*pair, seed=seed)
            if gain is not None:
                entry["kd_gain"] = gain.to_dict()
                if lang != source_language:
                    pairs[lang] = pair
        if entry:
            out["languages"][lang] = entry
    gain = mean_gain(pairs, seed=seed)
    out["kd_gain"] = gain.to_dict() if gain is not None else None
    return out


def add_intervals(per_lang: dict, intervals: dict) -> None:
    """Each accuracy's bootstrap interval (``accuracy_ci``) and each language's paired KD gain
    (``kd_gain``) into the per-language block (:mod:`xkd.evaluate.intervals`)."""
    for lang, entry in per_lang.items():
        found = intervals["languages"].get(lang, {})
        for model, ci in found.items():
            if model == "kd_gain":
                entry["kd_gain"] = ci
            elif isinstance(entry.get(model), dict):
                entry[model]["accuracy_ci"] = ci
