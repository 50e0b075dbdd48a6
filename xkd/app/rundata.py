"""Reading a run folder for the app: curves, progress and ETA, result tables, the default run.

The run object is :class:`xkd.runs.Run` (read with :func:`xkd.runs.load_run`). Everything
is read from the run folder on each call, so a page refresh or a page switch never loses a
run; files that are missing or half-written (a run still going) give ``None`` or an empty
frame, never an exception.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from xkd.runs import (
    ACTIVE_STATES,
    Run,
    RunFolder,
    default_runs_dir,
    list_runs,
    read_metrics,
)

__all__ = [
    "PHASES",
    "EtaTracker",
    "Progress",
    "accuracy_curves",
    "all_runs",
    "curves_long",
    "default_run_id",
    "device_label",
    "format_seconds",
    "log_tail",
    "loss_terms_of",
    "metrics_frame",
    "pick_run",
    "progress",
    "read_embeddings",
    "read_predictions",
    "run_label",
    "runs_dir",
]

#: Training phases in order, with a rough share of a run's wall time (for the overall bar).
PHASES = ("launch", "data", "teacher", "baseline", "student", "eval", "done")
_PHASE_WEIGHT = {"data": 0.03, "teacher": 0.17, "baseline": 0.3, "student": 0.45, "eval": 0.05}

#: Columns of a train-metrics frame that are not loss values.
NON_TERM_KEYS = ("kind", "phase", "step", "epoch", "lr")


def runs_dir() -> Path:
    """The runs folder the app works on: ``$XKD_RUNS_DIR`` or ``./runs``."""
    return Path(default_runs_dir())


def device_label() -> str:
    """The device a run with ``train.device: auto`` takes (:func:`xkd.runs.device_name`), with
    the GPU's name for CUDA, e.g. ``cuda:0 · NVIDIA H200``."""
    from xkd.runs import device_name

    name = device_name("auto")
    if name.startswith("cuda"):
        try:
            import torch

            return f"{name} · {torch.cuda.get_device_name(name)}"
        except Exception:  # noqa: BLE001 - the sidebar must render whatever torch does
            pass
    return name


def default_run_id(runs: list[Run]) -> str | None:
    """The newest run (``list_runs`` sorts newest first), or ``None`` when there is none."""
    return runs[0].run_id if runs else None


def pick_run(runs: list[Run], wanted: str | None) -> str | None:
    """``wanted`` when it is still listed, otherwise the newest run."""
    ids = [r.run_id for r in runs]
    if wanted in ids:
        return wanted
    return default_run_id(runs)


def run_label(run: Run) -> str:
    """``<run id> · <state>`` for select boxes."""
    return f"{run.run_id} · {run.state or 'unknown'}"


# ------------------------------------------------------------------------------------ files


def _read_parquet(path: Path):
    import pandas as pd

    if not path.is_file():
        return None
    try:
        return pd.read_parquet(path)
    except Exception:  # noqa: BLE001 - a half-written or foreign file reads as missing
        return None


def read_predictions(path: str | os.PathLike):
    """``predictions.parquet`` as a DataFrame, or ``None`` when missing/unreadable."""
    return _read_parquet(RunFolder(path).predictions_path)


def read_embeddings(path: str | os.PathLike):
    """``embeddings.parquet`` as a DataFrame, or ``None`` when missing/unreadable."""
    return _read_parquet(RunFolder(path).embeddings_path)


def metrics_frame(path: str | os.PathLike):
    """The ``train`` records of ``metrics.jsonl``, one row each: ``phase, step, epoch, lr``,
    ``loss`` and one column per loss term (empty with ``phase`` and ``step`` if none).

    Only ``kind="train"`` records are read (:func:`xkd.runs.read_metrics`), so dev-accuracy
    (``eval``) records never appear among the loss terms; see :func:`accuracy_curves`.
    """
    import pandas as pd

    records = read_metrics(path, kind="train")
    if not records:
        return pd.DataFrame(columns=["phase", "step"])
    rows = []
    for rec in records:
        terms = rec.get("terms") if isinstance(rec.get("terms"), dict) else {}
        base = {k: rec.get(k) for k in ("phase", "step", "epoch", "lr", "loss")}
        rows.append(base | {k: v for k, v in terms.items() if k not in base})
    return pd.DataFrame(rows)


def loss_terms_of(frame) -> list[str]:
    """Numeric columns of a :func:`metrics_frame` that are loss values (``loss`` first)."""
    import pandas as pd

    terms = [
        c
        for c in frame.columns
        if c not in NON_TERM_KEYS and pd.api.types.is_numeric_dtype(frame[c])
    ]
    return sorted(terms, key=lambda c: (c != "loss", c))


def curves_long(frame, run_id: str | None = None):
    """Long frame ``phase, step, term, value, run`` of every loss term of a :func:`metrics_frame`."""
    import pandas as pd

    if frame is None or frame.empty:
        return pd.DataFrame(columns=["phase", "step", "term", "value", "run"])
    terms = loss_terms_of(frame)
    if not terms:
        return pd.DataFrame(columns=["phase", "step", "term", "value", "run"])
    long = frame.melt(id_vars=["phase", "step"], value_vars=terms, var_name="term")
    long = long.dropna(subset=["value"])
    long["run"] = run_id or ""
    return long.reset_index(drop=True)


