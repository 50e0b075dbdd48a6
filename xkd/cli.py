"""The ``xkd`` command line: train, eval, runs, export, data check, app.

Exit codes: 0 success, 2 bad input (config, data, model, busy device), 1 unexpected failure
(the traceback goes to a log file, not the terminal).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import traceback
from pathlib import Path

from xkd.errors import ConfigError, XKDError

EPILOG = "Docs: README.md. Exit codes: 0 ok, 2 bad input, 1 unexpected error (see the log file)."


def _runs_dir(args) -> Path:
    from xkd.runs import default_runs_dir

    return Path(args.runs_dir) if getattr(args, "runs_dir", None) else Path(default_runs_dir())


def build_config(config: str | None, preset_name: str | None, sets: list[str]):
    """Defaults <- preset <- YAML file <- --set overrides; validated RunConfig."""
    from xkd import config as C
    from xkd.presets import preset

    data: dict = {}
    if preset_name:
        data = preset(preset_name)
    if config:
        data = C.merge(data, C.load_yaml(config))
    if not preset_name and not config:
        data = preset("demo")
    for assignment in sets or []:
        C.set_key(data, assignment)
    return C.from_dict(data)


def _find_run(runs_dir: Path, run: str) -> Path:
    """RUN is a run id (looked up in the runs folder) or the path of a run folder (a folder
    holding a ``config.yaml``); both are accepted everywhere the CLI takes a RUN."""
    from xkd.runs import RunFolder, safe_run_path

    candidate = Path(run)
    if candidate.is_dir() and RunFolder(candidate).config_path.exists():
        return candidate
    path = safe_run_path(runs_dir, run)
    if not path.is_dir():
        raise ConfigError(f"run '{run}' not found in {runs_dir}; `xkd runs` lists the runs")
    return path


# ---------------------------------------------------------------------------------------------
# Commands


def _quiet_transformers() -> None:
    """Hide transformers' per-load progress bars and info chatter (our own bars stay)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def cmd_train(args) -> int:
    from xkd.config import from_dict, load_yaml
    from xkd.experiment import Experiment
    from xkd.runs import RunFolder
    from xkd.train.callbacks import StopFlag, TqdmCallback

    _quiet_transformers()
    runs_dir = _runs_dir(args)
    run_dir = None
    if args.resume:
        run_dir = _find_run(runs_dir, args.resume)
        cfg = from_dict(load_yaml(RunFolder(run_dir).config_path))
    else:
        if args.config and args.config_file and args.config != args.config_file:
            raise ConfigError(
                f"two config files given: {args.config} and --config {args.config_file}"
            )
        cfg = build_config(args.config or args.config_file, args.preset, args.set)
        if args.run_dir:
            run_dir = Path(args.run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
    stop = StopFlag()
    bars = TqdmCallback() if not args.quiet else None
    experiment = Experiment(
        cfg,
        run_dir=run_dir,
        runs_dir=runs_dir,
        callbacks=[stop] + ([bars] if bars else []),
        resume=bool(args.resume),
        wait=args.wait,
    )

    def _on_term(signum, frame):
        stop.requested = True

    previous_handler = signal.signal(signal.SIGTERM, _on_term)
    print(experiment.folder.path, flush=True)
    try:
        result = experiment.run()
    finally:
        if bars:
            bars.close()
        signal.signal(signal.SIGTERM, previous_handler)  # in-process callers get theirs back
    if result.stopped:
        print(f"stopped; resume with: xkd train --resume {result.run_dir}", file=sys.stderr)
        return 0
    _print_summary(result.eval)
    print(result.run_dir)
    return 0


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:+.1f}" if signed else f"{value * 100:.1f}"


def _print_summary(result: dict) -> None:
    from xkd.runs.schema import read_headline

    langs = result.get("languages", {})
    print(
        f"{'language':<10}{'n':>6}{'prior':>8}{'teacher':>9}{'KD student':>12}{'no-KD baseline':>16}",
        file=sys.stderr,
    )
    for lang, e in langs.items():

        def acc(model, e=e):
            return f"{e[model]['accuracy']:.3f}" if model in e else "-"

        print(
            f"{lang:<10}{e['n']:>6}{e['prior']:>8.3f}{acc('teacher'):>9}{acc('student'):>12}"
            f"{acc('baseline'):>16}",
            file=sys.stderr,
        )
    head = read_headline(result)
    if head is not None and head.kd_gain is not None:
        print(
            f"KD gain (mean target accuracy, KD student - no-KD baseline): "
            f"{_pct(head.kd_gain, signed=True)} points",
            file=sys.stderr,
        )


def cmd_eval(args) -> int:
    from xkd.experiment import Experiment

    _quiet_transformers()
    run_dir = _find_run(_runs_dir(args), args.run)
    summary = Experiment.reevaluate(run_dir, split=args.split)
    if args.json:
        print(json.dumps(summary, indent=2, default=float))
    else:
        _print_summary(summary)
    return 0


