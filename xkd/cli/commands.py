"""The ``xkd`` commands: each ``cmd_<name>(args) -> exit code`` is a few library calls."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

from xkd.cli.tables import print_summary, runs_text
from xkd.errors import ConfigError, XKDError


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
    from xkd.train.processes import finish as finish_processes

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
    if experiment.procs.is_main:  # the other processes of a launch train and say nothing
        print(experiment.folder.path, flush=True)
    failed = True
    try:
        result = experiment.run()
        failed = False
    finally:
        finish_processes(experiment.procs, together=not failed)
        if bars:
            bars.close()
        signal.signal(signal.SIGTERM, previous_handler)  # in-process callers get theirs back
    if result.state == "trained":
        return 0
    if result.stopped:
        if not experiment.procs.is_main:
            return 0
        print(f"stopped; resume with: xkd train --resume {result.run_dir}", file=sys.stderr)
        return 0
    print_summary(result.eval)
    print(result.run_dir)
    return 0


def cmd_eval(args) -> int:
    from xkd.experiment import Experiment

    _quiet_transformers()
    run_dir = _find_run(_runs_dir(args), args.run)
    summary = Experiment.reevaluate(run_dir, split=args.split)
    if args.json:
        print(json.dumps(summary, indent=2, default=float))
    else:
        print_summary(summary)
    return 0


def cmd_layers(args) -> int:
    from xkd.experiment.layers import run_layer_report, suggest_layers

    _quiet_transformers()
    if args.texts < 4:
        raise ConfigError(f"--texts {args.texts}: use at least 4 examples (300 is a good size)")
    if args.run:
        if args.teacher or args.student:
            raise ConfigError("give TEACHER STUDENT or --run RUN, not both")
        report = run_layer_report(_find_run(_runs_dir(args), args.run), n_texts=args.texts)
    else:
        sets = list(args.set)
        sets += [f"teacher={args.teacher}"] if args.teacher else []
        sets += [f"student={args.student}"] if args.student else []
        sets += [f"data.path={args.data}"] if args.data else []
        report = suggest_layers(build_config(None, args.preset, sets), n_texts=args.texts)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format())
        pairs = json.dumps(report.suggested)
        print(
            '\nto use it: --set \'distill.losses=[{"name": "hidden_mse", "weight": 1, '
            f'"params": {{"layer_map": {pairs}}}}}]\'  (plus your other terms)'
        )
    return 0


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
    if not args.path and not args.parallel_corpus:
        raise ConfigError("xkd data check needs a PATH, a --parallel-corpus CORPUS, or both")
    reports = []
    test_texts: set[str] = set()
    if args.path:
        report = check_data(args.path, columns=columns)
        reports.append(report)
        print(report.format())
        test_texts = _test_texts(args.path, columns) if args.parallel_corpus else set()
    if args.parallel_corpus:
        from xkd.data.parallel_check import check_parallel

        corpus = check_parallel(
            args.parallel_corpus, source_language=args.source_language, task_test_texts=test_texts
        )
        reports.append(corpus)
        print(("\n" if args.path else "") + corpus.format())
    # errors (data that `xkd train` refuses) exit 2; warnings only with --strict
    errors = any(r.errors for r in reports)
    return 2 if errors or (args.strict and any(r.problems for r in reports)) else 0


def _test_texts(path: str, columns) -> set[str]:
    from xkd.data import load_data
    from xkd.errors import DataError

    try:
        frame = load_data(path, columns=columns).frame
    except DataError:
        return set()  # the task report above says why
    return set(frame.loc[frame["split"] == "test", "text"])


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
        app = Path(__file__).resolve().parents[2] / "app.py"
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
