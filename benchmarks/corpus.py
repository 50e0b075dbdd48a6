"""Corpora larger than memory: ``load_parallel`` and ``xkd train`` on synthetic parallel corpora.

Synthetic line-aligned corpora (``c.en`` / ``c.de``, about 400 bytes per pair) of 100k and 1M
pairs (``--quick``), plus 5M pairs (about 2 GB) in the full run, are written to the work folder.
Each is read by ``load_parallel(..., max_pairs_per_language=20000)`` in a fresh process; peak
RSS (``/usr/bin/time -v``) and pairs read per second are measured side by side.

- ``corpus_peak_rss_mb``: peak RSS on the largest corpus (target <= 3000 MB);
- ``corpus_rss_growth``: peak RSS, largest corpus / smallest (target <= 1.3: memory flat);
- ``corpus_throughput_ratio``: pairs/s, largest / smallest (target >= 0.7: throughput steady);
- ``corpus_train_peak_rss_mb``: ``xkd train --preset transfer`` with the largest corpus as
  ``data.parallel_corpus``, ``data.max_pairs_per_language=2000`` and
  ``train.max_steps=20``: peak RSS of the whole run (target <= 3000 MB);
- ``task_file_rss_growth``: ``load_data(..., max_train_per_language=2000)`` on synthetic task
  CSV files (text, label, language, split, pair_id; three languages; 3000 test rows) of 100k
  and 1M rows, streamed
  (the whole-read limit set to 0 in the measured process, so both sizes take the path of files
  over 512 MB): peak RSS, larger / smaller (target <= 1.3).
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

from benchmarks.common import Context, Figure, ratio, run_measured
from benchmarks.demo import cli_env, xkd_cli

RSS, GROWTH, SPEED, TRAIN = (
    "corpus_peak_rss_mb",
    "corpus_rss_growth",
    "corpus_throughput_ratio",
    "corpus_train_peak_rss_mb",
)
TASK = "task_file_rss_growth"
FIGURES = (RSS, GROWTH, SPEED, TRAIN, TASK)
CAP = 20_000
WORDS = "alpha beta gamma delta river mountain city music market garden window bread".split()

READ = (
    "import json, time; from xkd.data.parallel import load_parallel; t = time.perf_counter(); "
    "c = load_parallel({path!r}, source_language='en', max_pairs_per_language={cap}); "
    "print(json.dumps({{'seconds': time.perf_counter() - t, 'rows': len(c.frame)}}))"
)


def write_corpus(folder: Path, n: int, seed: int = 0) -> Path:
    """``c.en`` and ``c.de`` with ``n`` aligned lines of about 200 bytes each."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    with open(folder / "c.en", "w") as en, open(folder / "c.de", "w") as de:
        for i in range(n):
            words = " ".join(rng.choice(WORDS) for _ in range(30))
            en.write(f"{i} the {words}\n")
            de.write(f"{i} der {words}\n")
    return folder


READ_TASK = (
    "import json, time; from xkd.data import load_data, stream; stream.WHOLE_FILE_BYTES = 0; "
    "t = time.perf_counter(); d = load_data({path!r}, max_train_per_language=2000); "
    "print(json.dumps({{'seconds': time.perf_counter() - t, 'rows': len(d.frame)}}))"
)


