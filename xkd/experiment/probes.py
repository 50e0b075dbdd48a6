"""What the training loop measures at its evaluation steps, as ``metrics.jsonl`` records.

A probe says at which steps it is ``due`` and returns records (the loop adds ``phase``,
``step`` and ``epoch``) when called; the main process alone runs probes.

- :class:`DevAccuracy`: ``eval`` records, dev accuracy per language every ``train.eval_every``
  steps;
- :class:`AlignmentHealth`: ``alignment`` records (:mod:`xkd.evaluate.health`) at step 0,
  at ``train.alignment_points`` evenly spaced steps and at the end, plus the map of the held-out
  pairs at each of those steps (:mod:`xkd.runs.maps`). Step 0 of the student, and the teacher
  (the reference line), are measured by :func:`start_alignment` before the first phase trains.
  The baseline gets one record, at its end.
"""

from __future__ import annotations

import time

import numpy as np

from xkd.evaluate.health import PairSet, health
from xkd.train.examples import Examples

__all__ = [
    "AlignmentHealth",
    "DevAccuracy",
    "alignment_steps",
    "teacher_embeddings",
    "training_probes",
]


def _embeddings(model, texts: list[str], max_length: int) -> np.ndarray:
    result = model.infer(texts, max_length=max_length, outputs=("pooled",))
    return model.sentence_embedding(result.pooled).numpy()


class DevAccuracy:
    """``{"kind": "eval", "accuracy": {language: dev accuracy}}`` every ``every`` steps."""

    def __init__(self, model, dev: dict[str, Examples], *, max_length: int, every: int) -> None:
        self.model, self.dev, self.max_length, self.every = model, dev, max_length, every

    def due(self, step: int, total: int) -> bool:
        return bool(self.every) and step > 0 and step % self.every == 0

    def __call__(self, step: int) -> list[dict]:
        accuracy = {}
        for lang, ex in self.dev.items():
            result = self.model.infer(
                ex.student_texts, max_length=self.max_length, outputs=("logits",)
            )
            right = result.logits.numpy().argmax(1) == np.array(ex.labels)
            accuracy[lang] = round(float(right.mean()), 4)
        return [{"kind": "eval", "accuracy": accuracy}]


#: at least this many training steps per alignment point between step 0 and the end, so that
#: measuring stays a small share of a short run's time
MIN_STEPS_PER_POINT = 25


def alignment_steps(total: int, points: int) -> set[int]:
    """Step 0, the last step and ``points`` evenly spaced steps between (none when 0), at
    most one per :data:`MIN_STEPS_PER_POINT` steps."""
    if points <= 0:
        return set()
    points = min(points, total // MIN_STEPS_PER_POINT)
    return {0, total} | {round(total * k / (points + 1)) for k in range(1, points + 1)}


class AlignmentHealth:
    """``alignment`` records of ``role``'s model on ``pairs`` at :func:`alignment_steps` (the
    end only with ``only_end``); ``teacher`` holds the teacher's embeddings of ``pairs.texts``
    (from the cache: the teacher never runs again) and ``maps`` stores each step's map."""

    def __init__(
        self,
        model,
        pairs: PairSet,
        *,
        role: str,
        teacher: np.ndarray,
        max_length: int,
        points: int,
        maps=None,
        only_end: bool = False,
    ) -> None:
        self.model, self.pairs, self.role, self.teacher = model, pairs, role, teacher
        self.max_length, self.points, self.maps, self.only_end = max_length, points, maps, only_end

    def due(self, step: int, total: int) -> bool:
        """Step 0 is measured by :func:`start_alignment`, before any phase trains."""
        if self.only_end:
            return step == total
        return step > 0 and step in alignment_steps(total, self.points)

    def _record(self, model: str, emb: np.ndarray, step: int, started: float) -> dict:
        if self.maps is not None:
            self.maps.add(phase=self.role, step=step, model=model, embeddings=emb)
        same_width = emb.shape[1] == self.teacher.shape[1]
        body = health(self.pairs, emb, reference=self.teacher if same_width else None)
        seconds = round(time.perf_counter() - started, 3)
        return {"kind": "alignment", "model": model, **body, "seconds": seconds}

    def __call__(self, step: int) -> list[dict]:
        started = time.perf_counter()
        emb = _embeddings(self.model, self.pairs.texts, self.max_length)
        records = [self._record(self.role, emb, step, started)]
        if step == 0:
            records.append(self._record("teacher", self.teacher, 0, time.perf_counter()))
        return records


def start_alignment(cfg, state, *, folder=None, resume: bool = False) -> list[dict]:
    """Once per run, before the first training phase: the held-out pairs (the same for the
    baseline and the student), the writer of the maps and, with the run ``folder`` (the main
    process), the step-0 records of the student (its initial weights, before the baseline
    trains, so the first map is on screen as soon as the teacher's cache is ready) and of the
    teacher. A resumed run keeps the records and maps it has."""
    if state.probe_pairs is not None or not cfg.train.alignment_points:
        return []
    state.probe_pairs = PairSet.from_frame(
        state.dataset.frame, source_language=cfg.data.source_language, targets=state.targets
    )
    if folder is None or not len(state.probe_pairs):
        return []
    from xkd.runs.maps import AlignmentMaps

    state.maps = AlignmentMaps(folder)
    if resume and state.maps.resume():
        return []
    teacher = teacher_embeddings(state, state.probe_pairs)
    state.maps.start(state.probe_pairs, reference=teacher)
    probe = AlignmentHealth(
        state.student,
        state.probe_pairs,
        role="student",
        teacher=teacher,
        max_length=state.student.fit_length(cfg.data.max_length),
        points=cfg.train.alignment_points,
        maps=state.maps,
    )
    return [r | {"phase": "student", "step": 0, "epoch": 0.0} for r in probe(0)]


def training_probes(*, cfg, state, phase: str, model, max_length: int) -> list:
    """The probes of one training phase (``student`` or ``baseline``) of an experiment."""
    probes: list = []
    if state.dev and cfg.train.eval_every:
        probes.append(
            DevAccuracy(model, state.dev, max_length=max_length, every=cfg.train.eval_every)
        )
    pairs = state.probe_pairs
    if pairs is None or not len(pairs) or not cfg.train.alignment_points:
        return probes
    probes.append(
        AlignmentHealth(
            model,
            pairs,
            role=phase,
            teacher=teacher_embeddings(state, pairs),
            max_length=max_length,
            points=cfg.train.alignment_points,
            maps=state.maps,
            only_end=phase != "student",
        )
    )
    return probes


def teacher_embeddings(state, pairs: PairSet) -> np.ndarray:
    """The teacher's sentence embeddings of ``pairs.texts``, from the cache (the evaluation
    texts are in it already; a missing one is encoded once); computed once per run and kept
    on the state for the run's own pair set."""
    if pairs is state.probe_pairs and state.probe_teacher is not None:
        return state.probe_teacher
    state.cache.ensure(pairs.texts)
    ids = state.cache.ids(pairs.texts)
    out = state.teacher.sentence_embedding(state.cache.pooled[ids]).numpy()
    if pairs is state.probe_pairs:
        state.probe_teacher = out
    return out
