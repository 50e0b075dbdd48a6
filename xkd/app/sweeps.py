"""The Sweeps page's data: the one-click ablations of a run, a sweep's progress and its view.

Numbers come from :mod:`xkd.sweep.summary` (the members' eval.json, with bootstrap intervals);
this module only shapes them for the page (text cells, chart frames).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from xkd.app import fmt
from xkd.app import labels as L
from xkd.errors import ConfigError
from xkd.sweep import ABLATIONS, SweepFolder, ablation, list_sweeps
from xkd.sweep.spec import SweepSpec
from xkd.sweep.summary import (
    best_member,
    key_effects,
    language_rows,
    member_rows,
    seed_summary,
)

__all__ = [
    "AblationChoice",
    "SweepProgress",
    "ablation_choices",
    "budget_sizes",
    "build_ablation",
    "clone_config",
    "example_sweep",
    "gains_long",
    "members_display",
    "parallel_frame",
    "parse_sweep",
    "sweep_labels",
    "sweep_progress",
]


@dataclass(frozen=True)
class AblationChoice:
    """One ablation of a run: its key, a menu label, the question it answers, how many runs
    it makes, and why it cannot be made (``""`` when it can)."""

    name: str
    label: str
    question: str
    members: int
    error: str = ""


def budget_sizes(result: dict | None) -> list[int | None]:
    """Four pair budgets below the fewest pairs a target language trained on, and ``all``."""
    attribution = fmt.get(result, "attribution") or {}
    pairs = [int(a.get("parallel_pairs") or 0) for a in attribution.values() if isinstance(a, dict)]
    most = min([p for p in pairs if p > 0], default=64)
    sizes = sorted({max(1, round(most / 2**k)) for k in (4, 3, 2, 1)})
    return [*sizes, None]


def build_ablation(name: str, config: dict, *, result: dict | None = None, **options) -> SweepSpec:
    """The ablation ``name`` of a run's config; ``budget`` defaults to :func:`budget_sizes`."""
    if name == "budget" and "sizes" not in options:
        options["sizes"] = budget_sizes(result)
    return ablation(name, config, **options)


def ablation_choices(config: dict, result: dict | None = None) -> list[AblationChoice]:
    """Every one-click ablation of a run's ``config``, each with its question and size."""
    out = []
    for name, (_, label) in ABLATIONS.items():
        try:
            spec = build_ablation(name, config, result=result)
            out.append(AblationChoice(name, label, spec.question, len(spec.members())))
        except ConfigError as exc:
            out.append(AblationChoice(name, label, "", 0, str(exc)))
    return out


def example_sweep(config: dict | None) -> str:
    """A sweep file to start from: the current run's config (or the demo) at three
    temperatures crossed with two seeds."""
    import yaml

    base = {"config_of_run": True} if config else {"preset": "demo"}
    text = {
        "name": "my-sweep",
        "question": "how does the temperature move the gain, over two seeds?",
        "base": base,
        "grid": {"distill.temperature": [1.0, 3.0, 8.0], "train.seed": [0, 1]},
    }
    out = yaml.safe_dump(text, sort_keys=False)
    if config:  # the run's own keys, written out, so the file stands alone
        plain = {k: v for k, v in config.items() if k != "name"}
        out = out.replace(
            "  config_of_run: true\n", _indent(yaml.safe_dump(plain, sort_keys=False))
        )
    return out


def _indent(text: str) -> str:
    return "".join(f"  {line}\n" for line in text.splitlines())


def parse_sweep(text: str) -> SweepSpec:
    """A :class:`SweepSpec` from the text of a sweep file (every member validated)."""
    import yaml

    from xkd.sweep import load_sweep

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"the sweep file is not valid YAML: {exc}") from None
    spec = load_sweep(raw if raw is not None else {})
    spec.members()  # refuse a bad member before any folder exists
    return spec


def sweep_labels(runs_dir: str | Path) -> dict[str, str]:
    """``{sweep id: "name (id)"}``, newest first (the progress bar says how far each got)."""
    out = {}
    for folder in list_sweeps(runs_dir):
        m = folder.read_manifest()
        if m is not None:
            out[folder.sweep_id] = f"{m.name} ({len(m.members)} runs, {folder.sweep_id})"
    return out


@dataclass(frozen=True)
class SweepProgress:
    fraction: float
    text: str
    state: str
    active: bool
    current_run: str | None


def sweep_progress(folder: SweepFolder) -> SweepProgress:
    """The whole sweep's progress: finished members (and the current one's share) of all."""
    from xkd.runs import RunFolder

    m = folder.read_manifest()
    if m is None:
        return SweepProgress(0.0, "no manifest", "missing", False, None)
    total = max(1, len(m.members))
    done = m.counts()["finished"] + m.counts()["failed"]
    current = next((r for r in m.members if r.name == m.current), None)
    share, run_id, where = 0.0, None, ""
    if current is not None and current.run_id and m.active:
        run_id = current.run_id
        status = RunFolder(folder.runs_dir / run_id).read_status()
        step, steps = status.get("step") or 0, status.get("total_steps") or 0
        share = min(1.0, step / steps) * 0.9 if steps else 0.0
        where = (
            f"; now {current.name}: {status.get('state', 'starting')} {status.get('phase') or ''}"
        )
    state = m.shown_state()
    text = f"{state}: {done} of {len(m.members)} runs done{where}"
    return SweepProgress(min(1.0, (done + share) / total), text, state, m.active, run_id)


