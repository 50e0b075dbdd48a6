"""The teacher cache's token features: in memory vs in shards on disk (memory-mapped).

A random BERT teacher (2 layers, width 384, like MiniLM's) encodes N and 8N synthetic texts of
about 60 tokens into a :class:`~xkd.train.cache.TeacherCache` that keeps one hidden layer's
token features (what ``hidden_mse`` reads), in a fresh process each; then every row is read back
in batches of 32 (what training does). N is 2000 (500 with ``--quick``). Peak RSS comes from
``/usr/bin/time -v``; the four processes run side by side in one benchmark.

- ``cache_tokens_rss_growth``: peak RSS with shards, 8N texts / N texts (target <= 1.3: memory
  does not grow with the number of texts); the in-memory growth is in the details;
- ``cache_tokens_read_ratio``: rows read per second, shards / memory at 8N (target >= 0.5).

RSS counts the shards' file pages a process has read through its memory maps (the OS can drop
them, unlike the in-memory rows), so the sharded growth is an upper bound.
"""

from __future__ import annotations

import json
import shutil
import sys

from benchmarks.common import Context, Figure, run_measured
from benchmarks.demo import cli_env

GROWTH, READ = "cache_tokens_rss_growth", "cache_tokens_read_ratio"
FIGURES = (GROWTH, READ)

SCRIPT = """
import json, random, sys, time
import torch
from xkd.testing.models import tiny_model
from xkd.train.cache import TeacherCache
n, shard_dir, hidden = int(sys.argv[1]), sys.argv[2] or None, int(sys.argv[3])
words = "alpha beta gamma delta river mountain city music market garden window bread".split()
rng = random.Random(0)
texts = [f"{i} " + " ".join(rng.choice(words) for _ in range(55)) for i in range(n)]
model = tiny_model(labels=None, texts=texts[:200], layers=2, hidden=hidden, heads=4, seed=0)
cache = TeacherCache(model, max_length=64, batch_size=64, hidden_layers=[2], shard_dir=shard_dir,
                     shard_rows=1024)
t = time.perf_counter(); cache.ensure(texts); encode = time.perf_counter() - t
ids = list(range(len(cache))); t = time.perf_counter()
for start in range(0, len(ids), 32):
    cache.batch(ids[start:start + 32])
read = time.perf_counter() - t
print(json.dumps({"encode_s": encode, "read_rows_per_s": len(ids) / read,
                  "in_memory": cache.tokens.in_memory}))
"""


def _measure(ctx: Context, n: int, sharded: bool, hidden: int) -> dict:
    shard_dir = ctx.work_dir / f"tokens-{n}" if sharded else None
    if shard_dir is not None:
        shutil.rmtree(shard_dir, ignore_errors=True)
    cmd = [sys.executable, "-c", SCRIPT, str(n), str(shard_dir or ""), str(hidden)]
    ctx.log(f"token cache: {n} texts, {'shards' if sharded else 'memory'}")
    stats = run_measured(cmd, env=cli_env(), timeout=3600)
    if stats.returncode != 0:
        raise RuntimeError(f"token cache run failed: {stats.stderr[-800:]}")
    out = json.loads(stats.stdout.strip().splitlines()[-1])
    if shard_dir is not None:
        shutil.rmtree(shard_dir, ignore_errors=True)
    return {**out, "peak_rss_mb": stats.peak_rss_mb, "texts": n}


def run(ctx: Context) -> list[Figure]:
    n = 100 if ctx.tiny else (500 if ctx.quick else 2000)
    hidden = 32 if ctx.tiny else 384
    runs = {
        (size, sharded): _measure(ctx, size, sharded, hidden)
        for size in (n, 8 * n)
        for sharded in (False, True)
    }
    growth = runs[(8 * n, True)]["peak_rss_mb"] / runs[(n, True)]["peak_rss_mb"]
    memory_growth = runs[(8 * n, False)]["peak_rss_mb"] / runs[(n, False)]["peak_rss_mb"]
    read = runs[(8 * n, True)]["read_rows_per_s"] / runs[(8 * n, False)]["read_rows_per_s"]
    details = {f"{size}_{'shards' if s else 'memory'}": r for (size, s), r in runs.items()}
    details["memory_rss_growth"] = memory_growth
    mb = {k: round(v["peak_rss_mb"]) for k, v in details.items() if isinstance(v, dict)}
    return [
        Figure(
            GROWTH,
            growth,
            1.3,
            "<=",
            unit="x",
            summary=(
                f"teacher cache with token features, peak RSS {8 * n} / {n} texts: shards "
                f"x{growth:.2f}, memory x{memory_growth:.2f} (MB: {mb})"
            ),
            details=details,
            quick=ctx.quick,
        ),
        Figure(
            READ,
            read,
            0.5,
            ">=",
            unit="x",
            summary=f"rows read per second from shards / from memory ({8 * n} texts, batches of 32)",
            details=details,
            quick=ctx.quick,
        ),
    ]
