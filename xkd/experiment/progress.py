"""How an experiment reports: progress into the run folder, the one stop signal, out-of-memory."""

from __future__ import annotations

import random
import time

import numpy as np
import torch

from xkd.config import RunConfig
from xkd.runs.folder import RunFolder, utc_now
from xkd.runs.schema import parse_record
from xkd.train.callbacks import Callback

__all__ = [
    "RunStopped",
    "RunWriter",
    "is_out_of_memory",
    "out_of_memory_message",
    "set_seed",
]


class RunStopped(Exception):  # noqa: N818 - a signal, not an error
    """The one "stopped" signal: a training step saw a stop request and saved a checkpoint.

    Raised by the step, caught by :meth:`xkd.experiment.Experiment.run`, which records the
    state ``stopped`` and returns a result whose ``state`` says so.
    """

    def __init__(self, phase: str) -> None:
        super().__init__(f"stopped during {phase}")
        self.phase = phase


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class RunWriter(Callback):
    """Mirrors progress into the run folder: typed metrics.jsonl records and status.json steps."""

    def __init__(self, folder: RunFolder, min_interval: float = 0.5) -> None:
        self.folder = folder
        self.min_interval = min_interval
        self._last = 0.0

    def on_phase(self, phase, total_steps):
        self.folder.write_status(
            "running", phase=phase, step=0, total_steps=total_steps, phase_started=utc_now()
        )

    def on_step(self, phase, step, total_steps, logs):
        now = time.monotonic()
        if now - self._last >= self.min_interval or step == total_steps:
            self._last = now
            self.folder.write_status("running", phase=phase, step=step, total_steps=total_steps)

    def on_log(self, phase, record):
        typed = parse_record(record)
        if typed is None or "kind" not in record:
            raise ValueError(f"metrics record without a known kind: {record!r}")
        self.folder.append_metrics(typed.to_dict())


def is_out_of_memory(exc: BaseException) -> bool:
    """GPU or CPU out of memory: ``torch.OutOfMemoryError``, ``MemoryError``, or the
    ``RuntimeError`` torch's CPU allocator raises (``DefaultCPUAllocator: can't allocate``)."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "can't allocate memory" in text or "not enough memory" in text or "out of memory" in text
    )


def out_of_memory_message(exc: BaseException, cfg: RunConfig) -> str:
    return (
        f"out of memory ({type(exc).__name__}) with train.batch_size={cfg.train.batch_size} and "
        f"data.max_length={cfg.data.max_length}: lower train.batch_size or data.max_length (or "
        "use a smaller student/teacher) and retry; `xkd train --resume RUN` continues from the "
        "last checkpoint"
    )
