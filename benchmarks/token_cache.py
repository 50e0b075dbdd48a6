"""The teacher cache's token features: in memory vs in shards on disk.

A random BERT teacher (2 layers, width 384, like MiniLM's) encodes N and 8N synthetic texts of
about 60 tokens into a :class:`~xkd.train.cache.TeacherCache` that keeps one hidden layer's
token features (what ``hidden_mse`` reads), in a fresh process each, which then reads every row
back in batches of 32 (what training does). N is 2000 (500 with ``--quick``); the teacher
encodes (and a sharded cache writes) chunks of min(1024, N) texts, the same in both runs of a
comparison. Peak RSS comes from ``/usr/bin/time -v``; the processes run one after the other.

- ``cache_tokens_rss_growth``: peak RSS with shards, 8N texts / N texts (target <= 1.3: memory
  does not grow with the number of texts); the in-memory growth is in the details;
- ``cache_tokens_read_ratio``: rows read per second, shards / memory at 8N (target >= 0.5):
  a fifth process loads the 8N sharded cache (saved by its run) and copies its rows into an
  in-memory cache (one tensor per row, as encoding leaves them), then reads blocks of 8 batches
  from both, alternating (ABBA), in cache order: median block time memory / shards. It runs
  one torch thread: with two on a busy machine, every batch of either side waits some ms for
  the other thread of torch's parallel zero fill, which hides what reading costs (the ratio
  goes to 1). The same in a shuffled order, and each encoding process's own rate (one pass,
  default threads, not alternated: a busy machine's bursts hit one process and not the
  other), are in the details.

The RSS figure is the whole peak RSS (anonymous memory and file pages). Shards are read with
file reads, not memory maps, so the rows a process has read do not stay in its RSS. The details
give each process's anonymous and file-backed RSS and its peak so far (``/proc/self/status``,
Linux) after encoding and after reading: the peak is reached while the teacher encodes a chunk
(its forward passes' memory and the chunk's rows, which vary by some 100 MB from run to run and
chunk to chunk), not while reading.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from benchmarks.common import Context, Figure, run_measured
from benchmarks.demo import cli_env

GROWTH, READ = "cache_tokens_rss_growth", "cache_tokens_read_ratio"
FIGURES = (GROWTH, READ)

SCRIPT = """
import json, random, sys, time
import torch
from xkd.testing.models import tiny_model
from xkd.train.cache import TeacherCache
n, shard_dir, hidden, rows, save = sys.argv[1], sys.argv[2] or None, *sys.argv[3:]
n, hidden, rows = int(n), int(hidden), int(rows)
words = "alpha beta gamma delta river mountain city music market garden window bread".split()
rng = random.Random(0)
texts = [f"{i} " + " ".join(rng.choice(words) for _ in range(55)) for i in range(n)]
model = tiny_model(labels=None, texts=texts[:200], layers=2, hidden=hidden, heads=4, seed=0)
def rss():
    try:
        lines = open("/proc/self/status").read().splitlines()
    except OSError:
        return {}
    keys = {"RssAnon": "anon_mb", "RssFile": "file_mb", "VmHWM": "peak_mb"}
    return {keys[k]: int(v.split()[0]) / 1024 for k, _, v in (l.partition(":") for l in lines)
            if k in keys}
cache = TeacherCache(model, max_length=64, batch_size=64, hidden_layers=[2], shard_dir=shard_dir,
                     shard_rows=rows)
t = time.perf_counter(); cache.ensure(texts); encode = time.perf_counter() - t
encoded = rss()
ids = list(range(len(cache))); t = time.perf_counter()
for start in range(0, len(ids), 32):
    cache.batch(ids[start:start + 32])
read = time.perf_counter() - t
rng.shuffle(ids); t = time.perf_counter()
for start in range(0, len(ids), 32):
    cache.batch(ids[start:start + 32])
shuffled = time.perf_counter() - t
out = {"encode_s": encode, "read_rows_per_s": len(ids) / read,
       "shuffled_rows_per_s": len(ids) / shuffled, "in_memory": cache.tokens.in_memory,
       "rss_encoded": encoded, "rss_read": rss()}
if save:  # for the read comparison (after the measures: what it takes is not in rss_read)
    cache.save(save)
print(json.dumps(out))
"""


READ_SCRIPT = """
import json, random, sys
import torch
torch.set_num_threads(1)  # what reading costs, not waits on a busy machine's other threads
from benchmarks.common import compare, interleaved
from xkd.testing.models import tiny_model
from xkd.train.cache import TeacherCache
n, shard_dir, hidden, path = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
words = "alpha beta gamma delta river mountain city music market garden window bread".split()
rng = random.Random(0)
texts = [f"{i} " + " ".join(rng.choice(words) for _ in range(55)) for i in range(n)]
model = tiny_model(labels=None, texts=texts[:200], layers=2, hidden=hidden, heads=4, seed=0)
texts.sort(key=len)  # the order the encoding run cached them in (its shards' order)
kw = dict(max_length=64, batch_size=64, hidden_layers=[2])
shards, memory = TeacherCache(model, shard_dir=shard_dir, **kw), TeacherCache(model, **kw)
assert shards.load(path, texts) == n and shards.encoded_texts == 0
for start in range(0, n, 1024):
    rows = shards.export(texts[start:start + 1024])
    rows["tokens"] = {k: [r.clone() for r in v] for k, v in rows["tokens"].items()}
    memory.add(rows)
