"""The run's other teachers (``teachers``): each is loaded and checked with the first teacher,
then fine-tuned, cached once (``cache/teacher-<i>.safetensors``, reused on resume and shared in a
sweep by its own fingerprint) and given a head exactly as the first, and all are mixed into what
the KD student learns from (:class:`~xkd.train.teachers.TeacherMix`, ``distill.teacher_mix``).

The first teacher stays *the* teacher: evaluation, alignment health and the saved ``teacher/``
are its. Each other teacher's per-language test accuracy, and the mixture's, go to
``eval.json``'s ``teacher_info["teachers"]`` and ``teacher_info["teacher_mix"]``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch

from xkd.config import RunConfig, TeacherConfig
from xkd.errors import ConfigError
from xkd.experiment import teacher as teacher_steps

__all__ = ["ExtraTeacher", "load_teachers", "prepare_teachers"]


@dataclass
class ExtraTeacher:
    """One entry of ``teachers`` in a run: ``index`` 1 is ``teachers[0]``."""

    index: int
    spec: TeacherConfig
    model: Any  # xkd.models.XKDModel
    cache: Any = None  # xkd.train.cache.TeacherCache
    key: str | None = None  # its cache's fingerprint in a sweep's shared store
    info: dict = field(default_factory=dict)  # its teacher_info["teachers"] entry

    @property
    def name(self) -> str:
        return f"teachers[{self.index - 1}]"


def load_teachers(cfg: RunConfig, s) -> list[str]:
    """Load every ``teachers`` entry into ``s.extra_teachers``, each checked against the data's
    labels (:func:`~xkd.experiment.teacher.check_teacher_labels`, as the first teacher) and its
    ``languages`` against the run's; returns the notes (a language no entry lists learns from
    the first teacher under ``per_language``)."""
    from xkd.models import load_model

    languages = [cfg.data.source_language, *s.targets]
    notes: list[str] = []
    for i, spec in enumerate(cfg.teachers):
        name = f"teachers[{i}]"
        missing = [lang for lang in spec.languages if lang not in languages]
        if missing:
            raise ConfigError(
                f"{name}.languages: {', '.join(missing)} is not a language of this run "
                f"({', '.join(languages)}); list only those, or add the language to the data"
            )
        model = load_model(
            spec.model,
            pooling=cfg.model.chosen_pooling,
            trust_remote_code=cfg.model.trust_remote_code,
        )
        info = {"model": spec.model, "weight": spec.weight, "languages": list(spec.languages)}
        info |= teacher_steps.check_teacher_labels(
            model,
            name=f"{name}.model={spec.model}",
            labels=s.dataset.labels,
            setting=cfg.model.teacher_head,
        )
        notes += [f"{name} ({spec.model}): {text}" for text in model.notes]
        if model.fit_length(cfg.data.max_length) < cfg.data.max_length:
            info["max_length"] = model.fit_length(cfg.data.max_length)
            notes.append(
                f"data.max_length={cfg.data.max_length} is more than {name} accepts: its "
                f"inputs are cut to {model.max_tokens} tokens"
            )
        s.extra_teachers.append(ExtraTeacher(i + 1, spec, model, info=info))
    if cfg.teachers and cfg.distill.teacher_mix == "per_language":
        rest = [lang for lang in languages if not any(lang in t.languages for t in cfg.teachers)]
        if rest:
            one = len(rest) == 1
            notes.append(
                f"distill.teacher_mix: per_language: {', '.join(rest)} "
                f"{'learns' if one else 'learn'} from the first teacher ({cfg.teacher}), the "
                f"default: no entry of `teachers` lists {'it' if one else 'them'}"
            )
    return notes


def prepare_teachers(exp) -> None:
    """For each other teacher of ``exp`` (an :class:`~xkd.experiment.Experiment`): fine-tune
    it (its ``freeze``, else ``model.teacher_freeze``) when it has no head, cache it, fit its
    head; then build ``s.mix`` and the ``teacher_info`` facts. Nothing without ``teachers``."""
    from xkd.train.teachers import TeacherMix

    cfg, s = exp.cfg, exp.state
    if not s.extra_teachers:
        return
    for extra in s.extra_teachers:
        _fine_tune(exp, extra)
        _cache(exp, extra)
        if not extra.model.has_head and s.dataset.labels:
            extra.info |= teacher_steps.fitted_head(
                cfg, s, shared=exp.shared, teacher=extra.model, cache=extra.cache, key=extra.key
            )
            teacher_steps.share_head(extra.model, exp.procs)
            extra.cache.refresh_logits()
    s.mix = TeacherMix(
        [s.cache, *(extra.cache for extra in s.extra_teachers)],
        mode=cfg.distill.teacher_mix,
        weights=[cfg.distill.teacher_weight, *(e.spec.weight for e in s.extra_teachers)],
        languages={lang: e.index for e in s.extra_teachers for lang in e.spec.languages},
        temperature=cfg.distill.temperature,
    )
    for extra in s.extra_teachers:
        extra.info["test_accuracy"] = _accuracy(cfg, s, extra.cache)
    s.teacher_info["teachers"] = [extra.info for extra in s.extra_teachers]
    s.teacher_info["teacher_mix"] = {
        "mode": cfg.distill.teacher_mix,
        "test_accuracy": _accuracy(cfg, s, None),
    }


def _fine_tune(exp, extra: ExtraTeacher) -> None:
    cfg, s = exp.cfg, exp.state
    freeze = extra.spec.freeze or cfg.model.teacher_freeze
    if extra.model.has_head or freeze == "head" or not s.dataset.labels:
        return
    tcfg = copy.deepcopy(cfg)
    tcfg.model.teacher_freeze = freeze
    teacher_steps.fine_tune_teacher(
        extra.model, s.source, labels=s.dataset.labels, cfg=tcfg, callbacks=exp.callbacks
    )
    extra.info["head"] = "fine-tuned"
    extra.info["teacher_fine_tuned"] = freeze


def _cache(exp, extra: ExtraTeacher) -> None:
    """Its outputs on every text the first teacher's cache holds for training and evaluation,
    computed once: reused from the run folder on resume, from a sweep's store when shared."""
    from xkd.train.cache import TeacherCache
    from xkd.train.examples import eval_texts

    cfg, s, folder, main = exp.cfg, exp.state, exp.folder, exp.procs.is_main
    extra.cache = cache = TeacherCache(
        extra.model, max_length=extra.model.fit_length(cfg.data.max_length)
    )
    texts = s.kd.teacher_texts + eval_texts(s.dataset.frame, [cfg.data.source_language, *s.targets])
    path = folder.extra_teacher_cache_path(extra.index)
    if exp.resume and main:
        extra.info["cache_reused"] = cache.load(path, texts)
    if exp.shared is not None:
        extra.key = exp.shared.cache_key(
            cfg, s, teacher=extra.model, cache=cache, name=extra.spec.model
        )
        extra.info["cache_shared"] = exp.shared.load_cache(extra.key, cache, texts)
    loaded = list(cache.index)
    exp.callbacks.on_phase("teacher", max(1, len(cache.missing(texts))))

    def progress(done, total):
        exp.callbacks.on_step("teacher", done, total, {})

    extra.info["teacher_texts_encoded"] = teacher_steps.fill_cache(
        cache, texts, procs=exp.procs, loaded=loaded, progress=progress
    )
    if main:
        cache.save(path)
    if exp.shared is not None and extra.info["teacher_texts_encoded"]:
        exp.shared.offer_cache(extra.key, folder.cache_dir, file=path)


def _accuracy(cfg: RunConfig, s, cache) -> dict[str, float]:
    """Test accuracy per language of one teacher (its ``cache``) or, with None, of the soft
    labels the student learns from (the mixture; per language: the teacher of the language)."""
    from xkd.train.examples import label_index
    from xkd.train.teachers import mix_logits

    labels, frame = s.dataset.labels, s.dataset.frame
    if not labels:
        return {}
    index, out = label_index(labels), {}
    for lang in [cfg.data.source_language, *s.targets]:
        rows = frame[(frame["split"] == "test") & (frame["language"] == lang)]
        rows = rows[rows["label"].notna()]
        if rows.empty:
            continue
        texts = rows["text"].tolist()
        caches = s.mix.caches
        if cache is not None:
            logits = cache.logits[cache.ids(texts)]
        elif s.mix.mode == "average":
            parts = [c.logits[c.ids(texts)] for c in caches]
            logits = mix_logits(parts, s.mix.weights, s.mix.temperature)
        else:
            chosen = caches[s.mix.teacher_of(lang)]
            logits = chosen.logits[chosen.ids(texts)]
        y = torch.as_tensor([index[x] for x in rows["label"]])
        out[lang] = float((logits.argmax(1) == y).double().mean())
    return out
