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
import time
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
    """A run given by id (inside runs_dir) or by an existing folder path."""
    from xkd.runs import safe_run_path

    candidate = Path(run)
    if candidate.is_dir() and (candidate / "config.yaml").exists():
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
    from xkd.runs import DeviceLock, RunFolder, create_run_folder
    from xkd.train.callbacks import StopFlag, TqdmCallback
    from xkd.train.pipeline import run_experiment

    _quiet_transformers()
    runs_dir = _runs_dir(args)
    if args.resume:
        run_dir = _find_run(runs_dir, args.resume)
        cfg = from_dict(load_yaml(run_dir / "config.yaml"))
    else:
        if args.config and args.config_file and args.config != args.config_file:
            raise ConfigError(
                f"two config files given: {args.config} and --config {args.config_file}"
            )
        cfg = build_config(args.config or args.config_file, args.preset, args.set)
        if args.run_dir:
            run_dir = Path(args.run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
        else:
            _, run_dir = create_run_folder(runs_dir, cfg.name or None)
    folder = RunFolder(run_dir)
    if not args.resume and not (run_dir / "config.yaml").exists():
        folder.write_config(cfg.to_yaml())
    device = _device_name(cfg.train.device)
    lock = DeviceLock(runs_dir, device)
    if not lock.acquire(run_id=run_dir.name):
        if not args.wait:
            holder = lock.holder() or {}
            msg = (
                f"device '{device}' is busy with run {holder.get('run_id', '?')} (pid {holder.get('pid', '?')}); "
                "wait for it, stop it (`xkd runs`), or pass --wait to queue"
            )
            folder.write_status("failed", error=msg)
            raise XKDError(msg)
        folder.write_status("queued", pid=os.getpid())
        while not lock.acquire(run_id=run_dir.name):
            time.sleep(2)
    stop = StopFlag()

    def _on_term(signum, frame):
        stop.requested = True

    previous_handler = signal.signal(signal.SIGTERM, _on_term)
    bars = TqdmCallback() if not args.quiet else None
    print(run_dir, flush=True)
    try:
        result = run_experiment(
            cfg, run_dir, callbacks=[stop] + ([bars] if bars else []), resume=bool(args.resume)
        )
    finally:
        if bars:
            bars.close()
        lock.release()
        signal.signal(signal.SIGTERM, previous_handler)  # in-process callers get theirs back
    if not result:
        print(f"stopped; resume with: xkd train --resume {run_dir}", file=sys.stderr)
        return 0
    _print_summary(result)
    print(run_dir)
    return 0


def _device_name(device: str) -> str:
    if device == "auto":
        try:
            import torch

            return "cuda:0" if torch.cuda.is_available() else "cpu"
        except ImportError:  # pragma: no cover
            return "cpu"
    return "cuda:0" if device == "cuda" else device


def _print_summary(result: dict) -> None:
    langs = result.get("languages", {})
    print(
        f"{'language':<10}{'n':>6}{'prior':>8}{'teacher':>9}{'student':>9}{'baseline':>10}",
        file=sys.stderr,
    )
    for lang, e in langs.items():

        def acc(model, e=e):
            return f"{e[model]['accuracy']:.3f}" if model in e else "-"

        print(
            f"{lang:<10}{e['n']:>6}{e['prior']:>8.3f}{acc('teacher'):>9}{acc('student'):>9}{acc('baseline'):>10}",
            file=sys.stderr,
        )
    s = result.get("summary", {})
    if "kd_gain" in s:
        print(
            f"mean target gain of KD over baseline: {s['kd_gain'] * 100:+.1f} points",
            file=sys.stderr,
        )


def cmd_eval(args) -> int:
    from xkd.config import from_dict, load_yaml
    from xkd.data import load_data
    from xkd.evaluate.evaluator import evaluate
    from xkd.models import load_model
    from xkd.runs import RunFolder
    from xkd.train.cache import TeacherCache
    from xkd.train.pipeline import CACHE_FILE, resolve_targets, write_tables

    _quiet_transformers()
    run_dir = _find_run(_runs_dir(args), args.run)
    folder = RunFolder(run_dir)
    cfg = from_dict(load_yaml(run_dir / "config.yaml"))
    for part in ("teacher", "student"):
        if not (run_dir / part).is_dir():
            raise XKDError(
                f"run {run_dir.name} has no saved {part}/ model (it did not finish); nothing to evaluate"
            )
    ds = load_data(cfg.data.path, columns=cfg.data.columns or None)
    targets = resolve_targets(cfg, ds.languages())
    teacher = load_model(str(run_dir / "teacher"))
    student = load_model(str(run_dir / "student"))
    baseline = load_model(str(run_dir / "baseline")) if (run_dir / "baseline").is_dir() else None
    cache = TeacherCache(teacher, max_length=cfg.data.max_length)
    # reuse the run's cached teacher embeddings: the teacher's encoder never re-runs on a text
    cache.load(run_dir / CACHE_FILE, ds.frame["text"].tolist())
    res = evaluate(
        frame=ds.frame,
        labels=ds.labels,
        source_language=cfg.data.source_language,
        target_languages=targets,
        teacher=teacher,
        cache=cache,
        student=student,
        baseline=baseline,
        max_length=cfg.data.max_length,
        split=args.split,
    )
    old = folder.read_eval() or {}
    summary = res.summary | {
        k: old[k] for k in ("timings", "teacher_info", "train_examples", "sizes") if k in old
    }
    if args.split == "test":
        folder.write_eval(summary)
        write_tables(folder, res)
    if args.json:
        print(json.dumps(summary, indent=2, default=float))
    else:
        _print_summary(summary)
    return 0


def cmd_runs(args) -> int:
    from xkd.runs import list_runs, runs_table

    runs = list_runs(_runs_dir(args))
    if args.json:
        table = runs_table(runs)
        print(table.to_json(orient="records", indent=2, default_handler=str))
        return 0
    if not runs:
        print(f"no runs in {_runs_dir(args)}; start one with: xkd train --preset demo")
        return 0
    table = runs_table(runs)
    print(table.to_string(index=False))
    return 0


def cmd_export(args) -> int:
    run_dir = _find_run(_runs_dir(args), args.run)
    src = run_dir / args.model
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
    import subprocess

    app = Path(__file__).resolve().parent.parent / "app.py"
    if not app.exists():
        raise XKDError(
            f"app.py not found next to the xkd package ({app}); run from a source checkout"
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
    return subprocess.call(cmd, cwd=app.parent, env=env)


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
        "--resume", metavar="RUN", help="continue an interrupted or stopped run from its checkpoint"
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
    e.add_argument("run", help="run id or folder")
    e.add_argument("--split", default="test", choices=["test", "dev"])
    e.add_argument("--json", action="store_true", help="print the eval summary as JSON")
    runs_opt(e)
    e.set_defaults(func=cmd_eval)

    r = sub.add_parser("runs", help="list runs with status and headline numbers", epilog=EPILOG)
    r.add_argument("--json", action="store_true", help="machine-readable output")
    runs_opt(r)
    r.set_defaults(func=cmd_runs)

    x = sub.add_parser(
        "export", help="copy a run's student (save_pretrained folder) to DIR", epilog=EPILOG
    )
    x.add_argument("run", help="run id or folder")
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