assert shards.ids(texts) == memory.ids(texts) == list(range(n))
def timed(ids):
    blocks = [ids[s:s + 256] for s in range(0, len(ids), 256)]  # 8 batches of 32
    def read(cache):
        def one(rep):
            block = blocks[rep % len(blocks)]
            for s in range(0, len(block), 32):
                cache.batch(block[s:s + 32])
        return one
    samples = interleaved({"shards": read(shards), "memory": read(memory)}, len(blocks))
    return compare(samples, "memory", "shards")  # time memory / shards = rate shards / memory
ids = list(range(n))
in_order = timed(ids)
rng.shuffle(ids)
print(json.dumps({"in_order": in_order, "shuffled": timed(ids)}))
"""


def _read_ratio(ctx: Context, n: int, shard_dir: Path, hidden: int, path: Path) -> dict:
    cmd = [sys.executable, "-c", READ_SCRIPT, str(n), str(shard_dir), str(hidden), str(path)]
    ctx.log(f"token cache: {n} texts, shards and memory read alternately")
    stats = run_measured(cmd, env=cli_env(), timeout=3600)
    if stats.returncode != 0:
        raise RuntimeError(f"token cache read comparison failed: {stats.stderr[-800:]}")
    return json.loads(stats.stdout.strip().splitlines()[-1])


def _measure(
    ctx: Context, n: int, sharded: bool, hidden: int, rows: int, save: Path | None = None
) -> dict:
    """One encoding run, ``rows`` texts a chunk (a shard); ``save``: where it saves its cache
    (its shards are then kept)."""
    shard_dir = ctx.work_dir / f"tokens-{n}" if sharded else None
    if shard_dir is not None:
        shutil.rmtree(shard_dir, ignore_errors=True)
    args = [str(n), str(shard_dir or ""), str(hidden), str(rows), str(save or "")]
    cmd = [sys.executable, "-c", SCRIPT, *args]
    ctx.log(f"token cache: {n} texts, {'shards' if sharded else 'memory'}")
    stats = run_measured(cmd, env=cli_env(), timeout=3600)
    if stats.returncode != 0:
        raise RuntimeError(f"token cache run failed: {stats.stderr[-800:]}")
    out = json.loads(stats.stdout.strip().splitlines()[-1])
    if shard_dir is not None and save is None:
        shutil.rmtree(shard_dir, ignore_errors=True)
    return {**out, "peak_rss_mb": stats.peak_rss_mb, "texts": n, "shard_dir": shard_dir}


def run(ctx: Context) -> list[Figure]:
    n = 100 if ctx.tiny else (500 if ctx.quick else 2000)
    hidden = 32 if ctx.tiny else 384
    rows = min(1024, n)  # a chunk: the same size in both runs (N and 8N) of a comparison
    saved = ctx.work_dir / "token-cache-teacher.safetensors"
    runs = {
        (size, sharded): _measure(
            ctx, size, sharded, hidden, rows, saved if sharded and size > n else None
        )
        for size in (n, 8 * n)
        for sharded in (False, True)
    }
    shard_dir = runs[(8 * n, True)].pop("shard_dir")
    try:
        alternated = _read_ratio(ctx, 8 * n, shard_dir, hidden, saved)
    finally:
        shutil.rmtree(shard_dir, ignore_errors=True)
        saved.unlink(missing_ok=True)
    growth = runs[(8 * n, True)]["peak_rss_mb"] / runs[(n, True)]["peak_rss_mb"]
    memory_growth = runs[(8 * n, False)]["peak_rss_mb"] / runs[(n, False)]["peak_rss_mb"]
    read = alternated["in_order"]["ratio_of_medians"]
    details = {f"{size}_{'shards' if s else 'memory'}": r for (size, s), r in runs.items()}
    for r in details.values():
        r.pop("shard_dir", None)
    mb = {k: round(v["peak_rss_mb"]) for k, v in details.items()}
    details["memory_rss_growth"] = memory_growth
    details["read_alternated"] = alternated
    details["shuffled_read_ratio"] = alternated["shuffled"]["ratio_of_medians"]
    alone = (runs[(8 * n, True)], runs[(8 * n, False)])
    details["read_ratio_alone"] = alone[0]["read_rows_per_s"] / alone[1]["read_rows_per_s"]
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
            summary=(
                f"rows read per second from shards / from memory ({8 * n} texts, batches of 32 "
                "in cache order, read alternately in one process)"
            ),
            details=details,
            quick=ctx.quick,
        ),
    ]
