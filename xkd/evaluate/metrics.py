"""Evaluation metrics as pure numpy functions (no torch).

Labels may be any hashable values (ints or strings); logits and probabilities are 2-D arrays
``[N, C]``; embeddings are 2-D arrays ``[N, D]``. Every function accepts array-likes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "accuracy",
    "agreement",
    "cosine_matrix",
    "expected_calibration_error",
    "log_softmax",
    "macro_f1",
    "majority_prior",
    "mean_kl",
    "nearest_neighbours",
    "pair_cosine",
    "reliability_curve",
    "retrieval_at_1",
    "softmax",
]

_EPS = 1e-12


def _labels_1d(y, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = _labels_1d(y_true, "y_true")
    p = _labels_1d(y_pred, "y_pred")
    if t.shape[0] != p.shape[0]:
        raise ValueError(f"y_true has {t.shape[0]} items but y_pred has {p.shape[0]}")
    return t, p


def _logits_2d(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D [N, C], got shape {arr.shape}")
    return arr


def accuracy(y_true, y_pred) -> float:
    """Share of correct predictions.

    ``accuracy = (1/N) * sum_i [y_pred_i == y_true_i]``; ``nan`` when ``N == 0``.
    """
    t, p = _pair(y_true, y_pred)
    if t.shape[0] == 0:
        return float("nan")
    return float(np.mean(t == p))


def macro_f1(y_true, y_pred, labels: Sequence | None = None) -> float:
    """Unweighted mean of per-label F1 scores.

    For each label ``c``: ``TP_c = #{y_true=c, y_pred=c}``, ``FP_c = #{y_true!=c, y_pred=c}``,
    ``FN_c = #{y_true=c, y_pred!=c}`` and ``F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c)``
    (0 when the denominator is 0). ``macro_f1 = (1/|L|) * sum_{c in L} F1_c``.

    ``L`` is ``labels`` when given (a label in ``labels`` that never occurs scores 0, as in
    scikit-learn); otherwise ``L`` is the set of labels that appear in ``y_true`` or ``y_pred``.
    ``nan`` when ``N == 0`` and no labels are given.
    """
    t, p = _pair(y_true, y_pred)
    if labels is None:
        label_set = list(dict.fromkeys([*t.tolist(), *p.tolist()]))
    else:
        label_set = list(labels)
    if not label_set:
        return float("nan")
    scores = []
    for c in label_set:
        tc = t == c
        pc = p == c
        tp = float(np.sum(tc & pc))
        fp = float(np.sum(~tc & pc))
        fn = float(np.sum(tc & ~pc))
        denom = 2 * tp + fp + fn
        scores.append(2 * tp / denom if denom > 0 else 0.0)
    return float(np.mean(scores))


def majority_prior(y) -> float:
    """Share of the most frequent class in ``y``: ``max_c #{y_i = c} / N``.

    This is the accuracy of always predicting the majority class of ``y``; pass training
    labels for the train-majority baseline or test labels for the test-set prior.
    ``nan`` when ``y`` is empty.
    """
    arr = _labels_1d(y, "y")
    if arr.shape[0] == 0:
        return float("nan")
    counts = Counter(arr.tolist())
    return float(max(counts.values()) / arr.shape[0])


def log_softmax(logits, temperature: float = 1.0) -> np.ndarray:
    """Row-wise ``log softmax(z / T)``, computed stably: ``z/T - logsumexp(z/T)``."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = _logits_2d(logits, "logits") / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax with temperature: ``p_ij = exp(z_ij / T) / sum_k exp(z_ik / T)``.

    Accepts ``[C]`` (returns ``[C]``) or ``[N, C]``.
    """
    arr = np.asarray(logits, dtype=np.float64)
    if arr.ndim == 1:
        return np.exp(log_softmax(arr[None, :], temperature))[0]
    return np.exp(log_softmax(arr, temperature))


def _logit_pair(teacher_logits, student_logits) -> tuple[np.ndarray, np.ndarray]:
    """Both logit matrices as 2-D float arrays of one shape (ValueError otherwise)."""
    t = _logits_2d(teacher_logits, "teacher_logits")
    s = _logits_2d(student_logits, "student_logits")
    if t.shape != s.shape:
        raise ValueError(f"teacher logits {t.shape} and student logits {s.shape} differ")
    return t, s


def agreement(teacher_logits, student_logits) -> float:
    """Share of rows where teacher and student predict the same class.

    ``agreement = (1/N) * sum_i [argmax_j t_ij == argmax_j s_ij]``; ``nan`` when ``N == 0``.
    """
    t, s = _logit_pair(teacher_logits, student_logits)
    if t.shape[0] == 0:
        return float("nan")
    return float(np.mean(t.argmax(axis=1) == s.argmax(axis=1)))


def mean_kl(teacher_logits, student_logits, temperature: float = 1.0) -> float:
    """Mean over rows of ``KL(p_t || p_s)`` with both distributions at temperature ``T``.

    ``p_t = softmax(t / T)``, ``p_s = softmax(s / T)``,
    ``KL_i = sum_j p_t,ij * (log p_t,ij - log p_s,ij)`` and ``mean_kl = (1/N) sum_i KL_i``
    (natural log, nats; no ``T^2`` factor). ``nan`` when ``N == 0``.
    """
    t, s = _logit_pair(teacher_logits, student_logits)
    if t.shape[0] == 0:
        return float("nan")
    log_pt = log_softmax(t, temperature)
    log_ps = log_softmax(s, temperature)
    pt = np.exp(log_pt)
    kl = np.sum(pt * (log_pt - log_ps), axis=1)
    return float(np.mean(np.maximum(kl, 0.0)))


def _calibration_bins(probs, y_true, n_bins: int):
    p = _logits_2d(probs, "probs")
    y = _labels_1d(y_true, "y_true")
    if p.shape[0] != y.shape[0]:
        raise ValueError(f"probs has {p.shape[0]} rows but y_true has {y.shape[0]} items")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y.astype(np.int64)).astype(np.float64)
    # Bin b covers (b/n, (b+1)/n]; confidence 0 goes to bin 0. The tolerance keeps values on
    # an edge in the lower bin despite rounding (0.7 * 10 == 7.000000000000001).
    idx = np.clip(np.ceil(conf * n_bins - 1e-9).astype(np.int64) - 1, 0, n_bins - 1)
    return conf, correct, idx


def expected_calibration_error(probs, y_true, n_bins: int = 10) -> float:
    """Expected calibration error with ``n_bins`` equal-width confidence bins.

    ``conf_i = max_j p_ij``, ``correct_i = [argmax_j p_ij == y_i]`` (``y_true`` holds class
    indices). Bin ``b`` holds rows with ``conf_i in (b/n, (b+1)/n]``.
    ``ECE = sum_b (|B_b| / N) * |acc(B_b) - conf(B_b)|`` where ``acc`` and ``conf`` are the
    means of ``correct`` and ``conf`` over the bin. ``nan`` when ``N == 0``.
    """
    conf, correct, idx = _calibration_bins(probs, y_true, n_bins)
    n = conf.shape[0]
    if n == 0:
        return float("nan")
    ece = 0.0
    for b in range(n_bins):
        mask = idx == b
        m = int(mask.sum())
        if m == 0:
            continue
        ece += (m / n) * abs(float(correct[mask].mean()) - float(conf[mask].mean()))
    return float(ece)


def reliability_curve(probs, y_true, n_bins: int = 10) -> pd.DataFrame:
    """Per-bin data for a reliability diagram (same bins as :func:`expected_calibration_error`).

    Returns a DataFrame with one row per bin: ``bin`` (0..n_bins-1), ``confidence`` (mean
    ``conf_i`` in the bin), ``accuracy`` (mean ``correct_i``) and ``count``. Empty bins have
    ``count == 0`` and ``nan`` confidence and accuracy.
    """
    conf, correct, idx = _calibration_bins(probs, y_true, n_bins)
    rows = []
    for b in range(n_bins):
        mask = idx == b
        m = int(mask.sum())
        rows.append(
            {
                "bin": b,
                "confidence": float(conf[mask].mean()) if m else float("nan"),
                "accuracy": float(correct[mask].mean()) if m else float("nan"),
                "count": m,
            }
        )
    return pd.DataFrame(rows, columns=["bin", "confidence", "accuracy", "count"])


def _normalize_rows(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D [N, D], got shape {arr.shape}")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.maximum(norms, _EPS)


def cosine_matrix(a, b) -> np.ndarray:
    """Pairwise cosine similarities ``S_ij = a_i . b_j / (|a_i| |b_j|)`` (zero rows give 0)."""
    an = _normalize_rows(a, "a")
    bn = _normalize_rows(b, "b")
    if an.shape[1] != bn.shape[1]:
        raise ValueError(f"dimensions differ: {an.shape[1]} vs {bn.shape[1]}")
    return an @ bn.T


def retrieval_at_1(src_emb, tgt_emb) -> dict[str, float]:
    """Bitext retrieval accuracy at 1 with cosine similarity.

    Rows are aligned: ``src_i`` is the translation of ``tgt_i``. With ``S = cos(src, tgt)``:
    ``src_to_tgt = (1/N) sum_i [argmax_j S_ij == i]`` and
    ``tgt_to_src = (1/N) sum_j [argmax_i S_ij == j]``. Ties go to the lowest index.
    Values are ``nan`` when ``N == 0``.
    """
    s = np.asarray(src_emb)
    t = np.asarray(tgt_emb)
    if s.shape[0] != t.shape[0]:
        raise ValueError(f"src has {s.shape[0]} rows but tgt has {t.shape[0]}")
    if s.shape[0] == 0:
        return {"src_to_tgt": float("nan"), "tgt_to_src": float("nan")}
    sim = cosine_matrix(s, t)
    gold = np.arange(sim.shape[0])
    return {
        "src_to_tgt": float(np.mean(sim.argmax(axis=1) == gold)),
        "tgt_to_src": float(np.mean(sim.argmax(axis=0) == gold)),
    }


def pair_cosine(src_emb, tgt_emb) -> float:
    """Mean cosine of aligned rows: ``(1/N) sum_i cos(src_i, tgt_i)``; ``nan`` when ``N == 0``."""
    s = _normalize_rows(src_emb, "src_emb")
    t = _normalize_rows(tgt_emb, "tgt_emb")
    if s.shape != t.shape:
        raise ValueError(f"src {s.shape} and tgt {t.shape} shapes differ")
    if s.shape[0] == 0:
        return float("nan")
    return float(np.mean(np.sum(s * t, axis=1)))


def nearest_neighbours(query_emb, pool_emb, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` pool rows with the highest cosine similarity to each query row.

    Returns ``(indices, scores)``, both ``[Q, k']`` with ``k' = min(k, P)``, sorted by
    decreasing cosine (ties by lower index). A 1-D query is treated as one row.
    """
    q = np.asarray(query_emb, dtype=np.float64)
    if q.ndim == 1:
        q = q[None, :]
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    sim = cosine_matrix(q, pool_emb)
    kk = min(k, sim.shape[1])
    order = np.argsort(-sim, axis=1, kind="stable")[:, :kk]
    scores = np.take_along_axis(sim, order, axis=1)
    return order, scores
