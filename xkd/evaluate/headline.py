"""The headline of a run: computed once, here, from the per-language scores of ``eval.json``.

Every reader (``xkd runs``, the app's pages, the result of :func:`xkd.train`) takes these numbers
from ``eval.json["headline"]``; nothing else averages accuracies into a headline.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["Headline"]


def _accuracy(entry: Any, model: str) -> float | None:
    if not isinstance(entry, dict) or not isinstance(entry.get(model), dict):
        return None
    try:
        value = float(entry[model]["accuracy"])
    except (KeyError, TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _gain_fields(gain: dict | None) -> dict:
    if not gain:
        return {}
    return {
        "kd_gain_low": gain["low"],
        "kd_gain_high": gain["high"],
        "kd_gain_p": gain["p"],
        "kd_gain_significant": gain["significant"],
    }


@dataclass(frozen=True)
class Headline:
    """The few numbers a run is judged by (accuracies are fractions in [0, 1]).

    - ``student_target_accuracy``, ``baseline_target_accuracy``, ``teacher_target_accuracy``:
      mean test accuracy over the target languages of the KD student, the no-KD baseline and
      the teacher;
    - ``kd_gain``: ``student_target_accuracy - baseline_target_accuracy`` (what KD bought);
    - ``teacher_source_accuracy``, ``student_source_accuracy`` and ``source_kept`` (their ratio):
      how much of the teacher's source-language accuracy the student keeps;
    - ``targets_above_prior`` of ``n_targets``: target languages where the student beats the
      majority-class share;
    - ``kd_gain_low``, ``kd_gain_high``, ``kd_gain_p``, ``kd_gain_significant``: the KD gain's
      95 % paired bootstrap interval, p-value and whether the interval excludes 0
      (:func:`xkd.evaluate.intervals.mean_gain`; None in runs evaluated before intervals).
    """

    student_target_accuracy: float | None = None
    baseline_target_accuracy: float | None = None
    teacher_target_accuracy: float | None = None
    kd_gain: float | None = None
    teacher_source_accuracy: float | None = None
    student_source_accuracy: float | None = None
    source_kept: float | None = None
    targets_above_prior: int | None = None
    n_targets: int | None = None
    kd_gain_low: float | None = None
    kd_gain_high: float | None = None
    kd_gain_p: float | None = None
    kd_gain_significant: bool | None = None

    @classmethod
    def compute(
        cls, languages: dict, source_language: str | None, *, gain: dict | None = None
    ) -> Headline:
        """From ``eval.json``'s ``languages`` block (``{lang: {model: {accuracy}}, prior}``)
        and the mean KD gain's interval ``gain`` (a :class:`~xkd.evaluate.intervals.Gain` dict)."""
        targets = [lang for lang in languages if lang != source_language]
        student = _mean([_accuracy(languages[t], "student") for t in targets])
        baseline = _mean([_accuracy(languages[t], "baseline") for t in targets])
        teacher = _mean([_accuracy(languages[t], "teacher") for t in targets])
        src = languages.get(source_language, {}) if source_language else {}
        t_src, s_src = _accuracy(src, "teacher"), _accuracy(src, "student")
        beats = [
            _accuracy(languages[t], "student") > float(languages[t].get("prior", 0.0))
            for t in targets
            if _accuracy(languages[t], "student") is not None
        ]
        return cls(
            student_target_accuracy=student,
            baseline_target_accuracy=baseline,
            teacher_target_accuracy=teacher,
            kd_gain=student - baseline if student is not None and baseline is not None else None,
            teacher_source_accuracy=t_src,
            student_source_accuracy=s_src,
            source_kept=s_src / t_src if t_src and s_src is not None else None,
            targets_above_prior=int(sum(beats)) if beats else None,
            n_targets=len(beats) if beats else None,
            **_gain_fields(gain if student is not None and baseline is not None else None),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Headline:
        """Strict: a key this version does not know is an error (a newer run folder)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown headline field(s) {', '.join(unknown)}")
        return cls(**data)
