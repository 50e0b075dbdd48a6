"""The typed records of a run folder: ``status.json``, ``eval.json`` and ``metrics.jsonl``.

Writers build these records; readers parse them here and nowhere else. Every line of
``metrics.jsonl`` says its ``kind``:

- ``train``: ``{"kind": "train", "phase", "step", "epoch", "loss", "lr", "terms": {name: value}}``,
  the running mean of the loss and of each weighted term's raw value since the last record;
- ``eval``: ``{"kind": "eval", "phase", "step", "epoch", "accuracy": {language: value}}``,
  dev accuracy during training;
- ``alignment``: ``{"kind": "alignment", "phase", "step", "epoch", "model", "languages":
  {language: {"n_pairs", "retrieval_s2t", "retrieval_t2s", "pair_cosine", "cka"}},
  "language_id", "language_id_chance", "seconds"}``, alignment health of ``model``
  (``student``, ``teacher`` or ``baseline``) on the held-out pairs (:mod:`xkd.evaluate.health`);
  ``seconds`` is what measuring it cost.

Folders written before records had a ``kind`` (format 1) are read too: a record with
``eval_<lang>_accuracy`` keys is an ``eval`` record, any other a ``train`` record.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from xkd.evaluate.headline import Headline

__all__ = [
    "EVAL_FIELDS",
    "FORMAT",
    "STATUS_FIELDS",
    "AlignmentRecord",
    "EvalRecord",
    "Headline",
    "TrainRecord",
    "check_eval",
    "check_status_fields",
    "parse_record",
    "read_metrics",
    "read_headline",
]

#: The run-folder format this version writes (``eval.json["format"]``); 1 = before ``kind``.
FORMAT = 2

#: Fields of ``status.json``.
STATUS_FIELDS = frozenset(
    {
        "state",  # queued | running | finished | failed | stopped | interrupted
        "phase",  # launch | data | teacher | baseline | student | eval | done
        "step",
        "total_steps",
        "started",
        "updated",
        "phase_started",
        "error",
        "pid",
        "pid_create_time",
        "command",
        "stop_requested",
        "note",
    }
)

#: Top-level fields of ``eval.json``.
EVAL_FIELDS = frozenset(
    {
        "format",
        "split",
        "source_language",
        "target_languages",
        "labels",
        "languages",
        "retrieval",
        "pair_cosine",
        "language_bias",
        "attribution",
        "agreement",
        "kl",
        "headline",
        "sizes",
        "throughput",
        "timings",
        "teacher_info",
        "student_info",
        "train_examples",
    }
)


def check_status_fields(names) -> None:
    unknown = sorted(set(names) - STATUS_FIELDS)
    if unknown:
        raise ValueError(
            f"unknown status.json field(s) {', '.join(unknown)}; declare them in "
            "xkd/runs/schema.py STATUS_FIELDS"
        )


def check_eval(result: dict) -> None:
    """Refuse an ``eval.json`` with undeclared fields or without a headline."""
    unknown = sorted(set(result) - EVAL_FIELDS)
    if unknown:
        raise ValueError(
            f"unknown eval.json field(s) {', '.join(unknown)}; declare them in "
            "xkd/runs/schema.py EVAL_FIELDS"
        )
    if not isinstance(result.get("headline"), dict):
        raise ValueError("eval.json needs a 'headline' (computed by the evaluator)")
    Headline.from_dict(result["headline"])


@dataclass
class TrainRecord:
    phase: str
    step: int
    epoch: float
    loss: float
    lr: float | None = None
    terms: dict[str, float] = field(default_factory=dict)
    kind: str = "train"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EvalRecord:
    phase: str
    step: int
    accuracy: dict[str, float]
    epoch: float | None = None
    kind: str = "eval"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AlignmentRecord:
    phase: str
    step: int
    model: str
    languages: dict[str, dict[str, float | int | None]]
    language_id: float | None = None
    language_id_chance: float | None = None
    seconds: float | None = None
    epoch: float | None = None
    kind: str = "alignment"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_RECORDS = {"train": TrainRecord, "eval": EvalRecord, "alignment": AlignmentRecord}
_EVAL_PREFIX, _EVAL_SUFFIX = "eval_", "_accuracy"


def _legacy(record: dict) -> TrainRecord | EvalRecord:
    """A format-1 record (no ``kind``): flat loss terms, or flat ``eval_<lang>_accuracy``."""
    base = {"phase": str(record.get("phase", "")), "step": int(record.get("step", 0))}
    accuracy = {
        k[len(_EVAL_PREFIX) : -len(_EVAL_SUFFIX)]: float(v)
        for k, v in record.items()
        if k.startswith(_EVAL_PREFIX) and k.endswith(_EVAL_SUFFIX)
    }
    if accuracy:
        return EvalRecord(**base, accuracy=accuracy, epoch=record.get("epoch"))
    meta = {"phase", "step", "epoch", "loss", "lr"}
    terms = {k: float(v) for k, v in record.items() if k not in meta and _is_number(v)}
    return TrainRecord(
        **base,
        epoch=float(record.get("epoch", 0.0) or 0.0),
        loss=float(record.get("loss", float("nan"))),
        lr=record.get("lr"),
        terms=terms,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_record(record: dict) -> TrainRecord | EvalRecord | AlignmentRecord | None:
    """The typed record of one ``metrics.jsonl`` line; ``None`` for a kind this version does
    not know (a later feature's record) or a malformed line."""
    kind = record.get("kind")
    try:
        if kind is None:
            return _legacy(record)
        cls = _RECORDS.get(kind)
        if cls is None:
            return None
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in names})
    except (TypeError, ValueError):
        return None


def read_metrics(run: str | os.PathLike | Any, kind: str) -> list[dict]:
    """The records of ``kind`` (``train``, ``eval`` or ``alignment``) in ``metrics.jsonl`` of ``run`` (a run
    folder path or a :class:`~xkd.runs.folder.RunFolder`), as dicts in the shapes above."""
    from xkd.runs.folder import RunFolder

    if kind not in _RECORDS:
        raise ValueError(f"unknown metrics kind {kind!r}; expected one of {', '.join(_RECORDS)}")
    folder = run if isinstance(run, RunFolder) else RunFolder(Path(run))
    out = []
    for raw in folder.read_metrics():
        record = parse_record(raw)
        if record is not None and record.kind == kind:
            out.append(record.to_dict())
    return out


def read_headline(result: dict | None) -> Headline | None:
    """The headline of an ``eval.json``; a format-1 file (no ``headline``) gets it computed
    from its per-language scores by the same function the evaluator uses."""
    if not isinstance(result, dict):
        return None
    if isinstance(result.get("headline"), dict):
        try:
            return Headline.from_dict(result["headline"])
        except (TypeError, ValueError):
            return None
    languages = result.get("languages")
    if not isinstance(languages, dict) or not languages:
        return None
    return Headline.compute(languages, result.get("source_language"))
