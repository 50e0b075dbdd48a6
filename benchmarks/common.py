"""Shared helpers: figures, interleaved timing, medians and ratios, machine description, results.

Every figure is a :class:`Figure` (value, target, comparison, details). Timings that are compared
are taken *side by side in one process*, alternating A and B (ABBA order), so that the noise of a
shared machine (other processes on the same cores, frequency changes) hits both sides alike.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SIB200_DIR = Path(os.environ.get("XKD_SIB200", "/work/shared/data/sib200"))

# ---------------------------------------------------------------------------------------------
# Run context and figures


@dataclass
class Context:
    """What every benchmark module receives.

    ``quick``: the CI smoke version (short, still prints every figure). ``tiny``: test mode with
    tiny random models (numbers are meaningless; only the plumbing is exercised). ``work_dir``: a
    scratch folder (run folders, saved models) removed at the end. ``shared``: objects built once
    and reused by several benchmarks of one run (the loaded teacher and its cache).
    """

    quick: bool = False
    tiny: bool = False
    work_dir: Path = field(default_factory=lambda: Path("/tmp/xkd-bench"))
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr, flush=True))
    shared: dict[str, Any] = field(default_factory=dict)  # setups reused across benchmarks


OPS = ("<=", ">=", "info")


@dataclass
class Figure:
    """One benchmark figure.

    ``op`` is ``<=`` / ``>=`` (pass when ``value op target``) or ``info`` (no target).
    ``status``: ``ok``, ``skipped`` (a prerequisite is missing: ``note`` says which) or ``error``.
    ``extra_pass`` lets a figure add conditions of its own (e.g. accuracies that must agree);
    the figure passes only when the target and every extra condition hold.
    """

    name: str
    value: float | None
    target: float | None = None
    op: str = "info"
    unit: str = ""
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    note: str = ""
    quick: bool = False
    extra_pass: dict[str, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"op must be one of {OPS}, got {self.op!r}")

    @property
    def passed(self) -> bool | None:
        """True/False against the target; None when there is no target or no value."""
        if self.status != "ok" or self.op == "info" or self.target is None:
            return None if not self.extra_pass else all(self.extra_pass.values())
        if self.value is None or not math.isfinite(self.value):
            return False
        ok = self.value <= self.target if self.op == "<=" else self.value >= self.target
        return ok and all(self.extra_pass.values())

    @property
    def verdict(self) -> str:
        if self.status == "skipped":
            return "SKIP"
        if self.status == "error":
            return "ERROR"
        p = self.passed
        return "INFO" if p is None else ("PASS" if p else "FAIL")

    def line(self) -> str:
        """``VERDICT [quick] summary (target) name=value`` - the value always ends the line."""
        parts = [f"{self.verdict:<5}"]
        if self.quick:
            parts.append("[quick]")
        text = self.summary or self.note
        if self.status != "ok" and self.note and self.note not in text:
            text = f"{text} ({self.note})" if text else self.note
        if text:
            parts.append(text)
        if self.op != "info" and self.target is not None:
            parts.append(f"(target {self.op} {fmt(self.target)}{self.unit})")
        parts.append(f"{self.name}={fmt(self.value)}")
        return " ".join(parts)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["pass"] = self.passed
        d["verdict"] = self.verdict
        return _jsonable(d)


def fmt(value: float | None) -> str:
    if value is None:
        return "nan"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan"
    if isinstance(value, int):
        return str(value)
    a = abs(value)
    if a >= 100:
        return f"{value:.1f}"
    if a >= 1:
        return f"{value:.3f}"
    return f"{value:.4g}"


def skipped(name: str, note: str, *, unit: str = "", target=None, op="info", quick=False) -> Figure:
    return Figure(
        name, None, target=target, op=op, unit=unit, status="skipped", note=note, quick=quick
    )


def errored(name: str, exc: BaseException, *, target=None, op="info", quick=False) -> Figure:
    msg = f"{type(exc).__name__}: {exc}".strip()
    return Figure(name, None, target=target, op=op, status="error", note=msg[:500], quick=quick)


# ---------------------------------------------------------------------------------------------
# Timing


def median(values: Sequence[float]) -> float:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return statistics.median(vals) if vals else float("nan")


def quantiles(values: Sequence[float]) -> dict[str, float]:
    """min, q1, median, q3, max and n of ``values`` (for the JSON details)."""
    vals = sorted(float(v) for v in values)
    if not vals:
        return {"n": 0}
    q = statistics.quantiles(vals, n=4) if len(vals) > 1 else [vals[0]] * 3
    return {
        "n": len(vals),
        "min": vals[0],
        "q1": q[0],
        "median": statistics.median(vals),
        "q3": q[2],
        "max": vals[-1],
    }


def ratio(a: float, b: float) -> float:
    """``a / b`` that never raises (``nan`` for a zero or missing denominator)."""
    try:
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        return float("nan")
    if not math.isfinite(a) or not math.isfinite(b) or b == 0:
        return float("nan")
    return a / b


def abba_order(names: Sequence[str], rep: int) -> list[str]:
    """A B on even repetitions, B A on odd ones (drift cancels out over pairs of repetitions)."""
    return list(names) if rep % 2 == 0 else list(reversed(names))


def interleaved(
    fns: dict[str, Callable[[int], Any]],
    repeats: int,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Time each ``fns[name](rep)`` ``repeats`` times, alternating the order (ABBA).

    Each function receives the repetition index (so both sides can use the same inputs of that
    repetition). A function may return a float (seconds it measured itself, e.g. the per-step
    median of a block) or a list of floats (several samples); otherwise its wall time is used.
    ``warmup`` untimed rounds run first (same order rules).
    """
    samples: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for rep in range(-warmup, repeats):
        for name in abba_order(names, rep):
            start = clock()
            out = fns[name](rep)
            elapsed = clock() - start
            if rep < 0:
                continue
            if isinstance(out, (int, float)) and not isinstance(out, bool):
                samples[name].append(float(out))
            elif (
                isinstance(out, (list, tuple))
                and out
                and all(isinstance(x, (int, float)) for x in out)
            ):
                samples[name].extend(float(x) for x in out)
            else:
                samples[name].append(elapsed)
    return samples