def write_task_file(path: Path, n: int, seed: int = 0) -> Path:
    """A task CSV of ``n`` rows (about 200 bytes each): groups of en/de/fr translations, the
    first 3000 rows ``test`` and the rest ``train`` (a large training set, a fixed test set)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    with open(path, "w") as fh:
        fh.write("text,label,language,split,pair_id\n")
        for i in range(n):
            words = " ".join(rng.choice(WORDS) for _ in range(30))
            split = "test" if i < 3000 else "train"
            fh.write(f"{i} {words},{'ab'[i % 2]},{('en', 'de', 'fr')[i % 3]},{split},{i // 3}\n")
    return path


def _task_curve(ctx: Context, work: Path) -> dict[int, dict]:
    sizes = [2_000, 20_000] if ctx.tiny else [100_000, 1_000_000]
    curve: dict[int, dict] = {}
    for n in sizes:
        path = write_task_file(work / f"task-{n}.csv", n)
        cmd = [sys.executable, "-c", READ_TASK.format(path=str(path))]
        stats = run_measured(cmd, env=cli_env(), timeout=3600)
        if stats.returncode != 0:
            raise RuntimeError(f"load_data failed: {stats.stderr[-500:]}")
        out = json.loads(stats.stdout.strip().splitlines()[-1])
        curve[n] = {
            "peak_rss_mb": stats.peak_rss_mb,
            "rows_per_s": n / out["seconds"],
            "rows_kept": out["rows"],
            "bytes": path.stat().st_size,
        }
        ctx.log(f"task file {n} rows: {curve[n]}")
        path.unlink()
    return curve


def _read(ctx: Context, folder: Path) -> dict:
    cmd = [sys.executable, "-c", READ.format(path=str(folder), cap=CAP)]
    stats = run_measured(cmd, env=cli_env(), timeout=3600)
    if stats.returncode != 0:
        raise RuntimeError(f"load_parallel failed: {stats.stderr[-500:]}")
    out = json.loads(stats.stdout.strip().splitlines()[-1])
    return {"peak_rss_mb": stats.peak_rss_mb, "seconds": out["seconds"], "rows": out["rows"]}


def _train(ctx: Context, folder: Path) -> tuple[float | None, dict]:
    runs = Path(ctx.work_dir) / "corpus-runs"
    shutil.rmtree(runs, ignore_errors=True)
    cmd = xkd_cli() + ["train", "--preset", "transfer", "--runs-dir", str(runs), "--quiet"]
    for s in (
        f"data.parallel_corpus={folder}",
        "data.target_languages=de",
        "data.max_pairs_per_language=2000",
        "train.max_steps=20",
        "model.teacher_epochs=1",
    ):
        cmd += ["--set", s]
    ctx.log("running: " + " ".join(cmd[1:]))
    stats = run_measured(cmd, env=cli_env(), timeout=3600)
    shutil.rmtree(runs, ignore_errors=True)
    details = {"returncode": stats.returncode, "wall_s": stats.wall_s}
    if stats.returncode != 0:
        details["stderr_tail"] = stats.stderr[-800:]
        return None, details
    return stats.peak_rss_mb, details


def run(ctx: Context) -> list[Figure]:
    sizes = [100_000, 1_000_000] if ctx.quick else [100_000, 1_000_000, 5_000_000]
    if ctx.tiny:
        sizes = [2_000, 20_000]
    work = Path(ctx.work_dir) / "corpora"
    curve: dict[int, dict] = {}
    for n in sizes:
        folder = write_corpus(work / str(n), n)
        curve[n] = _read(ctx, folder)
        curve[n]["pairs_per_s"] = n / curve[n]["seconds"]
        curve[n]["bytes"] = sum(f.stat().st_size for f in folder.iterdir())
        ctx.log(f"corpus {n} pairs: {curve[n]}")
    small, large = curve[sizes[0]], curve[sizes[-1]]
    if ctx.tiny:  # test mode: the MiniLM run is left out
        train_rss, train_details = None, {"skipped": "--tiny"}
    else:
        train_rss, train_details = _train(ctx, work / str(sizes[-1]))
    shutil.rmtree(work, ignore_errors=True)
    task = _task_curve(ctx, work)
    (t_small, t_large), t_sizes = task.values(), list(task)
    details = {"curve": {str(n): v for n, v in curve.items()}, "max_pairs_per_language": CAP}
    label = f"{sizes[-1]:,} pairs ({large['bytes'] / 2**30:.2f} GB)"
    return [
        Figure(
            RSS,
            large["peak_rss_mb"],
            3000.0,
            "<=",
            unit=" MB",
            summary=f"load_parallel peak RSS, {label}",
            details=details,
            quick=ctx.quick,
        ),
        Figure(
            GROWTH,
            ratio(large["peak_rss_mb"], small["peak_rss_mb"]),
            1.3,
            "<=",
            summary=f"peak RSS {sizes[-1]:,} / {sizes[0]:,} pairs (flat = 1)",
            details=details,
            quick=ctx.quick,
        ),
        Figure(
            SPEED,
            ratio(large["pairs_per_s"], small["pairs_per_s"]),
            0.7,
            ">=",
            summary=f"pairs/s {sizes[-1]:,} / {sizes[0]:,} pairs (steady = 1)",
            details=details,
            quick=ctx.quick,
        ),
        Figure(
            TRAIN,
            train_rss,
            3000.0,
            "<=",
            unit=" MB",
            summary=f"xkd train --preset transfer on {label}, max_pairs_per_language=2000, "
            "max_steps=20, peak RSS",
            details=train_details,
            status="ok" if train_rss is not None else ("skipped" if ctx.tiny else "error"),
            note="" if train_rss is not None else ("--tiny" if ctx.tiny else "xkd train failed"),
            quick=ctx.quick,
        ),
        Figure(
            TASK,
            ratio(t_large["peak_rss_mb"], t_small["peak_rss_mb"]),
            1.3,
            "<=",
            summary=f"task CSV streamed, {t_sizes[-1]:,} / {t_sizes[0]:,} rows, "
            "max_train_per_language=2000: peak RSS (flat = 1)",
            details={"curve": {str(n): v for n, v in task.items()}},
            quick=ctx.quick,
        ),
    ]
