"""The report of one run: :func:`run_report_html`, one self-contained HTML page.

Sections: the headline (KD gain with its 95 % paired bootstrap interval), per-language accuracy
with intervals (the Accuracy page's table, :func:`xkd.app.accuracy.accuracy_table`), the
test-set alignment map, the loss curves, the config, the environment and what to type to
reproduce the run. Every table is the one the app shows, computed by the same function.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from xkd.app import accuracy as A
from xkd.app import fmt, rundata
from xkd.app import labels as L
from xkd.report import charts
from xkd.report.html import Page, code, details, esc, facts, metrics, note, table
from xkd.runs import Run, load_run

__all__ = ["run_report_html"]


def run_report_html(run: Run | str | os.PathLike) -> str:
    """The report of ``run`` (a :class:`~xkd.runs.Run` or a run folder) as an HTML string."""
    run = run if isinstance(run, Run) else load_run(run)
    title = f"xkd run report: {run.name or run.run_id}"
    targets = ", ".join(run.target_languages) or "–"
    subtitle = (
        f"run {run.run_id} · {run.state or 'unknown state'} · teacher {run.teacher or '–'} → "
        f"student {run.student or '–'} · data {run.data_path or '–'} · "
        f"{run.source_language or '?'} → {targets}"
    )
    page = Page(title, subtitle)
    predictions = rundata.read_predictions(run.path)
    page.section("Headline", _headline(run))
    page.section("Accuracy per language", _accuracy(page, run, predictions))
    page.section("Alignment map (test set)", _alignment(page, run))
    page.section("Loss curves", _losses(page, run))
    page.section("Config", _config(run))
    page.section("Environment", _environment(run))
    page.section("Reproduce", _reproduce(run))
    return page.render()


def _headline(run: Run) -> str:
    head = run.headline
    if head is None:
        return note(f"This run has no evaluation yet (state: {run.state or 'unknown'}).")
    cards = [(m.label, m.value, m.detail, m.help) for m in L.headline_metrics(head)]
    ratio = fmt.get(run.eval, "throughput", "student_vs_teacher")
    if fmt.is_number(ratio):
        cards.append(("Speed vs teacher", f"{fmt.num(ratio):.1f}×", "", "inference sentences/s"))
    gain = fmt.points(head.kd_gain)
    if head.kd_gain_low is not None:
        sig = fmt.significance(head.kd_gain_significant, head.kd_gain_p)
        line = (
            f"{L.KD_GAIN}: {gain}, 95 % paired bootstrap interval "
            f"{fmt.gain_interval(head.kd_gain_low, head.kd_gain_high)}; significant: {sig}."
        )
    else:
        line = f"{L.KD_GAIN}: {gain} (evaluated before intervals: `xkd eval RUN` adds them)."
    return metrics(cards) + f"<p>{esc(line)}</p>"


def _accuracy(page: Page, run: Run, predictions) -> str:
    frame = A.accuracy_table(run.eval, predictions)
    if frame.empty:
        return note("No per-language accuracies: the run has no eval.json yet.")
    long = A.accuracy_long(run.eval, predictions)
    parts = []
    if not long.empty:
        parts.append(page.figure(charts.accuracy_bars(long, frame["language"].tolist())))
    short = A.accuracy_display(frame)
    parts.append(table(short, numeric=[c for c in short.columns if c not in ("language", "role")]))
    parts.append(note(L.INTERVALS_NOTE))
    parts += [note(n) for n in A.ratio_notes(frame, run.source_language)]
    full = A.accuracy_display(frame, all_columns=True)
    parts.append(details("All columns (F1, calibration, agreement)", table(full)))
    return "".join(parts)


def _projection(run: Run):
    """The Alignment page's first view when the run wrote it (UMAP, read from its cache),
    else a PCA of the same models (fast, deterministic); (frame, method, notes)."""
    from xkd.runs.projections import default_models, has_default_map, projection_frame

    embeddings = rundata.read_embeddings(run.path)
    if embeddings is None or embeddings.empty:
        return None, "", []
    models = default_models(embeddings["model"].unique()) or list(embeddings["model"].unique())
    if has_default_map(run.folder):
        proj, notes = projection_frame(
            embeddings, method="umap", models=models, cache_dir=run.folder.cache_dir
        )
        return proj, "UMAP", notes
    proj, notes = projection_frame(embeddings, method="pca", models=models)
    return proj, "PCA", notes


def _alignment(page: Page, run: Run) -> str:
    proj, method, notes = _projection(run)
    if proj is None or proj.empty:
        return note("No test-set embeddings (embeddings.parquet) in this run.")
    models = ", ".join(L.model_label(m) for m in proj["model"].unique())
    lines = [
        f"{method} of the test sentences' embeddings ({models}), fitted jointly; colour = "
        "language. Translations of one sentence should sit together when the student aligned "
        "the languages. Hover a point for its sentence."
    ]
    if method == "PCA":
        lines.append(
            "PCA because the run has not written its UMAP map (the Alignment page's first view)."
        )
    fig = charts.alignment_map(proj, run.source_language)
    return page.figure(fig, height=520) + "".join(note(t) for t in [*lines, *notes])


def _losses(page: Page, run: Run) -> str:
    long = rundata.curves_long(rundata.metrics_frame(run.path), run.run_id)
    if long.empty:
        return note("No training records (metrics.jsonl) in this run.")
    return page.figure(charts.loss_curves(long), height=340) + note(
        "Training loss per step (the train records of metrics.jsonl): the total and each "
        "weighted term, one panel per phase."
    )


def _config_text(run: Run) -> str:
    try:
        return run.folder.config_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _config(run: Run) -> str:
    text = _config_text(run)
    if not text.strip():
        return note("This run has no readable config.yaml.")
    return note("config.yaml of the run folder, as the run saved it:") + code(text, language="yaml")


def _environment(run: Run) -> str:
    env = run.folder.read_env()
    if not env:
        return note("This run has no env.json (versions and hardware were not recorded).")
    gpu = env.get("gpu") if isinstance(env.get("gpu"), dict) else {}
    gpu_text = ", ".join(gpu.get("names") or []) or ("none" if gpu.get("cuda") is False else None)
    rows = [
        ("python", env.get("python")),
        ("platform", env.get("platform")),
        ("machine", env.get("machine")),
        ("CPUs", env.get("cpu_count")),
        ("GPU", gpu_text),
        ("written", env.get("written")),
    ]
    packages = env.get("packages") if isinstance(env.get("packages"), dict) else {}
    pkg = facts((name, version or "not installed") for name, version in packages.items())
    full = json.dumps(env, indent=2, ensure_ascii=False, default=str)
    return (
        facts(rows)
        + "<h3>Packages</h3>"
        + pkg
        + details("env.json as written (secrets were dropped when it was written)", code(full))
    )


def _reproduce(run: Run) -> str:
    from xkd.models.card import public

    body = note(
        "Install the package versions listed under Environment (torch and transformers matter "
        "most), save the config above as config.yaml, and type:"
    ) + code("xkd train config.yaml")
    body += note("On the machine that holds the run folder, its own copy works as well:")
    body += code(f"xkd train {shlex.quote(str(run.folder.config_path))}")
    body += note(
        f"To re-evaluate the saved models instead (the tables above, intervals included): "
        f"xkd eval {run.run_id} --runs-dir {shlex.quote(str(Path(run.path).parent))}"
    )
    local = [name for name in (run.teacher, run.data_path) if name and public(name) != name]
    if local:
        body += note(
            "The config names local files (" + ", ".join(local) + "): copy them along, or "
            "change those keys to where they are on your machine."
        )
    seed = fmt.get(run.config, "train", "seed")
    body += note(
        f"The config fixes the seed (train.seed {seed if seed is not None else '0, the default'}); the same "
        "versions on the same kind of device give the same numbers, other hardware can differ "
        "within the intervals."
    )
    return body
