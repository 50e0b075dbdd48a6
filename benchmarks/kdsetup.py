"""The common setup of the training benchmarks, built from xkd's public pieces.

``prepare(ctx, path)`` loads a dataset, the MiniLM teacher (or a tiny random one in test mode),
caches the teacher's outputs for every text needed and fits the teacher's head on the cached
English embeddings (the demo preset's ``teacher_freeze: head``). ``Setup.new_student()`` returns a
fresh 3-layer student copied from the teacher (same initial weights on every call, the teacher's
head copied as the pipeline does).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import Context

DEMO = "demo"


@dataclass
class Setup:
    dataset: Any
    teacher: Any
    cache: Any
    cfg: Any  # RunConfig of the demo preset with the data path used
    source_language: str
    targets: list[str]
    student_spec: str = "from-teacher:3"
    _student: Any = None
    info: dict = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return list(self.dataset.labels)

    @property
    def frame(self):
        return self.dataset.frame

    def new_student(self):
        """A fresh copy of the same initial student (built once, deep-copied after)."""
        if self._student is None:
            from xkd.models import build_student

            texts = self.frame["text"].tolist()
            student = build_student(
                self.student_spec, self.teacher, texts, labels=self.labels, seed=self.cfg.train.seed
            )
            if self.teacher.head is not None and student.head is not None:
                student.head.load_state_dict(self.teacher.head.state_dict())
            self._student = student
        return copy.deepcopy(self._student)


def demo_config(path: str = DEMO, source_language: str | None = None, **train: Any):
    """The demo preset as a RunConfig (``data.path`` and train settings overridable)."""
    from xkd import config as C
    from xkd.presets import preset

    data = preset("demo")
    data["data"]["path"] = path
    if source_language:
        data["data"]["source_language"] = source_language
    data.setdefault("train", {}).update(train)
    return C.from_dict(data)


def tiny_teacher(texts: list[str]):
    from xkd.testing.models import tiny_model

    return tiny_model(labels=None, texts=texts[:400], layers=2, hidden=32, heads=2, vocab_size=200)


def prepare(
    ctx: Context,
    path: str = DEMO,
    source_language: str | None = None,
    max_train_per_language: int | None = None,
    head: bool = True,
) -> Setup:
    """Dataset + teacher (+ fitted head) + filled teacher cache, as xkd's pipeline builds them.

    ``head=False``: no head, empty cache (for embedding-only benchmarks: no teacher pass over
    texts they do not use). Built once per (path, source language, cap, head) and benchmark
    run (``ctx.shared``); later calls get the same teacher and cache back (the cache only grows).
    A setup with a head also serves ``head=False`` callers.
    """
    key = f"setup:{path}:{source_language}:{max_train_per_language}:{ctx.tiny}"
    if key + ":head" in ctx.shared:
        return ctx.shared[key + ":head"]
    full = key + (":head" if head else ":light")
    if full not in ctx.shared:
        ctx.shared[full] = _prepare(ctx, path, source_language, max_train_per_language, head)
    return ctx.shared[full]


def _prepare(ctx: Context, path: str, source_language, max_train_per_language, head) -> Setup:
    import torch

    from xkd.data import load_data
    from xkd.models import load_model
    from xkd.train.cache import TeacherCache
    from xkd.train.examples import kd_examples, source_examples
    from xkd.train.pipeline import fit_teacher_head, resolve_targets

    torch.manual_seed(0)
    cfg = demo_config(path, source_language)
    cfg.data.max_train_per_language = max_train_per_language
    ds = load_data(path)
    targets = resolve_targets(cfg, ds.languages())
    teacher = (
        tiny_teacher(ds.frame["text"].tolist())
        if ctx.tiny
        else load_model(cfg.teacher, pooling=cfg.model.pooling)
    )
    cache = TeacherCache(teacher, max_length=cfg.data.max_length)
    kd = kd_examples(ds.frame, cfg.data, ds.labels, targets, cfg.train.seed)
    source = source_examples(ds.frame, cfg.data, ds.labels, cfg.train.seed)
    setup = Setup(ds, teacher, cache, cfg, cfg.data.source_language, targets)
    if ctx.tiny:
        setup.student_spec = "from-teacher:1"
    if not head:
        return setup
    cache.ensure(kd.teacher_texts)
    dev = dev_examples(ds, cfg.data.source_language)
    if dev is not None:
        cache.ensure(dev.teacher_texts)
    setup.info["teacher_head"] = fit_teacher_head(teacher, cache, source, ds.labels, cfg, dev)
    return setup


def dev_examples(ds, language: str):
    """Labelled dev rows of ``language`` as Examples (what the pipeline fits the head against)."""
    from xkd.train.examples import Examples, label_index

    f = ds.frame
    rows = f[(f["language"] == language) & (f["split"] == "dev") & f["label"].notna()]
    if rows.empty:
        return None
    index = label_index(ds.labels)
    texts = rows["text"].tolist()
    return Examples(texts, list(texts), [index[x] for x in rows["label"]], [language] * len(texts))


def kd_losses(student, teacher, n_labels: int, *, kl_temperature: float = 3.0, mse_weight=10.0):
    """The demo recipe: ``parallel_mse`` x10 + ``kl`` (T=3) x1, set up for these models."""
    from xkd.losses import build_loss

    mse = build_loss("parallel_mse")
    kl = build_loss("kl", temperature=kl_temperature, alpha=0.0)
    for loss in (mse, kl):
        loss.setup(student.dims(n_labels), teacher.dims(n_labels))
    return {"parallel_mse": (mse_weight, mse), "kl": (1.0, kl)}
