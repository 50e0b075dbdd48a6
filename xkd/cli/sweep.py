"""``xkd sweep``: run a sweep file or a one-click ablation, resume one, print its table."""

from __future__ import annotations

import signal
import sys

from xkd.errors import ConfigError

__all__ = ["add_sweep_parser", "cmd_sweep"]


def add_sweep_parser(sub, runs_opt, epilog: str) -> None:
    from xkd.sweep.ablations import ABLATIONS

    s = sub.add_parser(
        "sweep",
        help="run a sweep (SWEEP.yaml) or an ablation of a run; the teacher is paid once",
        epilog=epilog,
    )
    s.add_argument("spec", nargs="?", help="a sweep file (see docs/sweeps.md)")
    s.add_argument(
        "--ablation",
        choices=list(ABLATIONS),
        help="a one-click ablation: " + "; ".join(f"{k}: {v[1]}" for k, v in ABLATIONS.items()),
    )
    s.add_argument("--from", dest="from_run", metavar="RUN", help="the ablation's run (its config)")
    s.add_argument("--preset", help="the ablation's base preset instead of a run (e.g. demo)")
    s.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the ablation's base config",
    )
    s.add_argument("--resume", metavar="SWEEP", help="continue a stopped or killed sweep")
    s.add_argument("--show", metavar="SWEEP", help="print a sweep's members and gains")
    s.add_argument("--prepare", action="store_true", help="write the sweep folder, train nothing")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    runs_opt(s)
    s.set_defaults(func=cmd_sweep)


def _spec(args, runs_dir):
    from xkd import config as C
    from xkd.cli.commands import _find_run
    from xkd.presets import preset
    from xkd.runs import RunFolder
    from xkd.sweep import ablation, load_sweep

    if args.spec and args.ablation:
        raise ConfigError("give a sweep file or --ablation, not both")
    if args.spec:
        return load_sweep(args.spec)
    if not args.ablation:
        raise ConfigError("give a sweep file, --ablation NAME, --resume SWEEP or --show SWEEP")
    if args.from_run:
        base = RunFolder(_find_run(runs_dir, args.from_run)).read_config()
    else:
        base = preset(args.preset or "demo")
    for assignment in args.set:
        C.set_key(base, assignment)
    return ablation(args.ablation, base)


def cmd_sweep(args) -> int:
    from xkd.cli.commands import _quiet_transformers, _runs_dir
    from xkd.cli.tables import print_sweep
    from xkd.sweep import find_sweep, resume_sweep, start_sweep
    from xkd.train.callbacks import StopFlag, TqdmCallback

    runs_dir = _runs_dir(args)
    if args.show:
        print_sweep(find_sweep(runs_dir, args.show))
        return 0
    _quiet_transformers()
    if args.resume:
        folder = find_sweep(runs_dir, args.resume)
    else:
        folder = start_sweep(_spec(args, runs_dir), runs_dir=runs_dir)
    print(folder.path, flush=True)
    if args.prepare:
        return 0
    stop = StopFlag()
    bars = TqdmCallback() if not args.quiet else None

    def on_member(record, manifest):
        done = manifest.counts()["finished"]
        print(
            f"xkd: sweep {manifest.name}: member {record.name} {record.state} "
            f"({done}/{len(manifest.members)} finished)",
            file=sys.stderr,
            flush=True,
        )

    def on_term(signum, frame):
        stop.requested = True

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        result = resume_sweep(
            folder, callbacks=[stop] + ([bars] if bars else []), on_member=on_member
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
        if bars:
            bars.close()
    if result.state == "stopped":
        print(f"stopped; resume with: xkd sweep --resume {folder.sweep_id}", file=sys.stderr)
        return 0
    print_sweep(folder)
    return 0
