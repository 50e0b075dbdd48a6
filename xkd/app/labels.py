"""One on-screen label per concept, shared by every page (and one colour per model).

Frames computed in :mod:`xkd.app` keep the internal model keys (``teacher``, ``student``,
``baseline``, as in eval.json and the parquet files); pages turn them into these labels with
:func:`with_model_labels` just before drawing, so a legend, a column header and a metric all
say the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xkd.app import fmt

#: Internal model keys, in display order.
MODELS = ("teacher", "student", "baseline")

TEACHER = "teacher"
STUDENT = "KD student"
BASELINE = "no-KD baseline"
MODEL_LABELS = {"teacher": TEACHER, "student": STUDENT, "baseline": BASELINE}

#: Colours per model key, shared by every chart (distinct in light and dark themes).
MODEL_COLORS = {"teacher": "#7c5cff", "student": "#16a085", "baseline": "#e67e22"}
#: The same colours keyed by label, for charts whose ``model`` column holds labels.
LABEL_COLORS = {MODEL_LABELS[m]: c for m, c in MODEL_COLORS.items()}

KD_GAIN = "KD gain"
KD_GAIN_HELP = (
    f"mean target-language accuracy of the {STUDENT} minus the {BASELINE}, in percentage points"
)
KD_GAIN_INTERVAL = "KD gain, 95 % interval"
SIGNIFICANT_HELP = (
    "whether the paired bootstrap 95 % interval of the KD gain (the same test items resampled "
    "for both students) excludes 0, with its two-sided bootstrap p-value"
)
INTERVALS_NOTE = (
    "Brackets and error bars: 95 % bootstrap intervals (4000 resamples of the test items; the "
    "KD gain resamples the same items for both students). Small test sets give wide intervals."
)
TEACHER_KEPT = "% of teacher kept"
TEACHER_KEPT_HELP = f"{STUDENT} accuracy / {TEACHER} accuracy on the source language, × 100"
TRANSFER_RATIO = "transfer ratio"
STUDENT_TARGETS = f"{STUDENT}, target languages"
BASELINE_TARGETS = f"{BASELINE}, target languages"
PRIOR = "majority prior"
PRIOR_HELP = "share of the most frequent label (the accuracy of always guessing it)"


def model_label(model: str) -> str:
    """The on-screen label of a model key (unknown keys are returned as they are)."""
    return MODEL_LABELS.get(model, model)


def with_model_labels(frame, column: str = "model"):
    """A copy of ``frame`` whose ``column`` holds labels instead of model keys."""
    if column not in frame:
        return frame
    return frame.assign(**{column: frame[column].map(model_label)})


def transfer_ratio_help(source: str | None) -> str:
    """What the transfer ratio of a target language means, naming the source language."""
    src = source or "the source language"
    return (
        f"{STUDENT} accuracy on the target language / {TEACHER} accuracy on the same items "
        f"(same pair_id) in {src}, × 100. It compares the student abroad with the teacher at "
        f"home; above 100 % means the {STUDENT} does better on the target language than the "
        f"{TEACHER} does on the same sentences in {src}."
    )


@dataclass(frozen=True)
class HeadlineMetric:
    """One metric of the headline row: its label, the value as text and a help line."""

    label: str
    value: str
    help: str
    #: a line under the value (the KD gain's 95 % interval), "" for none
    detail: str = ""


def _gain_help(value) -> str:
    if value("kd_gain_low") is None:
        return " (this run was evaluated before intervals: `xkd eval RUN` adds them)"
    sig = fmt.significance(value("kd_gain_significant"), value("kd_gain_p"))
    return f"; 95 % paired bootstrap interval below; significant: {sig}"


def headline_metrics(headline: Any) -> list[HeadlineMetric]:
    """The headline row of a run (an :class:`xkd.runs.schema.Headline`, or ``None``).

    Four metrics: KD student and no-KD baseline accuracy on the target languages, the KD
    gain in points and the % of teacher kept on the source language; missing values read
    :data:`xkd.app.fmt.DASH`.
    """

    def value(name: str) -> Any:
        return getattr(headline, name, None) if headline is not None else None

    kept = value("source_kept")
    above, n_targets = value("targets_above_prior"), value("n_targets")
    beats = f"; above the {PRIOR} on {above} of {n_targets}" if n_targets else ""
    return [
        HeadlineMetric(
            STUDENT_TARGETS,
            fmt.pct(value("student_target_accuracy")),
            f"mean test accuracy of the {STUDENT} over the target languages{beats}",
        ),
        HeadlineMetric(
            BASELINE_TARGETS,
            fmt.pct(value("baseline_target_accuracy")),
            "the same student architecture trained on source labels only, without the teacher",
        ),
        HeadlineMetric(
            KD_GAIN,
            fmt.points(value("kd_gain")),
            KD_GAIN_HELP + _gain_help(value),
            fmt.gain_interval(value("kd_gain_low"), value("kd_gain_high")),
        ),
        HeadlineMetric(
            TEACHER_KEPT, fmt.pct(kept), TEACHER_KEPT_HELP + " (100 % = as good as the teacher)"
        ),
    ]