def _cut(text: str | None, width: int) -> str:
    text = "-" if text in (None, "") else str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _state_text(run) -> str:
    if run.active and run.total_steps:
        return f"{run.state} {run.phase or ''} {100 * (run.step or 0) // run.total_steps}%"
    if run.active:
        return f"{run.state} {run.phase or ''}".strip()
    return (run.state or "-") + (" (old)" if run.older_format else "")


def runs_text(runs, *, paths: bool = False) -> str:
    """``xkd runs``: a table that fits 100 columns (``paths`` adds the folder of each run)."""
    cols = [
        ("run", 27),
        ("state", 19),
        ("teacher → student", 22),
        ("langs", 10),
        ("KD", 6),
        ("no-KD", 6),
        ("gain", 6),
    ]
    lines = [
        "".join(f"{name:<{w}}" if i < 4 else f"{name:>{w}}" for i, (name, w) in enumerate(cols))
    ]
    for run in runs:
        head = run.headline
        targets = run.target_languages
        langs = f"{run.source_language or '?'}→{len(targets) or '?'}"
        cells = [
            _cut(run.run_id, 26),
            _cut(_state_text(run), 18),
            _cut(f"{run.teacher or '?'} → {run.student or '?'}", 21),
            _cut(langs, 9),
            _pct(head.student_target_accuracy if head else None),
            _pct(head.baseline_target_accuracy if head else None),
            _pct(head.kd_gain if head else None, signed=True),
        ]
        row = "".join(
            f"{c:<{w}}" if i < 4 else f"{c:>{w}}" for i, (c, (_, w)) in enumerate(zip(cells, cols))
        )
        lines.append(row + (f"  {run.path}" if paths else ""))
    lines.append(
        "KD / no-KD: mean target-language test accuracy (%) of the KD student and the no-KD "
        "baseline;\ngain: KD gain in points. `xkd runs --json` lists every field."
    )
    return "\n".join(lines)


def cmd_runs(args) -> int:
    from xkd.runs import list_runs

    runs = list_runs(_runs_dir(args))
    if args.json:
        print(json.dumps([r.as_dict() for r in runs], indent=2, default=str))
        return 0
    if not runs:
        print(f"no runs in {_runs_dir(args)}; start one with: xkd train --preset demo")
        return 0
    print(runs_text(runs, paths=args.paths))
    return 0


def cmd_export(args) -> int:
    from xkd.runs import RunFolder

    run_dir = _find_run(_runs_dir(args), args.run)
    src = RunFolder(run_dir).model_dir(args.model)
    if not src.is_dir():
        raise XKDError(f"run {run_dir.name} has no {args.model}/ folder (did it finish?)")
    dest = Path(args.dir)
    if dest.exists() and any(dest.iterdir()):
        raise XKDError(f"{dest} exists and is not empty; choose a new folder")
    shutil.copytree(src, dest, dirs_exist_ok=True)
    print(dest)
    return 0


def cmd_data_check(args) -> int:
    from xkd.data import check_data

    bad = [kv for kv in args.columns or [] if "=" not in kv]
    if bad:
        raise ConfigError(
            f"--columns expects SCHEMA=FILE pairs (e.g. text=sentence), got {bad[0]!r}"
        )
    columns = dict(kv.split("=", 1) for kv in args.columns) if args.columns else None
    report = check_data(args.path, columns=columns)
    print(report.format())
    # errors (data that `xkd train` refuses) exit 2; warnings only with --strict
    return 2 if report.errors or (args.strict and report.problems) else 0


def cmd_app(args) -> int:
    import importlib.util
    import subprocess

    # The app (app.py, pages/ and .streamlit/ at the top of the repository) is installed as the
    # package `xkd_ui` by a wheel and by an editable install alike (see pyproject.toml); a
    # checkout used without installing it runs the app.py next to the package.
    try:
        spec = importlib.util.find_spec("xkd_ui.app")
    except ImportError:
        spec = None
    if spec is not None and spec.origin:
        app = Path(spec.origin).resolve()
    else:
        app = Path(__file__).resolve().parent.parent / "app.py"
    if not app.is_file():
        raise XKDError(
            f"the app's files are not installed ({app} is missing); reinstall xkd with the app "
            "extra: pip install 'xkd[app]'"
        )
    missing = [name for name in ("streamlit", "plotly") if importlib.util.find_spec(name) is None]
    if missing:
        raise XKDError(
            f"`xkd app` needs {' and '.join(missing)}, which are not installed: install the app "
            "extra with pip install 'xkd[app]' (in a checkout: make install)"
        )
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.address",
        args.address,
        "--server.port",
        str(args.port),
        "--server.headless",
        "true",
    ]
    env = dict(os.environ)
    env["XKD_RUNS_DIR"] = str(_runs_dir(args).resolve())  # the caller's runs/, not the repo's
    if args.demo:
        env["XKD_APP_DEMO"] = "1"
    # Streamlit runs in the caller's folder, so relative paths typed in the Lab resolve there;
    # it reads the app's settings from the .streamlit/config.toml next to app.py (streamlit>=1.46).
    return subprocess.call(cmd, env=env)


