"""``processes_step_ratio``: KD-student steps per second in 2 processes vs 1, on this machine.

The demo preset (MiniLM teacher, ``from-teacher:3`` student, no baseline, ``train.max_steps``
60, or 10 with ``--quick``) runs twice, side by side in one benchmark: ``xkd train`` (one
process, torch's own thread count) and ``torchrun --nproc_per_node 2 -m xkd.cli train`` (two
processes, ``OMP_NUM_THREADS`` = cores / 2 each, so both use the same cores). The two processes
split every batch of 32 (:func:`xkd.train.loop.local_part`), so the steps are the same steps.
Throughput is the student phase's steps over its wall time (``timings.student`` in
``eval.json``, which includes saving the models in both). No target: on a CPU the figure says
what splitting a batch across processes costs or gains here (GPUs, one process each, are where
several processes pay off).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from benchmarks.common import Context, Figure, run_measured
from benchmarks.demo import REPO, cli_env, xkd_cli

RATIO = "processes_step_ratio"
FIGURES = (RATIO,)


def _launch(ctx: Context, launcher: list[str], runs: Path, steps: int, threads: int | None):
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)
    sets = [f"train.max_steps={steps}", "baseline=false"]
    cmd = [*launcher, "train", "--preset", "demo", "--runs-dir", str(runs), "--quiet"]
    for s in sets:
        cmd += ["--set", s]
    ctx.log("running: " + " ".join(cmd))
    stats = run_measured(cmd, env=cli_env(threads), cwd=REPO, timeout=1800, use_time_v=False)
    found = [p for p in runs.glob("*/eval.json")]
    result = json.loads(found[0].read_text()) if stats.returncode == 0 and found else None
    env = json.loads(found[0].with_name("env.json").read_text()) if found else {}
    return stats, result, env


def run(ctx: Context) -> list[Figure]:
    if ctx.tiny:
        return [Figure(RATIO, None, status="skipped", note="--tiny: the demo models are needed")]
    steps = 10 if ctx.quick else 60
    cores = os.cpu_count() or 2
    torchrun = [str(Path(sys.executable).parent / "torchrun"), "--nproc_per_node", "2"]
    one = _launch(ctx, xkd_cli(), ctx.work_dir / "procs-1", steps, None)
    two = _launch(ctx, [*torchrun, "-m", "xkd.cli"], ctx.work_dir / "procs-2", steps, cores // 2)
    details: dict = {"max_steps": steps, "cores": cores, "threads_per_process_2": cores // 2}
    rates = {}
    for name, (stats, result, env) in (("1", one), ("2", two)):
        details[f"returncode_{name}"] = stats.returncode
        if result is None:
            details[f"stderr_{name}"] = stats.stderr[-2000:]
            continue
        student_s = result["timings"]["student"]
        rates[name] = steps / student_s
        details[f"student_s_{name}"] = student_s
        details[f"wall_s_{name}"] = stats.wall_s
        details[f"world_size_{name}"] = (env.get("processes") or {}).get("world_size")
        details[f"headline_{name}"] = result.get("headline")
    ok = len(rates) == 2 and details.get("world_size_2") == 2
    ratio = rates["2"] / rates["1"] if ok else None
    return [
        Figure(
            RATIO,
            ratio,
            unit="x",
            summary=(
                f"student steps/s, torchrun 2 processes / 1 process "
                f"({rates.get('2', 0):.2f} vs {rates.get('1', 0):.2f} steps/s, demo, "
                f"{steps} steps, {cores} cores)"
            ),
            details=details,
            status="ok" if ok else "error",
            note="" if ok else "a launch failed (see details)",
            quick=ctx.quick,
        )
    ]
