"""The typed state an experiment builds step by step, and the result it returns."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xkd.config import RunConfig
from xkd.runs.schema import Headline, read_headline
from xkd.train.examples import Examples

__all__ = ["ExperimentState", "RunResult", "as_config", "model_card"]


@dataclass
class ExperimentState:
    """What the steps have built so far (``None`` until the step that builds it has run)."""

    dataset: Any = None  # xkd.data.TextDataset
    targets: list[str] = field(default_factory=list)
    student_spec: Any = None  # xkd.models.StudentSpec, parsed once from the config
    source: Examples | None = None  # labelled source-language training rows
    kd: Examples | None = None  # the KD student's training rows
    dev: dict[str, Examples] = field(default_factory=dict)  # labelled dev rows per language
    teacher: Any = None  # xkd.models.XKDModel
    cache: Any = None  # xkd.train.cache.TeacherCache
    extra_teachers: list = field(default_factory=list)  # xkd.experiment.teachers.ExtraTeacher
    mix: Any = None  # xkd.train.teachers.TeacherMix: several teachers read as one (or None)
    student: Any = None
    baseline_init: Any = None  # the baseline's initial weights (a copy of the student's)
    probe_pairs: Any = None  # held-out pairs of the alignment health (xkd.evaluate.health.PairSet)
    probe_teacher: Any = None  # the teacher's embeddings of probe_pairs.texts (numpy, once)
    maps: Any = None  # the writer of alignment/ (xkd.runs.maps.AlignmentMaps; main process)
    baseline: Any = None
    recipe: Any = None  # xkd.losses.Recipe: the KD student's weighted terms, alpha, T
    teacher_info: dict = field(default_factory=dict)
    student_info: dict = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    shared_keys: dict[str, str] = field(default_factory=dict)  # fingerprints in a sweep's store
    notes: list[str] = field(default_factory=list)  # settings adapted to the models (run.log)


@dataclass(frozen=True)
class RunResult:
    """What :meth:`xkd.Experiment.run` returns: the run folder, how it ended, the headline."""

    run_dir: Path
    state: str  # finished | stopped | trained (a process other than the main one)
    headline: Headline | None = None
    eval: dict | None = None

    @classmethod
    def from_eval(cls, run_dir: Path, result: dict) -> RunResult:
        return cls(
            run_dir=Path(run_dir), state="finished", headline=read_headline(result), eval=result
        )

    @property
    def stopped(self) -> bool:
        return self.state == "stopped"


def as_config(config: RunConfig | dict | str | os.PathLike) -> RunConfig:
    """A :class:`RunConfig` from a config object, a dict, or a YAML file path."""
    from xkd import config as C

    if isinstance(config, RunConfig):
        return config
    if isinstance(config, dict):
        return C.from_dict(config)
    return C.from_dict(C.load_yaml(config))


def model_card(cfg: RunConfig, *, targets: list[str], role: str, eval_: dict | None = None) -> dict:
    """The facts written into a saved model's card (README.md of its folder); with ``eval_``
    (the run's ``eval.json``), the per-language results too."""
    from xkd.models.students import StudentSpec

    kind = StudentSpec.parse(cfg.student).kind
    base = cfg.teacher if role == "teacher" or kind == "from-teacher" else None
    card = {
        "role": role,
        "teacher": cfg.teacher,
        "student": cfg.student,
        "base_model": base if kind != "model" or role == "teacher" else cfg.student,
        "data": cfg.data.path,
        "source_language": cfg.data.source_language,
        "target_languages": list(targets),
        "recipe": ", ".join(f"{s.name} x{s.weight}" for s in cfg.distill.losses),
        "temperature": cfg.distill.temperature,
        "alpha": cfg.distill.alpha,
    }
    if eval_:
        card["results"] = {
            lang: _card_results(entry) for lang, entry in (eval_.get("languages") or {}).items()
        }
        head = eval_.get("headline") if isinstance(eval_.get("headline"), dict) else {}
        if head.get("kd_gain") is not None:
            card["mean_kd_gain"] = {
                "gain": head["kd_gain"],
                "low": head.get("kd_gain_low"),
                "high": head.get("kd_gain_high"),
                "p": head.get("kd_gain_p"),
                "significant": head.get("kd_gain_significant"),
            }
    return card


_CARD_MODELS = (("teacher", "teacher"), ("student", "KD student"), ("baseline", "no-KD baseline"))


def _card_results(entry: dict) -> dict:
    """One language of eval.json as the card shows it: ``n``, each model's accuracy, its 95 %
    bootstrap interval under ``intervals`` and the paired ``KD gain`` (when eval.json has them)."""
    row: dict = {"n": entry.get("n")}
    intervals = {}
    for key, name in _CARD_MODELS:
        if isinstance(entry.get(key), dict):
            row[name] = entry[key]["accuracy"]
            if entry[key].get("accuracy_ci"):
                intervals[name] = list(entry[key]["accuracy_ci"])
    if intervals:
        row["intervals"] = intervals
    if isinstance(entry.get("kd_gain"), dict):
        row["KD gain"] = {k: entry["kd_gain"].get(k) for k in ("gain", "low", "high", "p")}
        row["KD gain"]["significant"] = entry["kd_gain"].get("significant")
    return row
