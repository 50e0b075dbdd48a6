"""The teacher's steps: check its head against the data, fine-tune it, fit a head on its cache,
hand its head to a ``from-teacher:K`` student."""

from __future__ import annotations

import copy

import torch

from xkd.config import RunConfig
from xkd.errors import ConfigError
from xkd.train.callbacks import Callback
from xkd.train.examples import Examples
from xkd.train.processes import Processes, all_gather, broadcast

__all__ = [
    "check_teacher_labels",
    "copy_head_to_student",
    "fill_cache",
    "fine_tune_teacher",
    "fit_teacher_head",
    "fitted_head",
    "new_cache",
    "share_head",
]


def _head_kind(teacher) -> str:
    return "own classifier" if teacher.classifier is not None else "own head"


def check_teacher_labels(teacher, *, name: str, labels: list[str], setting: str = "keep") -> dict:
    """Decide what a teacher that brings a head (its own classifier, or an xkd head) does.

    ``setting`` is ``model.teacher_head``: ``keep`` uses the head when it predicts the data's
    labels (same names, any order: its logits are put in the data's order) and refuses the run
    otherwise; ``refit`` discards it (a head is fitted later, as for a teacher without one).
    Returns the ``teacher_info`` facts (``head``, ``head_labels`` when it was reordered or
    discarded).
    """
    if not labels:  # an alignment-only run: nothing to predict
        if teacher.has_head:
            teacher.set_labels(None)
        return {"head": "none (no labels: alignment-only run)"}
    if not teacher.has_head:
        return {}
    own, labels = list(teacher.labels), list(labels)
    if setting == "refit":
        teacher.set_labels(None)
        return {"head_discarded": own}
    if sorted(own) != sorted(labels):
        raise ConfigError(
            f"teacher '{name}' has a head for labels {own}, but the data has {labels}; set "
            "`model.teacher_head: refit` (--set model.teacher_head=refit) to fit a new head on "
            "its embeddings, or use a teacher without a head or data with those labels"
        )
    info = {"head": _head_kind(teacher)}
    if own != labels:
        teacher.reorder_labels(labels)
        info["head_labels"] = own
    return info


def copy_head_to_student(teacher, student) -> dict:
    """Give a ``from-teacher:K`` student the teacher's linear head (after it is fitted).

    An own classifier is not a linear layer on pooled vectors, so it cannot be copied: the
    student keeps its fresh linear head. Returns the ``student_info`` facts.
    """
    if student.head is None:
        return {}
    if teacher.head is None:
        return {
            "head": "new linear head: the teacher's own classifier is not a linear layer on "
            "pooled vectors, so it is not copied"
        }
    student.head.load_state_dict(teacher.head.state_dict())
    return {"head": "copied from the teacher"}


def fine_tune_teacher(
    teacher, source: Examples, *, labels: list[str], cfg: RunConfig, callbacks: Callback
) -> None:
    """Train a new head and the unfrozen part of the encoder (``model.teacher_freeze``) with
    cross-entropy on the labelled source rows, then freeze the whole teacher."""
    from xkd.losses import Recipe
    from xkd.models import freeze
    from xkd.train.loop import tokenize_examples, train_model
    from xkd.train.objective import KDObjective

    teacher.set_labels(labels, seed=cfg.train.seed)
    freeze(teacher, cfg.model.teacher_freeze)
    tcfg = copy.deepcopy(cfg.train)
    tcfg.epochs = cfg.model.teacher_epochs or 3
    tcfg.freeze = "full"
    objective = KDObjective(teacher, Recipe.hard_labels())
    data = tokenize_examples(
        source, teacher.tokenizer, teacher.fit_length(cfg.data.max_length), None
    )
    train_model(objective, data, tcfg, phase="teacher", callbacks=callbacks)
    freeze(teacher, "full")


