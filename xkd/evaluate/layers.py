"""The layer-mapping assistant: which teacher layer should each student layer learn from?

Both models read the same few hundred sentences (the student's training inputs: translations
and source sentences); every layer's token states are mean-pooled over the real tokens
(layer 0 = the embeddings), and linear CKA (:func:`xkd.evaluate.health.linear_cka`) is computed
for every teacher layer x student layer pair. :func:`suggest_layer_map` then picks the monotone
mapping of the student blocks ``1..Ls`` onto teacher blocks with the highest total CKA (dynamic
programming: teacher blocks strictly increase when the student is not deeper than the teacher,
else they never decrease). The widths say whether ``hidden_mse`` needs a projection.

Example::

    report = layer_report(teacher, student, texts, max_length=64)
    print(report.format())
    recipe = [{"name": "hidden_mse", "params": {"layer_map": report.suggested}}]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xkd.evaluate.health import linear_cka

__all__ = ["LayerReport", "cka_matrix", "layer_report", "mean_states", "suggest_layer_map"]


def mean_states(model, texts: list[str], max_length: int) -> list[np.ndarray]:
    """``[N, H]`` mean-pooled token states of every layer ``0..L`` of ``model``."""
    layers = list(range(model.num_layers + 1))
    out = model.infer(texts, max_length=max_length, outputs=(), hidden_layers=layers)
    return [np.stack([s.float().mean(0).numpy() for s in out.hidden[k]]) for k in layers]


def cka_matrix(teacher: list[np.ndarray], student: list[np.ndarray]) -> np.ndarray:
    """``[Lt + 1, Ls + 1]`` linear CKA of every teacher layer (rows) x student layer (columns)."""
    return np.array([[linear_cka(t, s) for s in student] for t in teacher])


def suggest_layer_map(cka: np.ndarray) -> list[list[int]]:
    """The monotone ``[[student, teacher], ...]`` map of student blocks 1..Ls onto teacher
    blocks 1..Lt with the highest total CKA (``cka`` as from :func:`cka_matrix`)."""
    score = np.nan_to_num(np.asarray(cka, dtype=np.float64)[1:, 1:], nan=-1.0)
    lt, ls = score.shape
    strict = ls <= lt
    best = np.full((ls, lt), -np.inf)
    back = np.zeros((ls, lt), dtype=int)
    best[0] = score[:, 0]
    for s in range(1, ls):
        for t in range(lt):
            prev = best[s - 1, :t] if strict else best[s - 1, : t + 1]
            if prev.size and np.isfinite(prev.max()):
                back[s, t] = int(prev.argmax())
                best[s, t] = prev.max() + score[t, s]
    t = int(best[-1].argmax())
    pairs = [t]
    for s in range(ls - 1, 0, -1):
        t = back[s, t]
        pairs.append(t)
    return [[s + 1, int(t) + 1] for s, t in enumerate(reversed(pairs))]


@dataclass
class LayerReport:
    """What the assistant found: ``cka`` (teacher x student, layer 0 = embeddings), the
    suggested and the default (evenly spread) maps, the widths and the texts used."""

    cka: np.ndarray
    suggested: list[list[int]]
    default: list[list[int]]
    teacher_width: int
    student_width: int
    n_texts: int

    @property
    def projection_needed(self) -> bool:
        return self.teacher_width != self.student_width

    def score(self, layer_map: list[list[int]]) -> float:
        """Mean CKA of a map's pairs."""
        return float(np.mean([self.cka[t, s] for s, t in layer_map]))

    def to_dict(self) -> dict:
        return {
            "cka": [[round(float(v), 4) for v in row] for row in self.cka],
            "suggested": self.suggested,
            "default": self.default,
            "suggested_score": round(self.score(self.suggested), 4),
            "default_score": round(self.score(self.default), 4),
            "teacher_width": self.teacher_width,
            "student_width": self.student_width,
            "projection_needed": self.projection_needed,
            "n_texts": self.n_texts,
        }

    def format(self) -> str:
        lt, ls = self.cka.shape[0] - 1, self.cka.shape[1] - 1
        lines = [
            f"Linear CKA, teacher layer (rows) x student layer (columns), {self.n_texts} texts"
        ]
        lines.append("       " + "".join(f"  s{s:<4}" for s in range(ls + 1)))
        for t in range(lt + 1):
            lines.append(f"  t{t:<3} " + "".join(f"  {v:5.3f}" for v in self.cka[t]))

        def text(m):
            return ", ".join(f"{s}:{t}" for s, t in m)

        lines += [
            "",
            f"suggested layer_map: {text(self.suggested)}  (mean CKA "
            f"{self.score(self.suggested):.3f})",
            f"default (evenly spread): {text(self.default)}  (mean CKA "
            f"{self.score(self.default):.3f})",
            f"widths: teacher {self.teacher_width}, student {self.student_width}: "
            + (
                "hidden_mse needs its projection"
                if self.projection_needed
                else "no projection needed (hidden_mse's identity-initialised one still learns)"
            ),
        ]
        return "\n".join(lines)


def layer_report(teacher, student, texts: list[str], *, max_length: int) -> LayerReport:
    """Run both models on the same ``texts`` and build the :class:`LayerReport`."""
    from xkd.losses._common import auto_layer_map

    t_states = mean_states(teacher, texts, teacher.fit_length(max_length))
    s_states = mean_states(student, texts, student.fit_length(max_length))
    cka = cka_matrix(t_states, s_states)
    default = [[int(s), int(t)] for s, t in auto_layer_map(student.num_layers, teacher.num_layers)]
    return LayerReport(
        cka=cka,
        suggested=suggest_layer_map(cka),
        default=default,
        teacher_width=t_states[0].shape[1],
        student_width=s_states[0].shape[1],
        n_texts=len(texts),
    )
