"""``python -m benchmarks [--quick] [--only NAME[,NAME]] [--out DIR]``.

Prints one line per figure, ending in ``name=value`` (stdout; progress goes to stderr), and
writes ``<out>/<timestamp>[-quick].json`` with the machine's description and every figure's
value, target, pass/fail and details. Exit code 0 when it ran (figures may FAIL: read them),
1 when a benchmark raised, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import RESULTS_DIR, Context, Figure, errored, machine, write_results

#: benchmark modules in running order (in-process ones first, subprocesses last).
ORDER = (
    "kd_step",
    "inference",
    "projection",
    "vs_st",
    "vs_textbrewer",
    "demo",
    "sweep",
    "processes",
    "corpus",
    "token_cache",
    "sib200",
)
#: module -> its figure names (each module's ``FIGURES``; importing a module is cheap).
BENCHMARKS: dict[str, tuple[str, ...]] = {
    m: tuple(importlib.import_module(f"benchmarks.{m}").FIGURES) for m in ORDER
}


def all_figures() -> list[str]:
    return [name for names in BENCHMARKS.values() for name in names]


def select(only: str | None) -> list[str]:
    """Modules to run for ``--only`` (module names or figure names, comma-separated)."""
    if not only:
        return list(BENCHMARKS)
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    chosen = []
    for w in wanted:
        match = [m for m, figs in BENCHMARKS.items() if w == m or w in figs]
        if not match:
            raise SystemExit(
                f"--only: unknown benchmark '{w}'; modules: {', '.join(BENCHMARKS)}; "
                f"figures: {', '.join(all_figures())}"
            )
        chosen += [m for m in match if m not in chosen]
    return [m for m in BENCHMARKS if m in chosen]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="xkd benchmarks: one 'name=value' line per figure, results JSON in --out.",
        epilog="Figures: " + ", ".join(all_figures()),
    )
    p.add_argument(
        "--quick", action="store_true", help="short smoke version (CI); figures marked quick"
    )
    p.add_argument("--only", metavar="NAME", help="module or figure name(s), comma-separated")
    p.add_argument("--out", default=str(RESULTS_DIR), help="results folder (default: %(default)s)")
    p.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's choice)"
    )
    p.add_argument(
        "--tiny",
        action="store_true",
        help="test mode: tiny random models; numbers are meaningless (used by the unit tests)",
    )
    p.add_argument("--list", action="store_true", help="list modules and figures, then exit")
    return p.parse_args(argv)


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return None


def run_module(name: str, ctx: Context) -> list[Figure]:
    names = BENCHMARKS[name]
    load_before = _load()
    start = time.perf_counter()
    try:
        module = importlib.import_module(f"benchmarks.{name}")
        figures = module.run(ctx)
    except Exception as exc:  # noqa: BLE001 - one benchmark failing must not hide the others
        import traceback

        ctx.log(traceback.format_exc())
        figures = [errored(n, exc, quick=ctx.quick) for n in names]
    wall = time.perf_counter() - start
    load_after = _load()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    busy = any(x > cores for x in (load_before or [])[:1] + (load_after or [])[:1])
    for f in figures:
        f.details.setdefault("_run", {})
        f.details["_run"].update(
            {
                "module": name,
                "module_wall_s": round(wall, 2),
                "load_before": load_before,
                "load_after": load_after,
                "machine_busy": busy,
            }
        )
    if busy:
        ctx.log(
            f"note: load average {load_before} -> {load_after} on {cores} cores while '{name}' ran: "
            "other processes shared the CPU, timings are noisy"
        )
    ctx.log(f"[{name}] {wall:.1f} s")
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for module, figs in BENCHMARKS.items():
            print(f"{module}: {', '.join(figs)}")
        return 0
    modules = select(args.only)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    threads_before = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine()
    work = Path(tempfile.mkdtemp(prefix="xkd-bench-"))
    ctx = Context(quick=args.quick, tiny=args.tiny, work_dir=work)
    ctx.log(
        f"xkd benchmarks{' (quick)' if args.quick else ''}: {', '.join(modules)}; "
        f"{info['cpu_model']}, {info['usable_cores']} usable cores, {info['ram_gb']} GB, "
        f"torch {info['versions']['torch']} ({info['torch_threads']} threads), "
        f"load {info['load_average_1_5_15']}"
    )
    start = time.perf_counter()
    figures: list[Figure] = []
    try:
        for name in modules:
            for fig in run_module(name, ctx):
                figures.append(fig)
                print(fig.line(), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        torch.set_num_threads(threads_before)  # main() may run inside another process (tests)
    wall = time.perf_counter() - start
    path = write_results(
        figures,
        args.out,
        quick=args.quick,
        argv=["python", "-m", "benchmarks", *(argv if argv is not None else sys.argv[1:])],
        wall_s=round(wall, 1),
        machine_info=info,
    )
    counts = {v: sum(f.verdict == v for f in figures) for v in ("PASS", "FAIL", "INFO", "SKIP")}
    errors = sum(f.verdict == "ERROR" for f in figures)
    ctx.log(
        f"{len(figures)} figures in {wall:.0f} s: "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
        + f", ERROR {errors}; results: {path}"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
