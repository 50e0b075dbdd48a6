"""The ``xkd`` command line: train, eval, runs, export, data check, layers, app, sweep.

Exit codes: 0 success, 2 bad input (config, data, model, busy device), 1 unexpected failure
(the traceback goes to a log file, not the terminal).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from xkd.cli.commands import (
    build_config,
    cmd_app,
    cmd_data_check,
    cmd_eval,
    cmd_export,
    cmd_layers,
    cmd_runs,
    cmd_train,
)
from xkd.cli.report import add_report_parser
from xkd.cli.sweep import add_sweep_parser
from xkd.errors import XKDError

__all__ = ["build_config", "build_parser", "main"]

EPILOG = "Docs: README.md. Exit codes: 0 ok, 2 bad input, 1 unexpected error (see the log file)."


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
    c.add_argument("path", nargs="?", help="demo, hf:<id>, a file or a folder (the task data)")
    c.add_argument(
        "--parallel-corpus",
        metavar="CORPUS",
        help="also check a parallel corpus (data.parallel_corpus): languages, pairs, problems, "
        "and pairs that contain a test text of the task data",
    )
    c.add_argument(
        "--source-language",
        default="en",
        help="the corpus's source language (data.source_language; default: en)",
    )
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

    ly = sub.add_parser(
        "layers",
        help="layer-mapping assistant: teacher x student layer CKA and a suggested layer_map",
        epilog=EPILOG,
    )
    ly.add_argument("teacher", nargs="?", help="the teacher (as `teacher:` in a config)")
    ly.add_argument("student", nargs="?", help="the student (as `student:`, e.g. from-teacher:3)")
    ly.add_argument("--data", help="the task data (as data.path; default: the preset's)")
    ly.add_argument("--preset", default="demo", help="the settings to start from (default: demo)")
    ly.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ly.add_argument(
        "--run", metavar="RUN", help="a finished run: its teacher and trained student instead"
    )
    ly.add_argument("--texts", type=int, default=300, help="KD examples to measure (300)")
    ly.add_argument("--json", action="store_true", help="print the report as JSON")
    runs_opt(ly)
    ly.set_defaults(func=cmd_layers)

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
    add_sweep_parser(sub, runs_opt, EPILOG)
    add_report_parser(sub, runs_opt, EPILOG)
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
