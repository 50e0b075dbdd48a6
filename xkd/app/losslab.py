"""The Loss lab: every prediction-loss term for one hand-typed example, with its gradient.

Given teacher logits ``t``, student logits ``s`` (one example, C classes), a hard label ``y``,
a temperature ``T``, the hard-label weight ``alpha`` and the focal ``gamma``, compute

- each distillation term (``kl``, ``soft_ce``, ``mse_logits``, ``focal_kd`` and, for two
  classes, ``binary_soft_ce``, the worked example's ``-p ln q``) and the hard cross-entropy,
- the total ``alpha * hard + (1 - alpha) * soft`` for the chosen soft term,
- each term's share of that total,
- the gradient of every term and of the total with respect to the student logits (autograd).

Every value comes from the pure functions of :mod:`xkd.losses`; no formula is re-implemented
here. :data:`WORKED_EXAMPLE` reproduces the project's worked example (teacher p = 0.6, student
q = 0.5, alpha = 0.5 -> total 0.554).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

SOFT_TERMS = ("kl", "soft_ce", "mse_logits", "focal_kd", "binary_soft_ce")
HARD_TERM = "hard_ce"

#: One line per term for the page.
TERM_HELP = {
    "kl": "T² · KL(softmax(t/T) ‖ softmax(s/T)) (Hinton et al. 2015)",
    "soft_ce": "T² · (−Σ p log q), p = softmax(t/T), q = softmax(s/T)",
    "mse_logits": "mean over classes of (s/T − t/T)² (Ba & Caruana 2014)",
    "focal_kd": "T² · (−Σ p (1 − q)^γ log q) (focal weighting, Lin et al. 2017)",
    "binary_soft_ce": "−p ln q for class 1 only (the worked example's term; two classes)",
    "hard_ce": "−log softmax(s)[y] at T = 1 (hard label)",
}

#: The project's worked example: binary task, teacher p(class 1) = 0.6, student q = 0.5,
#: hard label 1, alpha = 0.5, T = 1, soft term ``-p ln q`` -> 0.5*0.693 + 0.5*0.416 = 0.554.
WORKED_EXAMPLE: dict[str, Any] = {
    "teacher_logits": [0.0, math.log(0.6 / 0.4)],
    "student_logits": [0.0, 0.0],
    "label": 1,
    "temperature": 1.0,
    "alpha": 0.5,
    "gamma": 2.0,
    "soft": "binary_soft_ce",
}


@dataclass
class TermResult:
    """One loss term: its value, its weight and share in the total, and d term / d s."""

    name: str
    value: float
    weight: float  # weight in the total (alpha, 1 - alpha, or 0 when not in the total)
    contribution: float  # weight * value
    share: float | None  # contribution / total (None when not in the total or total == 0)
    grad: list[float]  # d value / d student_logits
    help: str = ""


@dataclass
class LossLabResult:
    soft: str
    temperature: float
    alpha: float
    gamma: float
    label: int
    total: float
    total_grad: list[float]
    terms: list[TermResult]
    teacher_probs: list[float]  # softmax(t / T)
    student_probs: list[float]  # softmax(s / T)
    notes: list[str] = field(default_factory=list)

    def term(self, name: str) -> TermResult:
        for t in self.terms:
            if t.name == name:
                return t
        raise KeyError(name)

    def frame(self):
        """One row per term: value, weight, contribution, share and gradient (a DataFrame)."""
        import pandas as pd

        rows = []
        for t in self.terms:
            rows.append(
                {
                    "term": t.name,
                    "value": t.value,
                    "weight": t.weight,
                    "contribution": t.contribution,
                    "share of total": t.share,
                    "gradient on student logits": _fmt_vec(t.grad),
                    "formula": t.help,
                }
            )
        rows.append(
            {
                "term": "total",
                "value": self.total,
                "weight": None,
                "contribution": self.total,
                "share of total": 1.0 if self.total else None,
                "gradient on student logits": _fmt_vec(self.total_grad),
                "formula": f"{self.alpha:g} · hard_ce + {1 - self.alpha:g} · {self.soft}",
            }
        )
        return pd.DataFrame(rows)

    def gradient_frame(self, class_names: list[str] | None = None):
        """Long frame (class, term, gradient) for a grouped bar chart."""
        import pandas as pd

        names = class_names or [str(i) for i in range(len(self.total_grad))]
        rows = []
        for t in [*self.terms, TermResult("total", self.total, 1, self.total, 1, self.total_grad)]:
            for c, g in zip(names, t.grad):
                rows.append({"class": c, "term": t.name, "gradient": g})
        return pd.DataFrame(rows)


def _fmt_vec(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:+.4f}" for v in values) + "]"


def parse_logits(text: str) -> list[float]:
    """``"1.0, -0.5 2"`` -> ``[1.0, -0.5, 2.0]``; ValueError with a readable message."""
    parts = [p for p in text.replace(",", " ").replace(";", " ").split() if p]
    if not parts:
        raise ValueError("enter at least two numbers, e.g. 2.0, 0.5, -1.0")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"not a list of numbers: {text!r} (use e.g. 2.0, 0.5, -1.0)") from None
    if any(math.isnan(v) or math.isinf(v) for v in values):
        raise ValueError("logits must be finite numbers")
    return values


def _check(teacher, student, label, temperature, alpha, gamma, soft) -> None:
    if len(teacher) != len(student):
        raise ValueError(
            f"teacher has {len(teacher)} logits but student has {len(student)}; "
            "give one logit per class to both"
        )
    if len(teacher) < 2:
        raise ValueError("give at least two classes (two logits each)")
    if not 0 <= int(label) < len(teacher):
        raise ValueError(f"label must be a class index 0..{len(teacher) - 1}, got {label}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be within [0, 1], got {alpha}")
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    if soft not in SOFT_TERMS:
        raise ValueError(f"unknown soft term {soft!r}; use one of {', '.join(SOFT_TERMS)}")
    if soft == "binary_soft_ce" and len(teacher) != 2:
        raise ValueError("binary_soft_ce needs exactly two classes (it scores class 1 only)")


def _term_fns(temperature: float, gamma: float, n_classes: int) -> dict:
    import torch

    from xkd.losses.focal_kd import focal_soft_cross_entropy
    from xkd.losses.kl import kl_divergence
    from xkd.losses.mse_logits import mse_logits
    from xkd.losses.soft_ce import binary_soft_ce, soft_cross_entropy

    fns = {
        "kl": lambda s, t: kl_divergence(s, t, temperature),
        "soft_ce": lambda s, t: soft_cross_entropy(s, t, temperature),
        "mse_logits": lambda s, t: mse_logits(s, t, temperature),
        "focal_kd": lambda s, t: focal_soft_cross_entropy(s, t, temperature, gamma),
    }
    if n_classes == 2:

        def _binary(s, t):
            p = torch.softmax(t / temperature, dim=-1)[..., 1]
            q = torch.softmax(s / temperature, dim=-1)[..., 1]
            return binary_soft_ce(p, q)

        fns["binary_soft_ce"] = _binary
    return fns


def loss_terms(
    teacher_logits: list[float],
    student_logits: list[float],
    label: int,
    *,
    temperature: float = 1.0,
    alpha: float = 0.5,
    gamma: float = 2.0,
    soft: str = "kl",
) -> LossLabResult:
    """Every term's value, share of the total and gradient on the student logits.

    ``soft`` picks the distillation term in the total ``alpha*hard + (1-alpha)*soft``; the
    other soft terms are still computed (weight 0) for comparison. Raises ``ValueError`` for
    inconsistent inputs (the page shows the message).
    """
    import torch

    from xkd.losses.ce import hard_cross_entropy
    from xkd.losses.recipe import combine_hard_soft

    teacher = [float(v) for v in teacher_logits]
    student = [float(v) for v in student_logits]
    temperature, alpha, gamma = float(temperature), float(alpha), float(gamma)
    _check(teacher, student, label, temperature, alpha, gamma, soft)
    n = len(teacher)
    t = torch.tensor([teacher], dtype=torch.float64)
    y = torch.tensor([int(label)])
    fns = _term_fns(temperature, gamma, n)

    def value_and_grad(fn) -> tuple[float, list[float]]:
        s = torch.tensor([student], dtype=torch.float64, requires_grad=True)
        out = fn(s)
        (grad,) = torch.autograd.grad(out, s)
        return float(out.detach()), [float(g) for g in grad[0]]

    results: dict[str, tuple[float, list[float]]] = {}
    results[HARD_TERM] = value_and_grad(lambda s: hard_cross_entropy(s, y))
    for name, fn in fns.items():
        results[name] = value_and_grad(lambda s, fn=fn: fn(s, t))

    def total_fn(s):
        soft_value = fns[soft](s, t)
        hard = hard_cross_entropy(s, y) if alpha > 0 else None
        return combine_hard_soft(soft_value, hard, alpha)

    total, total_grad = value_and_grad(total_fn)
    weights = {HARD_TERM: alpha, soft: 1.0 - alpha}
    terms = []
    for name in (HARD_TERM, *fns):
        value, grad = results[name]
        weight = weights.get(name, 0.0)
        contribution = weight * value
        in_total = name in weights
        share = contribution / total if in_total and total != 0 else None
        terms.append(
            TermResult(name, value, weight, contribution, share, grad, TERM_HELP.get(name, ""))
        )
    notes = []
    if soft in ("kl", "soft_ce", "focal_kd") and temperature != 1:
        notes.append(
            f"{soft} is multiplied by T² = {temperature**2:g} so its gradients keep their size "
            "across temperatures (Hinton et al. 2015)."
        )
    if soft == "mse_logits" and temperature != 1:
        notes.append("mse_logits divides both logits by T, scaling the term by 1/T² here.")
    with torch.no_grad():
        pt = torch.softmax(t[0] / temperature, dim=-1).tolist()
        ps = torch.softmax(torch.tensor(student, dtype=torch.float64) / temperature, -1).tolist()
    return LossLabResult(
        soft=soft,
        temperature=temperature,
        alpha=alpha,
        gamma=gamma,
        label=int(label),
        total=total,
        total_grad=total_grad,
        terms=terms,
        teacher_probs=pt,
        student_probs=ps,
        notes=notes,
    )


def worked_example() -> LossLabResult:
    """:func:`loss_terms` on :data:`WORKED_EXAMPLE` (total 0.5545, the project's 0.554)."""
    ex = dict(WORKED_EXAMPLE)
    return loss_terms(ex.pop("teacher_logits"), ex.pop("student_logits"), ex.pop("label"), **ex)


def probs_frame(result: LossLabResult, class_names: list[str] | None = None):
    """Long frame (class, model, probability) of the softened distributions at T."""
    import pandas as pd

    names = class_names or [str(i) for i in range(len(result.teacher_probs))]
    rows = [
        {"class": c, "model": "teacher", "probability": p}
        for c, p in zip(names, result.teacher_probs)
    ] + [
        {"class": c, "model": "student", "probability": p}
        for c, p in zip(names, result.student_probs)
    ]
    return pd.DataFrame(rows)


def feature_mse(
    student_vector: list[float],
    teacher_vector: list[float],
    weight: list[list[float]] | None = None,
) -> tuple[float, list[float]]:
    """``MSE(W h_s, h_t)`` for one pooled vector pair, and its gradient on ``h_s``.

    ``weight`` is W ``[Ht, Hs]`` (None = identity; the widths must then match). Uses
    :func:`xkd.losses.hidden_mse.mean_pool_mse` with one token per side, i.e. the
    ``hidden_mse`` term with ``align=mean``: ``mean((W h_s - h_t)^2)`` = ‖W h_s − h_t‖² / Ht.
    """
    import torch

    from xkd.losses.hidden_mse import mean_pool_mse

    hs = torch.tensor([[student_vector]], dtype=torch.float32, requires_grad=True)  # [1, 1, Hs]
    ht = torch.tensor([[teacher_vector]], dtype=torch.float32)
    w = torch.tensor(weight, dtype=torch.float32) if weight is not None else None
    if w is None and hs.shape[-1] != ht.shape[-1]:
        raise ValueError("without W the student and teacher vectors need the same length")
    if w is not None and tuple(w.shape) != (ht.shape[-1], hs.shape[-1]):
        raise ValueError(
            f"W must be {ht.shape[-1]}×{hs.shape[-1]} (teacher width × student width), "
            f"got {tuple(w.shape)}"
        )
    ones = torch.ones(1, 1, dtype=torch.float32)
    out = mean_pool_mse(hs, ht, ones, ones, w)
    (grad,) = torch.autograd.grad(out, hs)
    return float(out.detach()), [float(g) for g in grad[0, 0]]
