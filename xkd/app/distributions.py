"""The Distributions page's data: teacher vs student (and baseline) predictions per example.

Input is a run's ``predictions.parquet`` frame (``text, language, label, pair_id`` and one
``<model>_logits`` column per model) and the label names; probabilities are
``softmax(logits / T)`` at the page's temperature. Missing inputs give empty frames.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from xkd.app.fmt import logit_matrix
from xkd.app.labels import MODELS
from xkd.evaluate import metrics as M


def prediction_table(predictions: pd.DataFrame | None, labels: Sequence[str], temperature=1.0):
    """Per-example predictions of teacher and student (and baseline) at temperature ``T``.

    Columns: ``row`` (position in predictions.parquet), ``text``, ``language``, ``label``,
    ``<model>_pred``, ``<model>_conf`` (max softened probability), ``<model>_correct``,
    ``agree`` (teacher and student argmax equal) and ``kl`` = KL(p_t ‖ p_s) at ``T``
    (nats, no T² factor; see :func:`xkd.evaluate.metrics.mean_kl`).
    """
    cols = ["row", "text", "language", "label", "agree", "kl"]
    if predictions is None or predictions.empty or "teacher_logits" not in predictions:
        return pd.DataFrame(columns=cols)
    labels = list(labels)
    out = predictions[["text", "language", "label"]].copy()
    out.insert(0, "row", np.arange(len(predictions)))
    probs = {}
    for model in MODELS:
        col = f"{model}_logits"
        if col not in predictions:
            continue
        logits = logit_matrix(predictions[col])
        p = M.softmax(logits, temperature)
        probs[model] = p
        pred = p.argmax(axis=1)
        names = [labels[i] if i < len(labels) else str(i) for i in pred]
        out[f"{model}_pred"] = names
        out[f"{model}_conf"] = p.max(axis=1)
        out[f"{model}_correct"] = [
            (lab is not None and lab == name) for lab, name in zip(out["label"], names)
        ]
    if "student" in probs:
        t_log = M.log_softmax(logit_matrix(predictions["teacher_logits"]), temperature)
        s_log = M.log_softmax(logit_matrix(predictions["student_logits"]), temperature)
        out["kl"] = np.maximum(np.sum(np.exp(t_log) * (t_log - s_log), axis=1), 0.0)
        out["agree"] = probs["teacher"].argmax(axis=1) == probs["student"].argmax(axis=1)
    else:
        out["kl"] = np.nan
        out["agree"] = np.nan
    return out.reset_index(drop=True)


def filter_predictions(
    table: pd.DataFrame,
    *,
    languages: Iterable[str] | None = None,
    correctness: str = "all",
    agreement: str = "all",
    text: str = "",
) -> pd.DataFrame:
    """Rows of a :func:`prediction_table` matching the filters.

    ``correctness``: ``all`` | ``student correct`` | ``student wrong`` | ``teacher wrong``;
    ``agreement``: ``all`` | ``agree`` | ``disagree``; ``text``: case-insensitive substring.
    """
    if table.empty:
        return table
    mask = pd.Series(True, index=table.index)
    langs = list(languages) if languages is not None else []
    if langs:
        mask &= table["language"].isin(langs)
    if correctness != "all":
        col = "teacher_correct" if correctness.startswith("teacher") else "student_correct"
        if col in table:
            want = correctness.endswith("correct")
            mask &= table[col].astype(bool) == want
    if agreement != "all" and "agree" in table:
        mask &= table["agree"].astype(bool) == (agreement == "agree")
    if text:
        mask &= table["text"].astype(str).str.contains(text, case=False, regex=False)
    return table[mask].reset_index(drop=True)


def example_bars(predictions: pd.DataFrame, row: int, labels: Sequence[str], temperature=1.0):
    """Mirrored bars of one example: ``label, model, probability, signed`` (teacher negative).

    ``signed`` is ``-p`` for the teacher and ``+p`` for the student so both can share one
    horizontal axis, teacher to the left and student to the right.
    """
    record = predictions.iloc[int(row)]
    rows = []
    for model, sign in (("teacher", -1.0), ("student", 1.0)):
        col = f"{model}_logits"
        if col not in predictions:
            continue
        p = M.softmax(np.asarray(record[col], dtype=np.float64), temperature)
        for i, prob in enumerate(p):
            name = labels[i] if i < len(labels) else str(i)
            rows.append({"label": name, "model": model, "probability": prob, "signed": sign * prob})
    return pd.DataFrame(rows, columns=["label", "model", "probability", "signed"])


def example_kl(predictions: pd.DataFrame, row: int, temperature=1.0) -> float:
    """KL(p_t ‖ p_s) of one example at temperature ``T`` (nats)."""
    record = predictions.iloc[int(row)]
    t = np.asarray(record["teacher_logits"], dtype=np.float64)[None, :]
    s = np.asarray(record["student_logits"], dtype=np.float64)[None, :]
    return M.mean_kl(t, s, temperature)


def confidence_frame(predictions, labels, temperature=1.0) -> pd.DataFrame:
    """``model, confidence, correct, language`` per example and model (for histograms)."""
    table = prediction_table(predictions, labels, temperature)
    frames = []
    for model in MODELS:
        if f"{model}_conf" not in table:
            continue
        frames.append(
            pd.DataFrame(
                {
                    "model": model,
                    "confidence": table[f"{model}_conf"].astype(float),
                    "correct": table[f"{model}_correct"].astype(bool),
                    "language": table["language"],
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=["model", "confidence", "correct", "language"])
    return pd.concat(frames, ignore_index=True)


def reliability_frame(
    predictions, labels, *, n_bins: int = 10, languages=None, temperature: float = 1.0
) -> pd.DataFrame:
    """Reliability diagram data per model: ``model, bin, confidence, accuracy, count``.

    Probabilities are ``softmax(logits / T)``; only labelled rows count; bins as in
    :func:`xkd.evaluate.metrics.reliability_curve`.
    """
    cols = ["model", "bin", "confidence", "accuracy", "count"]
    if predictions is None or predictions.empty:
        return pd.DataFrame(columns=cols)
    index = {name: i for i, name in enumerate(labels)}
    preds = predictions
    if languages:
        preds = preds[preds["language"].isin(list(languages))]
    y = np.array([index.get(v, -1) if isinstance(v, str) else -1 for v in preds["label"]])
    keep = y >= 0
    if not keep.any():
        return pd.DataFrame(columns=cols)
    frames = []
    for model in MODELS:
        col = f"{model}_logits"
        if col not in preds:
            continue
        probs = M.softmax(logit_matrix(preds[col])[keep], temperature)
        curve = M.reliability_curve(probs, y[keep], n_bins=n_bins)
        curve.insert(0, "model", model)
        frames.append(curve)
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)


def agreement_frame(predictions, labels, temperature=1.0) -> pd.DataFrame:
    """Per language: ``n``, teacher-student ``agreement``, mean ``KL`` at T, accuracies."""
    cols = ["language", "n", "agreement", "mean KL", "teacher accuracy", "student accuracy"]
    table = prediction_table(predictions, labels, temperature)
    if table.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for lang, part in table.groupby("language", sort=True):
        labelled = part[part["label"].notna()]
        rows.append(
            {
                "language": lang,
                "n": len(part),
                "agreement": float(part["agree"].astype(float).mean()),
                "mean KL": float(part["kl"].astype(float).mean()),
                "teacher accuracy": float(labelled["teacher_correct"].mean())
                if len(labelled)
                else float("nan"),
                "student accuracy": float(labelled["student_correct"].mean())
                if len(labelled) and "student_correct" in labelled
                else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=cols)