def accuracy_curves(path: str | os.PathLike, run_id: str | None = None):
    """Dev accuracy during training: ``phase, step, language, accuracy, run``, one row per
    language of each ``kind="eval"`` record of ``metrics.jsonl`` (empty when none)."""
    import pandas as pd

    cols = ["phase", "step", "language", "accuracy", "run"]
    rows = [
        {"phase": rec.get("phase", ""), "step": rec.get("step"), "language": lang}
        | {"accuracy": value, "run": run_id or ""}
        for rec in read_metrics(path, kind="eval")
        for lang, value in (rec.get("accuracy") or {}).items()
    ]
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------------- progress


@dataclass
class Progress:
    """Where a run stands: overall fraction, the phase and its steps, and an ETA if known."""

    state: str | None
    phase: str | None
    step: int | None
    total_steps: int | None
    fraction: float  # 0..1 over the whole run
    phase_fraction: float | None  # 0..1 within the phase
    eta_seconds: float | None = None  # time left in the current phase, when known
    elapsed_seconds: float | None = None

    @property
    def text(self) -> str:
        parts = [self.state or "unknown"]
        if self.phase and self.state in ACTIVE_STATES:
            parts.append(f"phase {self.phase}")
            if self.total_steps:
                parts.append(f"step {self.step or 0}/{self.total_steps}")
        if self.elapsed_seconds is not None:
            parts.append(f"elapsed {format_seconds(self.elapsed_seconds)}")
        if self.eta_seconds is not None:
            parts.append(f"~{format_seconds(self.eta_seconds)} left in this phase")
        return " · ".join(parts)


def format_seconds(seconds: float | None) -> str:
    """``75`` -> ``1 min 15 s``; ``None`` -> ``?``."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _parse_time(text: Any) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return None


class EtaTracker:
    """Estimates the time left in a phase from successive (phase, step) observations.

    Keep one per run (e.g. in the app's session state) and call :meth:`observe` with each
    status read; the rate is measured from the first observation of the current phase.
    """

    def __init__(self) -> None:
        self.phase: str | None = None
        self.first: tuple[float, int] | None = None

    def observe(self, phase: str | None, step: int | None, total: int | None, now=None):
        """Record an observation; returns the seconds left in the phase, or ``None``."""
        now = time.time() if now is None else float(now)
        if phase != self.phase or step is None:
            self.phase = phase
            self.first = (now, int(step or 0))
            return None
        assert self.first is not None
        t0, s0 = self.first
        if step < s0:  # a restarted phase
            self.first = (now, int(step))
            return None
        if not total or step <= s0 or now <= t0:
            return None
        rate = (step - s0) / (now - t0)
        return max(0.0, (total - step) / rate)


def progress(
    status: dict,
    *,
    baseline: bool = True,
    tracker: EtaTracker | None = None,
    now: float | None = None,
) -> Progress:
    """Overall and per-phase progress of a run from its ``status.json``.

    The overall fraction weights the phases by a rough share of wall time (data 3 %,
    teacher 17 %, baseline 30 %, student 45 %, eval 5 %; the baseline's share goes to the
    student when there is no baseline). A finished run is 1.0.
    """
    state = status.get("state")
    phase = status.get("phase")
    step = status.get("step")
    total = status.get("total_steps")
    now = time.time() if now is None else now
    started = _parse_time(status.get("started"))
    if state in ACTIVE_STATES:
        elapsed = now - started if started else None
    else:
        updated = _parse_time(status.get("updated"))
        elapsed = updated - started if started and updated else None
    try:
        step_i = int(step) if step is not None else None
        total_i = int(total) if total is not None else None
    except (TypeError, ValueError):
        step_i, total_i = None, None
    phase_fraction = None
    if step_i is not None and total_i:
        phase_fraction = min(1.0, max(0.0, step_i / total_i))
    weights = dict(_PHASE_WEIGHT)
    if not baseline:
        weights["student"] += weights.pop("baseline")
    if state == "finished" or phase == "done":
        fraction = 1.0
    elif phase in weights:
        order = [p for p in PHASES if p in weights]
        done = sum(weights[p] for p in order[: order.index(phase)])
        fraction = done + weights[phase] * (phase_fraction or 0.0)
    else:
        fraction = 0.0
    eta = None
    if tracker is not None and state in ACTIVE_STATES:
        eta = tracker.observe(phase, step_i, total_i, now)
    return Progress(
        state=state,
        phase=phase,
        step=step_i,
        total_steps=total_i,
        fraction=float(min(1.0, max(0.0, fraction))),
        phase_fraction=phase_fraction,
        eta_seconds=eta,
        elapsed_seconds=elapsed,
    )


def log_tail(path: str | os.PathLike, lines: int = 40) -> str:
    """The last ``lines`` lines of the run's ``logs/process.log`` and ``logs/run.log``."""
    folder = RunFolder(path)
    out = []
    for log in (folder.process_log_path, folder.log_path):
        try:
            text = log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        tail = text.splitlines()[-lines:]
        if tail:
            out.append(f"== {log.name} ==\n" + "\n".join(tail))
    return "\n\n".join(out)


def all_runs(base: str | os.PathLike | None = None) -> list[Run]:
    """:func:`xkd.runs.list_runs` of ``base`` (default: :func:`runs_dir`)."""
    return list_runs(Path(base) if base is not None else runs_dir())
