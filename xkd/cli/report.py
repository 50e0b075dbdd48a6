"""``xkd report RUN|SWEEP [-o FILE]``: one self-contained HTML file to share."""

from __future__ import annotations

from pathlib import Path

from xkd.errors import ConfigError

__all__ = ["add_report_parser", "cmd_report"]


def add_report_parser(sub, runs_opt, epilog: str) -> None:
    r = sub.add_parser(
        "report",
        help="write one self-contained HTML report of a run or a sweep; prints its path",
        description=(
            "Write a run's or a sweep's report: tables with 95 % intervals, charts, the config, "
            "the environment and the command that reproduces it, in one HTML file that fetches "
            "nothing when opened (plotly.js is inlined)."
        ),
        epilog=epilog,
    )
    r.add_argument(
        "target",
        metavar="RUN|SWEEP",
        help="a run id or run folder, or a sweep id or sweep folder",
    )
    r.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write it (default: report.html in the run or sweep folder)",
    )
    runs_opt(r)
    r.set_defaults(func=cmd_report)


def _resolve(runs_dir: Path, ref: str) -> tuple[str, Path]:
    """``("run" | "sweep", folder)``: a folder is a run when it holds a config.yaml and a sweep
    when it holds a manifest.json; an id is looked up among the runs, then the sweeps."""
    from xkd.runs import RunFolder, is_valid_run_id, safe_run_path
    from xkd.sweep.folder import sweeps_dir

    path = Path(ref)
    if path.is_dir() and (path / "manifest.json").is_file():
        return "sweep", path
    if path.is_dir() and RunFolder(path).config_path.is_file():
        return "run", path
    if is_valid_run_id(ref):
        run = safe_run_path(runs_dir, ref)
        if run.is_dir():
            return "run", run
        sweep = safe_run_path(sweeps_dir(runs_dir), ref)
        if (sweep / "manifest.json").is_file():
            return "sweep", sweep
    raise ConfigError(
        f"no run or sweep '{ref}' in {runs_dir}; `xkd runs` lists the runs, "
        "`xkd sweep --show SWEEP` shows a sweep (give an id or a folder)"
    )


def cmd_report(args) -> int:
    from xkd.cli.commands import _runs_dir
    from xkd.report import REPORT_NAME, run_report_html, sweep_report_html, write_report

    kind, folder = _resolve(_runs_dir(args), args.target)
    html = run_report_html(folder) if kind == "run" else sweep_report_html(folder)
    out = write_report(html, Path(args.output) if args.output else folder / REPORT_NAME)
    print(out)
    return 0
