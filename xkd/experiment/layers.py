"""The layer-mapping assistant for a run's teacher and student (:mod:`xkd.evaluate.layers`):
before training, the models are built by the experiment's own steps (the same student a run
trains, vocabulary extension included); after training, the run folder's saved models."""

from __future__ import annotations

import os

from xkd.config import RunConfig
from xkd.data.schema import bucket
from xkd.evaluate.layers import LayerReport, layer_report

__all__ = ["run_layer_report", "suggest_layers"]


def _sample(examples, n: int) -> list[str]:
    """``n`` distinct student inputs of the KD examples (translations and source sentences),
    the same ones on every machine (the lowest hashes)."""
    texts = list(dict.fromkeys(examples.student_texts))
    return sorted(texts, key=bucket)[:n]


def suggest_layers(cfg: RunConfig, *, n_texts: int = 300) -> LayerReport:
    """The assistant before training: the run's data, teacher and student (untrained)."""
    from xkd.experiment import student as student_steps
    from xkd.experiment.data import load_run_data
    from xkd.experiment.state import ExperimentState
    from xkd.models import StudentSpec, load_model
    from xkd.train.examples import kd_examples, resolve_targets

    s = ExperimentState()
    s.student_spec = StudentSpec.parse(cfg.student)
    s.dataset, pairs = load_run_data(cfg)
    s.targets = resolve_targets(cfg.data, s.dataset.languages())
    s.kd = kd_examples(s.dataset.frame, cfg.data, s.dataset.labels, s.targets, pairs_frame=pairs)
    s.teacher = load_model(
        cfg.teacher, pooling=cfg.model.chosen_pooling, trust_remote_code=cfg.model.trust_remote_code
    )
    student_steps.build_student(cfg, s)
    return layer_report(
        s.teacher, s.student, _sample(s.kd, n_texts), max_length=cfg.data.max_length
    )


def run_layer_report(run_dir: str | os.PathLike, *, n_texts: int = 300) -> LayerReport:
    """The assistant after training: the run's saved teacher and trained student on the same
    examples as before training, so the two heatmaps compare."""
    from xkd.config import from_dict, load_yaml
    from xkd.errors import XKDError
    from xkd.experiment.data import load_run_data
    from xkd.models import load_model
    from xkd.runs.folder import RunFolder
    from xkd.train.examples import kd_examples, resolve_targets

    folder = RunFolder(run_dir)
    if not folder.student_dir.is_dir():
        raise XKDError(f"run {folder.run_id} has no saved student/ (it did not finish)")
    cfg = from_dict(load_yaml(folder.config_path))
    dataset, pairs = load_run_data(cfg)
    targets = resolve_targets(cfg.data, dataset.languages())
    kd = kd_examples(dataset.frame, cfg.data, dataset.labels, targets, pairs_frame=pairs)
    teacher, student = load_model(str(folder.teacher_dir)), load_model(str(folder.student_dir))
    return layer_report(teacher, student, _sample(kd, n_texts), max_length=cfg.data.max_length)
