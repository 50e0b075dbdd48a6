"""The teacher's steps: check its head against the data, fine-tune it, fit a head on its cache."""

from __future__ import annotations

import copy

import torch

from xkd.config import RunConfig
from xkd.errors import ConfigError
from xkd.train.callbacks import Callback
from xkd.train.examples import Examples

__all__ = ["check_teacher_labels", "fine_tune_teacher", "fit_teacher_head"]


def check_teacher_labels(teacher, *, name: str, labels: list[str]) -> None:
    """A teacher that brings a classification head must predict exactly the data's labels."""
    if teacher.head is not None and list(teacher.labels) != list(labels):
        raise ConfigError(
            f"teacher '{name}' has a head for labels {list(teacher.labels)}, but the data has "
            f"{list(labels)}; use a teacher without a head (one is fitted) or matching data"
        )


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
    return {"teacher_dev_accuracy": best[0], "teacher_epochs": epochs}