def members_display(members: pd.DataFrame, varied: list[str]) -> pd.DataFrame:
    """The members table as text: accuracies in %, the KD gain with its 95 % interval."""
    if members.empty:
        return members
    out = members[["member", "state", *varied]].copy()
    out[L.STUDENT_TARGETS] = [fmt.pct(v) for v in members["student_target_accuracy"]]
    out[L.BASELINE_TARGETS] = [fmt.pct(v) for v in members["baseline_target_accuracy"]]
    out[L.KD_GAIN] = [fmt.points(v) for v in members["kd_gain"]]
    out[L.KD_GAIN_INTERVAL] = [
        fmt.gain_interval(lo, hi)
        for lo, hi in zip(members["kd_gain_low"], members["kd_gain_high"], strict=True)
    ]
    out["significant"] = [
        fmt.DASH
        if s is None or (isinstance(s, float) and math.isnan(s))
        else ("yes" if s else "no")
        for s in members["kd_gain_significant"]
    ]
    out["run"] = members["run"]
    out["error"] = members["error"]
    return out


def parallel_frame(members: pd.DataFrame, varied: list[str]) -> tuple[pd.DataFrame, dict]:
    """Finished members for a parallel-coordinates chart: each varied key as codes 0..k-1
    (``ticks[key]`` = their labels), then the target accuracy and the KD gain in %."""
    done = members[members["state"] == "finished"].dropna(subset=["kd_gain"])
    frame, ticks = pd.DataFrame(index=done.index), {}
    for key in varied:
        values = list(dict.fromkeys(done[key].tolist()))
        ticks[key] = values
        frame[key] = [values.index(v) for v in done[key]]
    frame[L.STUDENT_TARGETS] = 100 * done["student_target_accuracy"].astype(float)
    frame[L.KD_GAIN] = 100 * done["kd_gain"].astype(float)
    return frame.reset_index(drop=True), ticks


def gains_long(languages: pd.DataFrame) -> pd.DataFrame:
    """Per member and target language: the KD gain in points and its error bars."""
    if languages.empty:
        return pd.DataFrame(columns=["member", "language", "gain", "plus", "minus", "significant"])
    t = languages[languages["role"] == "target"].copy()
    t["gain"] = 100 * t["kd_gain"].astype(float)
    t["plus"] = 100 * t["gain high"].astype(float) - t["gain"]
    t["minus"] = t["gain"] - 100 * t["gain low"].astype(float)
    return t[["member", "language", "gain", "plus", "minus", "significant"]].reset_index(drop=True)


def clone_config(folder: SweepFolder, member: str) -> dict | None:
    """The config of a member (for the Lab's clone), or None when it has no run folder."""
    from xkd.runs import RunFolder

    m = folder.read_manifest()
    record = next((r for r in m.members if r.name == member), None) if m else None
    if record is None or not record.run_id:
        return None
    return RunFolder(folder.runs_dir / record.run_id).read_config()


def view_frames(folder: SweepFolder) -> dict:
    """Everything the sweep view draws, read once: members, languages, seeds, effects, best."""
    m = folder.read_manifest()
    members = member_rows(folder, m)
    languages = language_rows(folder, m)
    return {
        "manifest": m,
        "members": members,
        "languages": languages,
        "seeds": seed_summary(languages, m.varied),
        "effects": key_effects(languages, m.varied),
        "best": best_member(members),
    }


def curve_bands(languages: pd.DataFrame, key: str, model: str = "student") -> pd.DataFrame:
    """A curve per target language over the values of ``key`` (e.g. the data budget): the
    ``model``'s accuracy with a band: the 95 % bootstrap interval of the one member with that
    value, or the mean and Student-t interval over several (seeds)."""
    from xkd.evaluate.intervals import seed_interval

    cols = ["language", "value", "accuracy", "low", "high", "members"]
    if languages.empty or key not in languages:
        return pd.DataFrame(columns=cols)
    t = languages[languages["role"] == "target"]
    rows = []
    for (lang, value), part in t.groupby(["language", key], sort=False):
        if len(part) == 1:
            acc, low, high = (
                float(part.iloc[0][c]) for c in (model, f"{model} low", f"{model} high")
            )
        else:
            s = seed_interval(part[model].astype(float).tolist())
            acc, low, high = s["mean"], s["low"], s["high"]
        rows.append(dict(zip(cols, (lang, value, acc, low, high, len(part)), strict=True)))
    return pd.DataFrame(rows, columns=cols)
