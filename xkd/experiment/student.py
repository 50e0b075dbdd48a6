"""The student's step: build it from the ``student`` setting, extend its vocabulary, give it
its classifier (``model.student_head``); everything here runs before any expensive work."""

from __future__ import annotations

from xkd.config import RunConfig
from xkd.experiment.state import ExperimentState

__all__ = ["build_student", "fit_lengths"]


def build_student(cfg: RunConfig, s: ExperimentState) -> list[str]:
    """Set ``s.student`` (and ``s.student_info``); returns the notes for the run."""
    from xkd.models import build_student as build
    from xkd.models.students import use_native_head
    from xkd.models.vocab import extend_as_set

    texts = s.kd.student_texts
    s.student = build(
        s.student_spec,
        s.teacher,
        texts,
        labels=s.dataset.labels,
        seed=cfg.train.seed,
        scratch_layers=cfg.model.scratch_layers,
        scratch_hidden=cfg.model.scratch_hidden,
        vocab_size=cfg.model.vocab_size,
        pooling=cfg.model.chosen_pooling,
        trust_remote_code=cfg.model.trust_remote_code,
    )
    notes = list(s.student.notes) if s.student_spec.kind == "model" else []
    targets = [t for t, lang in zip(texts, s.kd.languages) if lang != cfg.data.source_language]
    info, note = extend_as_set(
        s.student,
        texts,
        setting=cfg.model.extend_vocab,
        seed=cfg.train.seed,
        pieces=cfg.model.vocab_pieces,
        piece_texts=targets or texts,
    )
    s.student_info |= info
    notes += [note] if note else []
    if cfg.model.student_head == "native" and s.dataset.labels:
        use_native_head(s.student, s.dataset.labels, seed=cfg.train.seed)
        s.student_info["head"] = f"native ({type(s.student.classifier.model).__name__}, new)"
    return notes


def fit_lengths(cfg: RunConfig, s: ExperimentState) -> list[str]:
    """A note for each model that accepts fewer tokens than ``data.max_length`` (recorded in
    its ``max_length`` info); returns the notes."""
    asked, notes = cfg.data.max_length, []
    for role, model, info in (
        ("teacher", s.teacher, s.teacher_info),
        ("student", s.student, s.student_info),
    ):
        if model.fit_length(asked) < asked:
            info["max_length"] = model.fit_length(asked)
            notes.append(
                f"data.max_length={asked} is more than the {role} accepts: its inputs are "
                f"cut to {model.max_tokens} tokens"
            )
    return notes
