"""The common setup of the training benchmarks, built from xkd's public pieces.

``prepare(ctx, path)`` loads a dataset, the MiniLM teacher (or a tiny random one in test mode),
caches the teacher's outputs for every text needed and fits the teacher's head on the cached
English embeddings (the demo preset's ``teacher_freeze: head``). ``Setup.new_student()`` returns a
fresh 3-layer student copied from the teacher (same initial weights on every call, the teacher's
head copied as the experiment does).
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
        """A fresh copy of the same initial student (the experiment's own, or built once for a
        setup without a head), deep-copied on every call."""
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
    """Dataset + teacher (+ fitted head) + filled teacher cache, built by the experiment's steps.

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
    """Runs the experiment's own steps (xkd.experiment.Experiment) up to a fitted teacher head."""
    import torch

    from xkd.experiment import Experiment
    from xkd.runs import slugify
    from xkd.train.cache import TeacherCache

    torch.manual_seed(0)
    cfg = demo_config(path, source_language)
    cfg.data.max_train_per_language = max_train_per_language
    # the student keeps the teacher's vocabulary: the TextBrewer side feeds one batch of token
    # ids to both models, and every comparison measures the same tokenizer on both sides
    cfg.model.extend_vocab = False
    if ctx.tiny:
        cfg.student = "from-teacher:1"
    name = slugify(f"{path}-{source_language}-{max_train_per_language}-{head}")[:60]
    exp = Experiment(cfg, run_dir=ctx.work_dir / "setups" / name)
    exp.load_data()
    s = exp.state
    if ctx.tiny:
        s.teacher = tiny_teacher(s.dataset.frame["text"].tolist())
    else:
        exp.load_teacher()
    setup = Setup(s.dataset, s.teacher, None, cfg, cfg.data.source_language, s.targets)
    setup.student_spec = cfg.student
    if not head:  # embedding-only benchmarks: an empty cache, filled with what they use
        setup.cache = TeacherCache(s.teacher, max_length=cfg.data.max_length)
        return setup
    exp.build_student()
    exp.build_losses()
    exp.cache_teacher()
    exp.fit_teacher_head()
    setup.cache = s.cache
    setup._student = s.student
    setup.info["teacher_head"] = {
        k: v for k, v in s.teacher_info.items() if k in ("teacher_dev_accuracy", "teacher_epochs")
    }
    return setup


def kd_recipe(student, teacher, n_labels: int, *, kl_temperature: float = 3.0, mse_weight=10.0):
    """The demo recipe: ``parallel_mse`` x10 + ``kl`` (T=3) x1, alpha 0, for these models."""
    from xkd.config import DistillConfig, LossConfig
    from xkd.losses import build_recipe

    distill = DistillConfig(
        losses=[LossConfig("parallel_mse", weight=mse_weight), LossConfig("kl")],
        temperature=kl_temperature,
        alpha=0.0,
    )
    return build_recipe(
        distill, student_dims=student.dims(n_labels), teacher_dims=teacher.dims(n_labels)
    )
