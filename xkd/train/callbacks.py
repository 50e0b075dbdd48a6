"""Progress reaches callers through callbacks; the loop has no UI code.

A callback may implement any of the hooks below. ``should_stop`` lets a caller (a SIGTERM handler,
a Stop button) ask the loop to checkpoint and return early.
"""

from __future__ import annotations

from typing import Any


class Callback:
    def on_phase(self, phase: str, total_steps: int) -> None:
        """A phase (``teacher``, ``baseline``, ``student``, ``eval``...) starts."""

    def on_step(self, phase: str, step: int, total_steps: int, logs: dict[str, Any]) -> None:
        """An optimisation step finished; ``logs`` holds loss terms and lr when it is a log step."""

    def on_log(self, phase: str, record: dict[str, Any]) -> None:
        """A metrics record was produced (written to metrics.jsonl by the run writer)."""

    def on_checkpoint(self, phase: str, step: int, path: str) -> None:
        """A resumable checkpoint was written."""

    def should_stop(self) -> bool:
        return False


class CallbackList(Callback):
    def __init__(self, callbacks: list[Callback] | None = None) -> None:
        self.callbacks = list(callbacks or [])

    def on_phase(self, phase, total_steps):
        for cb in self.callbacks:
            cb.on_phase(phase, total_steps)

    def on_step(self, phase, step, total_steps, logs):
        for cb in self.callbacks:
            cb.on_step(phase, step, total_steps, logs)

    def on_log(self, phase, record):
        for cb in self.callbacks:
            cb.on_log(phase, record)

    def on_checkpoint(self, phase, step, path):
        for cb in self.callbacks:
            cb.on_checkpoint(phase, step, path)

    def should_stop(self) -> bool:
        return any(cb.should_stop() for cb in self.callbacks)


class TqdmCallback(Callback):
    """Progress bars for the CLI (one per phase)."""

    def __init__(self) -> None:
        self.bar = None

    def on_phase(self, phase, total_steps):
        from tqdm.auto import tqdm

        if self.bar is not None:
            self.bar.close()
        self.bar = tqdm(total=total_steps, desc=phase, leave=True, dynamic_ncols=True)

    def on_step(self, phase, step, total_steps, logs):
        if self.bar is None:
            return
        self.bar.n = step
        if "loss" in logs:
            self.bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class StopFlag(Callback):
    """Set ``.requested`` (e.g. from a signal handler) to stop training at the next step."""

    def __init__(self) -> None:
        self.requested = False

    def should_stop(self) -> bool:
        return self.requested