def paired_ratios(a: Sequence[float], b: Sequence[float]) -> list[float]:
    return [ratio(x, y) for x, y in zip(a, b)]


def compare(samples: dict[str, list[float]], num: str, den: str) -> dict[str, Any]:
    """Median of ``num`` / median of ``den``, with both distributions and paired ratios."""
    a, b = samples[num], samples[den]
    return {
        "ratio_of_medians": ratio(median(a), median(b)),
        "median_of_paired_ratios": median(paired_ratios(a, b)) if len(a) == len(b) else None,
        num: quantiles(a),
        den: quantiles(b),
    }


def padding_ratio(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Tokens computed (each batch padded to its longest row) / real tokens, over ``batches``."""
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches if b)
    real = sum(lengths[i] for b in batches for i in b)
    return ratio(padded, real)


def random_batches(n: int, size: int, seed: int, epochs: int = 1) -> list[list[int]]:
    """Shuffled consecutive batches (what a plain shuffling DataLoader does), ``epochs`` times."""
    import random

    out = []
    for e in range(epochs):
        order = list(range(n))
        random.Random(seed * 1000 + e).shuffle(order)
        out += [order[i : i + size] for i in range(0, n, size)]
    return out


@contextlib.contextmanager
def recording_adamw(seen: dict):
    """Inside the block, ``torch.optim.AdamW(...)`` records its keyword arguments in ``seen``.

    Lets a benchmark give its reference side the optimizer settings xkd's loop really uses
    (``fused``/``foreach``...), whatever they are. The recording class is a plain subclass:
    behaviour is unchanged.
    """
    import torch

    original = torch.optim.AdamW

    class RecordingAdamW(original):
        def __init__(self, params, *args, **kwargs):
            seen.update(kwargs)
            super().__init__(params, *args, **kwargs)

    torch.optim.AdamW = RecordingAdamW
    try:
        yield seen
    finally:
        torch.optim.AdamW = original


def same_adamw(params, seen: dict, lr: float, weight_decay: float):
    """An AdamW with the implementation switches (fused/foreach) recorded in ``seen``."""
    import torch

    kw = {k: v for k, v in seen.items() if k in ("fused", "foreach", "capturable")}
    return torch.optim.AdamW(
        params, lr=lr, weight_decay=seen.get("weight_decay", weight_decay), **kw
    )


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        self.seconds = float("nan")
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start


# ---------------------------------------------------------------------------------------------
# Subprocesses: wall time and peak memory of a process tree


@dataclass
class ProcessStats:
    returncode: int
    wall_s: float
    peak_rss_mb: float  # the best available measurement (see ``source``)
    polled_tree_peak_mb: float
    time_v_max_rss_mb: float | None
    source: str
    stdout: str
    stderr: str


def _tree_rss(proc) -> int:
    import psutil

    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_measured(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float | None = None,
    poll_s: float = 0.05,
    use_time_v: bool = True,
) -> ProcessStats:
    """Run ``cmd``; wall time, and peak RSS of the process tree.

    Peak RSS: ``/usr/bin/time -v``'s "Maximum resident set size" (kernel-tracked, exact for the
    main process) when available, else psutil polling of the whole tree every ``poll_s`` s (which
    can miss a short spike). Both are kept in the result.
    """
    import psutil

    time_v = use_time_v and Path("/usr/bin/time").is_file()
    full = (["/usr/bin/time", "-v"] if time_v else []) + list(cmd)
    peak = 0
    start = time.perf_counter()
    proc = subprocess.Popen(
        full,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out_chunks: list[str] = []
    err_chunks: list[str] = []
    readers = [
        threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()), daemon=True),
        threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()), daemon=True),
    ]
    for t in readers:
        t.start()
    try:
        ps = psutil.Process(proc.pid)
    except psutil.Error:
        ps = None
    deadline = None if timeout is None else start + timeout
    while proc.poll() is None:
        if ps is not None:
            peak = max(peak, _tree_rss(ps))
        if deadline is not None and time.perf_counter() > deadline:
            proc.kill()
            break
        time.sleep(poll_s)
    proc.wait()
    wall = time.perf_counter() - start
    for t in readers:
        t.join(timeout=10)
    stdout, stderr = "".join(out_chunks), "".join(err_chunks)
    tv = None
    if time_v:
        for line in stderr.splitlines():
            if "Maximum resident set size" in line:
                try:
                    tv = int(line.rsplit(":", 1)[1]) / 1024  # kB -> MiB
                except ValueError:
                    pass
    polled = peak / 2**20
    best, source = (tv, "/usr/bin/time -v") if tv is not None else (polled, "psutil polling")
    return ProcessStats(proc.returncode, wall, best, polled, tv, source, stdout, stderr)


# ---------------------------------------------------------------------------------------------
# Machine description and results


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, load, library versions and GPU (if any) of this machine."""
    import psutil
    import torch

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    gpu = None
    if torch.cuda.is_available():
        gpu = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    try:
        load = list(os.getloadavg())
    except OSError:  # pragma: no cover
        load = None
    versions = {
        name: _version(name)
        for name in (
            "xkd",
            "torch",
            "transformers",
            "accelerate",
            "tokenizers",
            "numpy",
            "umap-learn",
            "numba",
            "sentence-transformers",
            "textbrewer",
        )
    }
    if versions["xkd"] is None:  # running from a source tree that is not installed
        import xkd

        versions["xkd"] = f"{xkd.__version__} (source tree, not installed)"
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": usable,
        "torch_threads": torch.get_num_threads(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_1_5_15": load,
        "gpu": gpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if isinstance(obj, Path):
        return str(obj)
    try:  # numpy scalars
        return _jsonable(obj.item())
    except AttributeError:
        return str(obj)


def write_results(
    figures: Sequence[Figure],
    out_dir: str | Path,
    *,
    quick: bool,
    argv: Sequence[str] | None = None,
    wall_s: float | None = None,
    machine_info: dict[str, Any] | None = None,
    stamp: str | None = None,
) -> Path:
    """Write ``<out_dir>/<timestamp>.json`` (atomically) and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc)
    stamp = stamp or now.strftime("%Y%m%d-%H%M%S")
    path = out / f"{stamp}{'-quick' if quick else ''}.json"
    n = 1
    while path.exists():
        n += 1
        path = out / f"{stamp}{'-quick' if quick else ''}-{n}.json"
    doc = {
        "created": now.isoformat(timespec="seconds"),
        "quick": quick,
        "command": list(argv) if argv is not None else sys.argv,
        "git_commit": git_commit(),
        "wall_s": wall_s,
        "machine": machine_info if machine_info is not None else machine(),
        "figures": {f.name: f.to_json() for f in figures},
        "summary": {
            verdict: sorted(f.name for f in figures if f.verdict == verdict)
            for verdict in ("PASS", "FAIL", "INFO", "SKIP", "ERROR")
        },
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_jsonable(doc), indent=2, ensure_ascii=False))
    os.replace(tmp, path)
    return path


def bench_env(threads: int | None = None) -> dict[str, str]:
    """Environment for benchmark subprocesses: offline, no tokenizer fork warnings."""
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["PYTHONUNBUFFERED"] = "1"
    # measurement runs never queue behind a real run's machine-wide device lock (a busy CPU is
    # reported by the load-average note instead)
    env["XKD_LOCK_DIR"] = os.path.join(tempfile.gettempdir(), f"xkd-bench-locks-{os.getpid()}")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env