def fit_teacher_head(
    teacher, cache, source: Examples, *, labels: list[str], cfg: RunConfig, dev: Examples | None
) -> dict:
    """Fit a linear head on the teacher's cached (frozen) sentence embeddings.

    The encoder never runs: inputs are cached pooled vectors. Keeps the epoch with the best
    dev accuracy (train accuracy when there is no dev split).
    """
    teacher.set_labels(labels, seed=cfg.train.seed)
    head = teacher.head
    device = head.weight.device
    x = cache.pooled[cache.ids(source.teacher_texts)].to(device)
    y = torch.as_tensor(source.labels, device=device)
    if dev is not None and len(dev):
        xd = cache.pooled[cache.ids(dev.teacher_texts)].to(device)
        yd = torch.as_tensor(dev.labels, device=device)
    else:
        xd, yd = x, y
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.model.teacher_lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(cfg.train.seed)
    epochs = cfg.model.teacher_epochs or 30
    best = (-1.0, None)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), 32):
            idx = perm[start : start + 32].to(device)
            loss = torch.nn.functional.cross_entropy(head(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            acc = float((head(xd).argmax(1) == yd).float().mean())
        if acc > best[0]:
            best = (acc, copy.deepcopy(head.state_dict()))
    head.load_state_dict(best[1])
    cache.refresh_logits()
    return {"head": "fitted", "teacher_dev_accuracy": best[0], "teacher_epochs": epochs}


def fitted_head(cfg: RunConfig, s, *, shared=None, teacher=None, cache=None, key=None) -> dict:
    """The teacher's head fitted on its cache (:func:`fit_teacher_head`), or the head of a
    sweep's ``shared`` store with the same fingerprint; returns the ``teacher_info`` facts.
    ``teacher``, ``cache`` and ``key`` (its cache's fingerprint) are another teacher's
    (``teachers``), else the run's first."""
    teacher = s.teacher if teacher is None else teacher
    cache = s.cache if cache is None else cache
    cache_key = s.shared_keys.get("cache") if key is None else key
    key = shared.head_key(cfg, s, cache_key) if shared is not None else None
    found = shared.load_head(key) if key is not None else None
    if found is not None:
        state, info = found
        teacher.set_labels(s.dataset.labels, seed=cfg.train.seed)
        teacher.head.load_state_dict(state)
        return info | {"head_shared": True}
    dev = s.dev.get(cfg.data.source_language)
    labels = s.dataset.labels
    info = fit_teacher_head(teacher, cache, s.source, labels=labels, cfg=cfg, dev=dev)
    if key is not None:
        shared.offer_head(key, teacher.head, info)
    return info


def new_cache(cfg: RunConfig, s, *, folder=None) -> tuple:
    """An empty teacher cache for the recipe's layers, and every text the run will read from
    it (the KD rows' teacher texts, then the evaluation texts). With the run ``folder`` (the
    main process), token features go to shards in ``cache/teacher-tokens/``, read back by row."""
    from xkd.train.cache import TeacherCache
    from xkd.train.examples import eval_texts

    cache = TeacherCache(
        s.teacher,
        max_length=s.teacher.fit_length(cfg.data.max_length),
        hidden_layers=s.recipe.teacher_hidden_layers(),
        attention_layers=s.recipe.teacher_attention_layers(),
        shard_dir=folder.teacher_tokens_dir if folder is not None else None,
    )
    languages = [cfg.data.source_language, *s.targets]
    return cache, s.kd.teacher_texts + eval_texts(s.dataset.frame, languages)


def fill_cache(cache, texts: list[str], *, procs: Processes, loaded: list[str], progress) -> int:
    """Encode the ``texts`` the cache lacks, each once: several processes split them and hand
    their rows to each other, and the main process's ``loaded`` rows (a resumed run's saved
    cache) go to the others. Returns how many texts the encoder ran on (in all processes)."""
    todo = broadcast(cache.missing(texts) if procs.is_main else None, procs)
    mine = todo[procs.rank :: procs.world_size]
    cache.ensure(mine, progress=progress)
    if not procs.distributed:
        return len(mine)
    for part in all_gather(cache.export(mine), procs):
        cache.add(part)
    cache.add(broadcast(cache.export(loaded) if procs.is_main else None, procs))
    return len(todo)


def share_head(teacher, procs: Processes) -> None:
    """Give every process the main process's fitted teacher head (GPUs need not fit alike)."""
    if procs.distributed and teacher.head is not None:
        state = broadcast(teacher.head.state_dict() if procs.is_main else None, procs)
        teacher.head.load_state_dict(state)
