"""``ablation_sweep_ratio``: the demo ablation as one sweep over the same members run one by one.

``xkd sweep --ablation ablation --preset demo`` runs six members (KD, KD without parallel data,
the recipe without each of its two terms, the KD config at two more seeds); within the sweep
the teacher's encoder runs once and the no-KD baseline is trained once per seed (three times).
The same six member configs (each member's saved ``config.yaml``) then run one after another
with ``xkd train``, each paying for its own teacher pass and baseline. Both in subprocesses,
side by side in one benchmark run. Target: <= 0.75 (the sweep costs well under its members run
alone). The details keep each member's encoded teacher texts and shared baseline, and the
sweep's per-language KD gains with their paired bootstrap intervals.

``ablation_vs_demo_runs`` (info): the sweep over as many runs of the demo itself (its ``kd``
member, which is the demo config, run alone).

``--quick`` runs the two-member ``kd`` ablation with ``--set train.max_steps=20``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from benchmarks.common import Context, Figure, run_measured
from benchmarks.demo import REPO, _tail, cli_env, xkd_cli

RATIO = "ablation_sweep_ratio"
DEMO_RUNS = "ablation_vs_demo_runs"
FIGURES = (RATIO, DEMO_RUNS)
TARGET = 0.75


def _sweep(ctx: Context, runs: Path, sets: list[str]):
    kind = "kd" if ctx.quick else "ablation"
    cmd = xkd_cli() + ["sweep", "--ablation", kind, "--preset", "demo", "--quiet"]
    cmd += ["--runs-dir", str(runs)] + [a for s in sets for a in ("--set", s)]
    ctx.log("running: " + " ".join(cmd[1:]))
    return run_measured(cmd, env=cli_env(), cwd=REPO, timeout=3600), cmd


def _members(runs: Path) -> tuple[dict, list[tuple[str, Path]]]:
    (sweep,) = (runs / "sweeps").iterdir()
    manifest = json.loads((sweep / "manifest.json").read_text())
    return manifest, [(m["name"], runs / m["run_id"]) for m in manifest["members"]]


def _one_by_one(ctx: Context, members, work: Path) -> tuple[float, list[dict]]:
    total, rows = 0.0, []
    for name, run_dir in members:
        runs = work / f"alone-{name}"
        shutil.rmtree(runs, ignore_errors=True)
        runs.mkdir(parents=True)
        config = runs / "config.yaml"
        shutil.copy(run_dir / "config.yaml", config)
        cmd = xkd_cli() + ["train", str(config), "--runs-dir", str(runs), "--quiet"]
        ctx.log(f"running member {name} alone")
        stats = run_measured(cmd, env=cli_env(), cwd=REPO, timeout=1800)
        if stats.returncode != 0:
            raise RuntimeError(f"member {name} alone failed: {_tail(stats.stderr, 5)}")
        total += stats.wall_s
        rows.append({"member": name, "wall_s": round(stats.wall_s, 1)})
        shutil.rmtree(runs, ignore_errors=True)
    return total, rows


def _facts(members) -> list[dict]:
    out = []
    for name, run_dir in members:
        result = json.loads((run_dir / "eval.json").read_text())
        info = result.get("teacher_info", {})
        head = result.get("headline", {})
        gains = {
            lang: [round(100 * e["kd_gain"][k], 1) for k in ("gain", "low", "high")]
            + [e["kd_gain"]["significant"]]
            for lang, e in result["languages"].items()
            if lang != result["source_language"] and "kd_gain" in e
        }
        out.append(
            {
                "member": name,
                "teacher_texts_encoded": info.get("teacher_texts_encoded"),
                "baseline_shared_from": info.get("baseline_shared_from"),
                "kd_gain_pts": [
                    round(100 * head[k], 1) if head.get(k) is not None else None
                    for k in ("kd_gain", "kd_gain_low", "kd_gain_high")
                ],
                "gains_pts_low_high_significant": gains,
                "timings_s": result.get("timings"),
            }
        )
    return out


def run(ctx: Context) -> list[Figure]:
    if ctx.tiny:
        return [Figure(name, None, status="skipped", note="tiny mode: no demo") for name in FIGURES]
    sets = ["train.max_steps=20"] if ctx.quick else []
    work = Path(ctx.work_dir) / "sweep"
    shutil.rmtree(work, ignore_errors=True)
    runs = work / "runs"
    runs.mkdir(parents=True)
    stats, cmd = _sweep(ctx, runs, sets)
    if stats.returncode != 0:
        note = f"xkd sweep failed (exit {stats.returncode}): {_tail(stats.stderr, 5)}"
        return [Figure(RATIO, None, TARGET, "<=", status="error", note=note, quick=ctx.quick)]
    manifest, members = _members(runs)
    facts = _facts(members)
    alone, walls = _one_by_one(ctx, members, work)
    shutil.rmtree(work, ignore_errors=True)
    q = " (quick: kd ablation, 20 steps)" if ctx.quick else ""
    demo = next(w["wall_s"] for w in walls if w["member"] == "kd")
    return [
        Figure(
            DEMO_RUNS,
            stats.wall_s / (len(members) * demo),
            summary=f"the sweep {stats.wall_s:.0f} s / {len(members)} demo runs of {demo:.0f} s{q}",
            quick=ctx.quick,
        ),
        Figure(
            RATIO,
            stats.wall_s / alone,
            TARGET,
            "<=",
            summary=(
                f"{len(members)}-member demo ablation: sweep {stats.wall_s:.0f} s / the same "
                f"members one by one {alone:.0f} s{q}"
            ),
            details={
                "command": " ".join(["xkd"] + cmd[3:]),
                "sweep_wall_s": round(stats.wall_s, 1),
                "one_by_one_wall_s": round(alone, 1),
                "one_by_one": walls,
                "members": facts,
                "states": [m["state"] for m in manifest["members"]],
            },
            quick=ctx.quick,
        ),
    ]
