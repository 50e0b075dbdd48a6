"""``demo_wall_s`` and ``demo_peak_rss_mb``: ``xkd train --preset demo`` end to end.

The CLI runs in a subprocess (``python -m xkd.cli train --preset demo --quiet`` into a fresh
``--runs-dir``, so it never waits for another run's device lock). Wall time is the whole
process: interpreter start, imports, data, teacher cache, baseline, KD student, evaluation and
writing the run folder. Peak RSS: ``/usr/bin/time -v`` (exact, kernel-tracked maximum of the
process) when available, else psutil polling of the process tree; both are kept.

``alignment_health_share``: the time the run's alignment health cost (the ``seconds`` of its
``alignment`` records: student inference on the held-out pairs, the language probe, CKA and the
maps) over the demo's wall time, both from the same run (target <= 0.10).

``--quick`` runs the demo with ``--set train.max_steps=20`` (both baseline and student stop
after 20 steps); its numbers are marked quick and are not comparable to the targets.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from benchmarks.common import Context, Figure, bench_env, run_measured

WALL = "demo_wall_s"
RSS = "demo_peak_rss_mb"
HEALTH = "alignment_health_share"
FIGURES = (WALL, RSS, HEALTH)
WALL_TARGET = 180.0
RSS_TARGET = 3000.0
REPO = Path(__file__).resolve().parent.parent


def xkd_cli() -> list[str]:
    """The xkd command line, run with this interpreter (works without the console script)."""
    return [sys.executable, "-m", "xkd.cli"]


def cli_env(threads: int | None = None) -> dict[str, str]:
    import os

    env = bench_env(threads)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def train_cli(ctx: Context, sets: list[str], runs_dir: Path, timeout: float):
    """Run ``xkd train --preset demo --set ...`` measured; returns (stats, run_dir, eval dict)."""
    shutil.rmtree(runs_dir, ignore_errors=True)
    runs_dir.mkdir(parents=True, exist_ok=True)
    cmd = xkd_cli() + ["train", "--preset", "demo", "--runs-dir", str(runs_dir), "--quiet"]
    for s in sets:
        cmd += ["--set", s]
    ctx.log("running: " + " ".join(cmd[1:]))
    stats = run_measured(cmd, env=cli_env(), cwd=REPO, timeout=timeout)
    run_dirs = [p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    run_dir = run_dirs[0] if len(run_dirs) == 1 else None
    result = None
    if run_dir is not None and (run_dir / "eval.json").is_file():
        result = json.loads((run_dir / "eval.json").read_text())
    return stats, run_dir, result, cmd


def _tail(text: str, n: int = 15) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip() and "Command being timed" not in ln]
    return "\n".join(lines[-n:])


def _health_seconds(run_dir: Path | None) -> dict | None:
    """The cost of the run's alignment health: its records' ``seconds``, summed."""
    if run_dir is None:
        return None
    from xkd.runs import read_metrics

    records = read_metrics(run_dir, kind="alignment")
    if not records:
        return None
    seconds = sum(r.get("seconds") or 0.0 for r in records)
    return {"seconds": round(seconds, 2), "records": len(records)}


def run(ctx: Context) -> list[Figure]:
    sets = ["train.max_steps=20"] if ctx.quick else []
    runs_dir = Path(ctx.work_dir) / "demo-runs"
    stats, run_dir, result, cmd = train_cli(ctx, sets, runs_dir, timeout=1200)
    ok = stats.returncode == 0 and result is not None
    details = {
        "command": " ".join(["xkd"] + cmd[3:]),
        "returncode": stats.returncode,
        "wall_s": stats.wall_s,
        "peak_rss_source": stats.source,
        "time_v_max_rss_mb": stats.time_v_max_rss_mb,
        "polled_tree_peak_mb": stats.polled_tree_peak_mb,
        "quick_note": "quick: --set train.max_steps=20 (not comparable to the targets)"
        if ctx.quick
        else None,
    }
    if result is not None:
        details["timings_s"] = result.get("timings")
        details["headline"] = result.get("headline")
        details["throughput"] = result.get("throughput")
        details["train_examples"] = result.get("train_examples")
    if not ok:
        details["stderr_tail"] = _tail(stats.stderr, 30)
    health = _health_seconds(run_dir) if ok else None
    shutil.rmtree(runs_dir, ignore_errors=True)
    status = "ok" if ok else "error"
    note = "" if ok else f"xkd train failed (exit {stats.returncode}): {_tail(stats.stderr, 3)}"
    q = " with --set train.max_steps=20" if ctx.quick else ""
    t = (details.get("timings_s") or {}) if ok else {}
    phases = ", ".join(f"{k} {v:.0f}s" for k, v in t.items() if k != "total")
    return [
        Figure(
            HEALTH,
            health["seconds"] / stats.wall_s if health else None,
            0.10,
            "<=",
            summary=f"alignment health time / demo wall{q} ({health['records'] if health else 0} "
            "records)",
            details=health or {},
            status=status if health else "error",
            note=note if not ok else ("" if health else "no alignment records"),
            quick=ctx.quick,
        ),
        Figure(
            WALL,
            stats.wall_s if ok else None,
            WALL_TARGET,
            "<=",
            unit=" s",
            summary=f"xkd train --preset demo{q}, wall ({phases})",
            details=details,
            status=status,
            note=note,
            quick=ctx.quick,
        ),
        Figure(
            RSS,
            stats.peak_rss_mb if ok else None,
            RSS_TARGET,
            "<=",
            unit=" MB",
            summary=f"xkd train --preset demo{q}, peak RSS ({stats.source})",
            details={
                k: details[k]
                for k in ("peak_rss_source", "time_v_max_rss_mb", "polled_tree_peak_mb")
            },
            status=status,
            note=note,
            quick=ctx.quick,
        ),
    ]