# ---------------------------------------------------------------------------------------------
# Parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="xkd",
        description="Knowledge distillation lab for cross-lingual transfer.",
        epilog=EPILOG,
    )
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def runs_opt(sp):
        sp.add_argument(
            "--runs-dir", help="folder of run folders (default: $XKD_RUNS_DIR or ./runs)"
        )

    t = sub.add_parser(
        "train", help="train a student (and a no-KD baseline); prints the run folder", epilog=EPILOG
    )
    t.add_argument("config", nargs="?", help="YAML config file (see README, Configuration)")
    t.add_argument("--config", dest="config_file", metavar="FILE", help="same as CONFIG")
    t.add_argument("--preset", help="start from a preset: demo, compress, soft-labels")
    t.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set train.epochs=2 --set data.target_languages=it,de",
    )
    t.add_argument(
        "--resume",
        metavar="RUN",
        help="continue an interrupted or stopped run (id or folder path) from its checkpoint",
    )
    t.add_argument("--run-dir", help=argparse.SUPPRESS)
    t.add_argument(
        "--wait",
        action="store_true",
        help="queue behind a run that holds the device instead of refusing",
    )
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    runs_opt(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser(
        "eval", help="re-evaluate a finished run from its saved models", epilog=EPILOG
    )
    e.add_argument("run", help="run id (in --runs-dir) or the path of a run folder")
    e.add_argument("--split", default="test", choices=["test", "dev"])
    e.add_argument("--json", action="store_true", help="print the eval summary as JSON")
    runs_opt(e)
    e.set_defaults(func=cmd_eval)

    r = sub.add_parser("runs", help="list runs with status and headline numbers", epilog=EPILOG)
    r.add_argument("--json", action="store_true", help="every field, machine-readable")
    r.add_argument("--paths", action="store_true", help="also print each run's folder")
    runs_opt(r)
    r.set_defaults(func=cmd_runs)

    x = sub.add_parser(
        "export", help="copy a run's student (save_pretrained folder) to DIR", epilog=EPILOG
    )
    x.add_argument("run", help="run id (in --runs-dir) or the path of a run folder")
    x.add_argument("dir", help="destination folder (new or empty)")
    x.add_argument("--model", default="student", choices=["student", "baseline", "teacher"])
    runs_opt(x)
    x.set_defaults(func=cmd_export)

    d = sub.add_parser("data", help="data tools", epilog=EPILOG)
    dsub = d.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    dsub.required = True
    c = dsub.add_parser(
        "check",
        help="report languages, labels, counts, parallel groups and problems",
        epilog=EPILOG,
    )
    c.add_argument("path", help="demo, hf:<id>, a file or a folder")
    c.add_argument(
        "--columns",
        nargs="*",
        metavar="SCHEMA=FILE",
        help="column mapping, e.g. text=sentence label=topic",
    )
    c.add_argument(
        "--strict",
        action="store_true",
        help="exit 2 on warnings too (errors, which training refuses, always exit 2)",
    )
    c.set_defaults(func=cmd_data_check)

    a = sub.add_parser(
        "app", help="launch the Streamlit app (localhost only by default)", epilog=EPILOG
    )
    a.add_argument("--port", type=int, default=8501)
    a.add_argument(
        "--address",
        default="localhost",
        help="bind address; only use 0.0.0.0 deliberately, on a trusted network",
    )
    a.add_argument(
        "--demo",
        action="store_true",
        help="if no run exists yet, start the offline demo run so it trains live",
    )
    runs_opt(a)
    a.set_defaults(func=cmd_app)
    return p


def _version() -> str:
    from xkd import __version__

    return f"xkd {__version__}"


def _log_path() -> Path:
    base = Path(os.environ.get("XKD_LOG_DIR", Path.home() / ".cache" / "xkd"))
    base.mkdir(parents=True, exist_ok=True)
    return base / "xkd.log"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except XKDError as exc:
        _log_traceback()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - users see a message, the traceback goes to a log
        path = _log_traceback()
        print(
            f"error: unexpected {type(exc).__name__}: {exc}\n(traceback in {path})", file=sys.stderr
        )
        return 1


def _log_traceback() -> Path | None:
    try:
        path = _log_path()
        with path.open("a", encoding="utf-8") as fh:
            fh.write(traceback.format_exc() + "\n")
        return path
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
