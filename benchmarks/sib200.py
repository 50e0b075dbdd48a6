"""``sib200_kd_gain``: zero-shot KD gain on the SIB-200 subset, through the real pipeline.

``xkd train --preset demo --set data.path=<sib200> --set data.source_language=eng_Latn
--set train.epochs=1`` in a subprocess (fresh ``--runs-dir``), then ``eval.json``: for each of
the 11 non-English languages, test accuracy of the KD student minus the no-KD baseline (same
initial weights, English labels only). Figure = mean gain in accuracy points; each language's
teacher / student / baseline accuracies go to the JSON. No target-language label is used.

``--quick``: 2 target languages (deu_Latn, fra_Latn), 64 training rows per language, 1 epoch:
a smoke test of the plumbing, not a measurement. Skipped with a message when the folder is
missing (``XKD_SIB200`` overrides the default path).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks.common import SIB200_DIR, Context, Figure, skipped
from benchmarks.demo import train_cli

NAME = "sib200_kd_gain"
FIGURES = (NAME,)
EPOCHS = 1  # 1 epoch: ~4-5 min on 2 idle cores, inside the full run's 25-minute budget


def run(ctx: Context) -> list[Figure]:
    if not SIB200_DIR.is_dir():
        return [
            skipped(
                NAME,
                f"SIB-200 subset not found at {SIB200_DIR} (set XKD_SIB200 to its folder)",
                unit=" pts",
                quick=ctx.quick,
            )
        ]
    sets = [f"data.path={SIB200_DIR}", "data.source_language=eng_Latn", "name=bench-sib200"]
    if ctx.quick:
        sets += [
            "data.target_languages=deu_Latn,fra_Latn",
            "data.max_train_per_language=64",
            "train.epochs=1",
        ]
    else:
        sets += [f"train.epochs={EPOCHS}"]
    runs_dir = Path(ctx.work_dir) / "sib200-runs"
    stats, run_dir, result, cmd = train_cli(ctx, sets, runs_dir, timeout=1800)
    shutil.rmtree(runs_dir, ignore_errors=True)
    if stats.returncode != 0 or result is None:
        tail = "\n".join(stats.stderr.strip().splitlines()[-5:])
        fig = Figure(
            NAME,
            None,
            unit=" pts",
            status="error",
            note=f"xkd train failed (exit {stats.returncode}): {tail}",
            quick=ctx.quick,
        )
        fig.details = {"command": " ".join(["xkd"] + cmd[3:]), "stderr": stats.stderr[-4000:]}
        return [fig]
    src = "eng_Latn"
    per_lang = {}
    for lang, e in result["languages"].items():
        entry = {
            "n": e["n"],
            "prior": e["prior"],
            **{m: e[m]["accuracy"] for m in ("teacher", "student", "baseline") if m in e},
        }
        if "student" in e and "baseline" in e:
            entry["gain_points"] = 100 * (e["student"]["accuracy"] - e["baseline"]["accuracy"])
        per_lang[lang] = entry
    gains = [v["gain_points"] for k, v in per_lang.items() if k != src and "gain_points" in v]
    value = sum(gains) / len(gains) if gains else None
    s = result.get("headline") or {}
    summary = (
        f"mean zero-shot accuracy gain KD - baseline over {len(gains)} languages "
        f"(student {100 * _num(s.get('student_target_accuracy')):.1f}% vs baseline "
        f"{100 * _num(s.get('baseline_target_accuracy')):.1f}%, "
        f"{'quick: 2 languages, 64 rows each, 1 epoch' if ctx.quick else f'{EPOCHS} epochs'}), points"
    )
    return [
        Figure(
            NAME,
            value,
            None,
            "info",
            unit=" pts",
            summary=summary,
            details={
                "command": " ".join(["xkd"] + cmd[3:]),
                "wall_s": stats.wall_s,
                "peak_rss_mb": stats.peak_rss_mb,
                "languages": per_lang,
                "headline": s,
                "timings_s": result.get("timings"),
                "retrieval": result.get("retrieval"),
                "train_examples": result.get("train_examples"),
            },
            quick=ctx.quick,
        )
    ]


def _num(value) -> float:
    return float("nan") if value is None else float(value)
