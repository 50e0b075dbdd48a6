"""The report of a sweep: :func:`sweep_report_html`, one self-contained HTML page.

Sections: the question, the members (headline KD gain with its interval), the paired KD gain
per target language (chart and table, with significance), the means across seeds, the effect
of each varied key, the best member and its config, and what to type to reproduce the sweep.
The frames are :mod:`xkd.sweep.summary`'s, the ones ``xkd sweep --show`` and the app read.
"""

from __future__ import annotations

import os
import shlex

import pandas as pd

from xkd.app import fmt
from xkd.app import labels as L
from xkd.errors import ConfigError
from xkd.report import charts
from xkd.report.html import Page, code, esc, facts, note, table
from xkd.sweep.folder import Manifest, SweepFolder
from xkd.sweep.summary import (
    SEED,
    best_member,
    key_effects,
    language_rows,
    member_rows,
    seed_summary,
)

__all__ = ["sweep_report_html"]


def _gain(value) -> str:
    return fmt.points(value)


def _with(value: str, low, high, cell=fmt.decimal) -> str:
    ends = fmt.interval(low, high, cell)
    return value if ends == fmt.DASH else f"{value} {ends}"


def _pts(value) -> str:
    return f"{100 * fmt.num(value):+.1f}"


def _yes(value) -> str:
    return fmt.DASH if value is None or value != value else ("yes" if value else "no")


def sweep_report_html(folder: SweepFolder | str | os.PathLike) -> str:
    """The report of the sweep in ``folder`` (a :class:`SweepFolder` or its path) as HTML."""
    folder = folder if isinstance(folder, SweepFolder) else SweepFolder(folder)
    manifest = folder.read_manifest()
    if manifest is None:
        raise ConfigError(f"{folder.path} has no readable manifest.json: not a sweep folder")
    counts = manifest.counts()
    subtitle = (
        f"sweep {manifest.sweep_id} · {manifest.state} · {manifest.kind} · "
        f"{counts['finished']} of {len(manifest.members)} members finished"
    )
    page = Page(f"xkd sweep report: {manifest.name}", subtitle)
    members = member_rows(folder, manifest)
    languages = language_rows(folder, manifest)
    page.section("Question", _question(manifest))
    page.section("Members", _members(members, manifest))
    page.section("KD gain per language", _languages(page, languages, manifest))
    page.section("Across seeds", _seeds(languages, manifest))
    page.section("Effect of each varied key", _effects(languages, manifest))
    page.section("Best member", _best(folder, members, manifest))
    page.section("Reproduce", _reproduce(folder))
    return page.render()


def _question(manifest: Manifest) -> str:
    varied = ", ".join(manifest.varied) or "nothing (one member)"
    text = f"<p>{esc(manifest.question or 'No question was written for this sweep.')}</p>"
    return text + facts(
        [
            ("kind", manifest.kind),
            ("varied keys", varied),
            ("started", manifest.started),
            ("updated", manifest.updated),
        ]
    )


def _members(members: pd.DataFrame, manifest: Manifest) -> str:
    if members.empty:
        return note("The sweep has no members.")
    rows = []
    for _, m in members.iterrows():
        row = {"member": m["member"], "state": m["state"], "run": m["run"]}
        row |= {k: m[k] for k in manifest.varied}
        row |= {
            f"{L.STUDENT} (targets)": fmt.pct(m["student_target_accuracy"]),
            f"{L.BASELINE} (targets)": fmt.pct(m["baseline_target_accuracy"]),
            f"{L.TEACHER} (targets)": fmt.pct(m["teacher_target_accuracy"]),
            L.KD_GAIN: _gain(m["kd_gain"]),
            L.KD_GAIN_INTERVAL: fmt.gain_interval(m["kd_gain_low"], m["kd_gain_high"]),
            "significant": _yes(m["kd_gain_significant"]),
            "error": m["error"] or "",
        }
        rows.append(row)
    return table(pd.DataFrame(rows)) + note(
        f"Accuracies are means over the target languages; {L.KD_GAIN} = {L.STUDENT} − "
        f"{L.BASELINE}, with the 95 % paired bootstrap interval of the mean gain; significant "
        "when the interval excludes 0."
    )


