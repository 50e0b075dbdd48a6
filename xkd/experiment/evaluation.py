"""The experiment's last step, and re-evaluating a finished run from its folder."""

from __future__ import annotations

from pathlib import Path

from xkd.config import RunConfig
from xkd.errors import XKDError
from xkd.runs.folder import RunFolder

__all__ = ["evaluate_run", "model_sizes", "reevaluate_run", "write_cards"]

#: eval.json facts about how the run was trained, kept when it is evaluated again
_TRAINING_FACTS = ("timings", "teacher_info", "student_info", "train_examples", "sizes")


def _disk_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 2)


def model_sizes(folder: RunFolder, *, teacher, student) -> dict:
    """Parameters and disk size of the saved teacher and student."""
    from xkd.models import model_size

    return {
        "teacher": model_size(teacher) | {"disk_mb": _disk_mb(folder.teacher_dir)},
        "student": model_size(student) | {"disk_mb": _disk_mb(folder.student_dir)},
    }


def evaluate_run(
    folder: RunFolder, *, cfg: RunConfig, state, sizes: dict | None, measure_speed: bool, split: str
) -> dict:
    """Evaluate ``state``'s teacher (through its cache), student and baseline on ``split``;
    with ``split="test"`` the tables are written. Returns the ``eval.json`` dictionary."""
    from xkd.evaluate.evaluator import evaluate

    res = evaluate(
        frame=state.dataset.frame,
        labels=state.dataset.labels,
        source_language=cfg.data.source_language,
        target_languages=state.targets,
        teacher=state.teacher,
        cache=state.cache,
        student=state.student,
        baseline=state.baseline,
        max_length=cfg.data.max_length,
        split=split,
        sizes=sizes,
        measure_speed=measure_speed,
        parallel_pairs=_pairs_per_language(state.kd),
    )
    if split == "test":
        folder.write_tables(embeddings=res.embeddings, predictions=res.predictions)
    return res.summary


def _pairs_per_language(kd) -> dict[str, int]:
    """The parallel pairs the student trained on, per target language (translation rows)."""
    out: dict[str, int] = {}
    if kd is None:
        return out
    for lang, same in zip(kd.languages, kd.same_text, strict=True):
        if not same:
            out[lang] = out.get(lang, 0) + 1
    return out


def write_cards(folder: RunFolder, *, cfg: RunConfig, state, result: dict) -> None:
    """The saved models' cards again, now with the run's per-language results."""
    from xkd.experiment.state import model_card
    from xkd.models.card import write_card

    roles = [("teacher", state.teacher, folder.teacher_dir)]
    roles += [("KD student", state.student, folder.student_dir)]
    roles += [("no-KD baseline", state.baseline, folder.baseline_dir)] if state.baseline else []
    for role, model, path in roles:
        if path.is_dir():
            card = model_card(cfg, targets=state.targets, role=role, eval_=result)
            write_card(path, model, card, st_layout=(path / "modules.json").is_file())


def reevaluate_run(folder: RunFolder, *, split: str = "test") -> dict:
    """See :meth:`xkd.experiment.Experiment.reevaluate`."""
    from xkd.config import from_dict, load_yaml
    from xkd.experiment.data import load_run_data
    from xkd.experiment.state import ExperimentState
    from xkd.models import load_model
    from xkd.train.cache import TeacherCache
    from xkd.train.examples import kd_examples, resolve_targets

    for role in ("teacher", "student"):
        if not folder.model_dir(role).is_dir():
            raise XKDError(
                f"run {folder.run_id} has no saved {role}/ model (it did not finish); "
                "nothing to evaluate"
            )
    cfg = from_dict(load_yaml(folder.config_path))
    s = ExperimentState()
    s.dataset, pairs = load_run_data(cfg)
    s.targets = resolve_targets(cfg.data, s.dataset.languages())
    frame, labels = s.dataset.frame, s.dataset.labels
    s.kd = kd_examples(frame, cfg.data, labels, s.targets, pairs_frame=pairs)  # pairs per language
    s.teacher = load_model(str(folder.teacher_dir))
    s.student = load_model(str(folder.student_dir))
    s.baseline = load_model(str(folder.baseline_dir)) if folder.baseline_dir.is_dir() else None
    s.cache = TeacherCache(s.teacher, max_length=s.teacher.fit_length(cfg.data.max_length))
    # reuse the run's cached teacher outputs: the teacher's encoder never re-runs on a text
    s.cache.load(folder.teacher_cache_path, s.dataset.frame["text"].tolist())
    result = evaluate_run(folder, cfg=cfg, state=s, sizes=None, measure_speed=True, split=split)
    old = folder.read_eval() or {}
    result |= {k: old[k] for k in _TRAINING_FACTS if k in old}
    if split == "test":
        folder.write_eval(result)
    return result


def write_test_map(folder: RunFolder, note) -> None:
    """Fit the Alignment page's first view now (:func:`xkd.runs.projections.write_default_map`),
    so that a first visit reads it instead of waiting for UMAP. A failure is a ``note``, not a
    failed run: the page fits the map on a visit and says why it cannot."""
    from xkd.runs.projections import write_default_map

    try:
        write_default_map(folder)
    except Exception as exc:  # noqa: BLE001 - e.g. UMAP on degenerate vectors
        note(f"the test-set map was not fitted in advance ({type(exc).__name__}: {exc})")