def _languages(page: Page, languages: pd.DataFrame, manifest: Manifest) -> str:
    if languages.empty:
        return note("No member has been evaluated yet.")
    parts = []
    if (languages["role"] == "target").any():
        parts.append(page.figure(charts.gain_bars(languages), height=360))
    rows = []
    for _, r in languages.iterrows():
        row = {"member": r["member"], "language": r["language"], "role": r["role"]}
        row |= {k: r[k] for k in manifest.varied}
        row |= {"n": r["n"], "prior": fmt.decimal(r["prior"])}
        for model in L.MODELS:
            acc = fmt.decimal(r[model])
            row[L.model_label(model)] = _with(acc, r[f"{model} low"], r[f"{model} high"])
        row[L.KD_GAIN] = _with(_gain(r["kd_gain"]), r["gain low"], r["gain high"], _pts)
        row["significant (95 %)"] = fmt.significance(r["significant"], r["p"])
        rows.append(row)
    parts.append(table(pd.DataFrame(rows)))
    parts.append(note(L.INTERVALS_NOTE))
    return "".join(parts)


def _seeds(languages: pd.DataFrame, manifest: Manifest) -> str:
    if SEED not in manifest.varied:
        return note(f"The sweep does not vary {SEED}: no means across seeds.")
    seeds = seed_summary(languages, manifest.varied)
    seeds = seeds[seeds["seeds"] >= 2] if not seeds.empty else seeds
    if seeds.empty:
        return note("Fewer than two seeds have finished in every group so far.")
    keys = [k for k in manifest.varied if k != SEED]
    rows = []
    for _, r in seeds.iterrows():
        row = {k: r[k] for k in [*keys, "language"]} | {"seeds": r["seeds"]}
        row[f"mean {L.KD_GAIN}"] = _with(
            _gain(r["kd_gain mean"]), r["kd_gain low"], r["kd_gain high"], _pts
        )
        row[f"mean {L.STUDENT} accuracy"] = _with(
            fmt.decimal(r["student mean"]), r["student low"], r["student high"]
        )
        rows.append(row)
    return table(pd.DataFrame(rows)) + note(
        "Members that differ only in the seed, averaged; brackets: Student-t 95 % interval "
        "over the seeds (mean ± t · sd / √n)."
    )


def _effects(languages: pd.DataFrame, manifest: Manifest) -> str:
    effects = key_effects(languages, manifest.varied)
    if effects.empty:
        return note("No varied key with evaluated members yet.")
    shown = effects.assign(kd_gain=[_gain(v) for v in effects["kd_gain"]]).rename(
        columns={"kd_gain": f"mean {L.KD_GAIN}"}
    )
    return table(shown) + note(
        "For each varied key and value: the mean KD gain per target language over the members "
        "with that value."
    )


def _member_config(folder: SweepFolder, run_id: str) -> str:
    try:
        return (folder.runs_dir / run_id / "config.yaml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _best(folder: SweepFolder, members: pd.DataFrame, manifest: Manifest) -> str:
    best = best_member(members)
    if best is None:
        return note("No member has finished yet.")
    rows = [("member", best["member"]), ("run", best["run"])]
    rows += [(k, best.get(k)) for k in manifest.varied]
    rows += [
        (f"{L.STUDENT}, target languages", fmt.pct(best.get("student_target_accuracy"))),
        (L.KD_GAIN, _gain(best.get("kd_gain"))),
        (L.KD_GAIN_INTERVAL, fmt.gain_interval(best.get("kd_gain_low"), best.get("kd_gain_high"))),
        ("significant", _yes(best.get("kd_gain_significant"))),
    ]
    body = note(f"The finished member with the highest {L.STUDENT} target-language accuracy.")
    body += facts(rows)
    text = _member_config(folder, best["run"])
    if text.strip():
        body += note(
            "Its config (config.yaml of its run folder); to train it alone, save it as "
            "config.yaml and type: xkd train config.yaml"
        )
        body += code(text, language="yaml")
    return body


def _reproduce(folder: SweepFolder) -> str:
    try:
        spec = folder.spec_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        spec = ""
    runs_dir = shlex.quote(str(folder.runs_dir))
    body = note("Save the sweep file below as sweep.yaml and type (a new sweep, every member):")
    body += code("xkd sweep sweep.yaml")
    body += note("On the machine that holds the sweep folder, its own copy works as well:")
    body += code(f"xkd sweep {shlex.quote(str(folder.spec_path))}")
    body += note("To finish the members of this sweep that have not finished (nothing is redone):")
    body += code(f"xkd sweep --resume {folder.sweep_id} --runs-dir {runs_dir}")
    if spec.strip():
        body += "<h3>sweep.yaml</h3>" + code(spec, language="yaml")
    return body
