"""A sweep's results: its members side by side, per language, across seeds, per varied key.

Every frame is computed from the members' run folders (``eval.json``: accuracies with their
bootstrap intervals, the paired KD gain per language); the CLI, the app's sweep view and the
report all read these frames, so a number means the same everywhere.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from xkd.evaluate.intervals import seed_interval
from xkd.runs.run import Run, load_run
from xkd.sweep.folder import Manifest, SweepFolder

__all__ = [
    "best_member",
    "key_effects",
    "language_rows",
    "member_rows",
    "member_runs",
    "seed_summary",
    "value_text",
]

SEED = "train.seed"
HEADLINE = (
    "student_target_accuracy",
    "baseline_target_accuracy",
    "teacher_target_accuracy",
    "kd_gain",
    "kd_gain_low",
    "kd_gain_high",
    "kd_gain_significant",
)


def value_text(value: Any) -> str:
    """A config value as a short label: losses as ``parallel_mse x10 + kl``, None as ``all``."""
    if value is None:
        return "all"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return " + ".join(
            f"{v.get('name')}" + (f" x{v['weight']:g}" if v.get("weight", 1) != 1 else "")
            for v in value
        )
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _lookup(config: dict, key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def member_runs(folder: SweepFolder, manifest: Manifest | None = None) -> list[tuple[Any, Run]]:
    """``(member record, Run)`` for every member that has a run folder."""
    manifest = manifest or folder.read_manifest()
    out = []
    for record in manifest.members if manifest else []:
        path = folder.runs_dir / record.run_id if record.run_id else None
        if path is not None and path.is_dir():
            out.append((record, load_run(path)))
    return out


def member_rows(folder: SweepFolder, manifest: Manifest | None = None) -> pd.DataFrame:
    """One row per member: name, state, run id, each varied key's value, the headline."""
    manifest = manifest or folder.read_manifest()
    runs = dict((r.name, run) for r, run in member_runs(folder, manifest))
    rows = []
    for record in manifest.members if manifest else []:
        run = runs.get(record.name)
        config = run.config if run is not None else {}
        head = run.headline if run is not None else None
        row = {"member": record.name, "state": record.state, "run": record.run_id or ""}
        row |= {k: value_text(_lookup(config, k)) for k in manifest.varied}
        row |= {h: getattr(head, h, None) for h in HEADLINE}
        row["error"] = record.error
        rows.append(row)
    return pd.DataFrame(rows)


def language_rows(folder: SweepFolder, manifest: Manifest | None = None) -> pd.DataFrame:
    """Per finished member and language: each model's accuracy and 95 % interval, the paired
    KD gain with its interval and significance, and the varied keys' values."""
    manifest = manifest or folder.read_manifest()
    rows = []
    for record, run in member_runs(folder, manifest):
        result = run.eval or {}
        source = result.get("source_language")
        for lang, entry in (result.get("languages") or {}).items():
            gain = entry.get("kd_gain") or {}
            row = {"member": record.name, "language": lang, "role": _role(lang, source)}
            row |= {k: value_text(_lookup(run.config, k)) for k in manifest.varied}
            for model in ("teacher", "student", "baseline"):
                score = entry.get(model) or {}
                low, high = score.get("accuracy_ci") or (None, None)
                row |= {model: score.get("accuracy"), f"{model} low": low, f"{model} high": high}
            row |= {
                "kd_gain": gain.get("gain"),
                "gain low": gain.get("low"),
                "gain high": gain.get("high"),
                "significant": gain.get("significant"),
                "p": gain.get("p"),
                "n": entry.get("n"),
                "prior": entry.get("prior"),
            }
            rows.append(row)
    return pd.DataFrame(rows)


def _role(lang: str, source: str | None) -> str:
    return "source" if lang == source else "target"


def seed_summary(languages: pd.DataFrame, varied: list[str]) -> pd.DataFrame:
    """Members that differ only in ``train.seed``, grouped: per group and language the mean
    KD gain and student accuracy over seeds with Student-t 95 % intervals (``n`` seeds)."""
    if languages.empty or SEED not in varied:
        return pd.DataFrame()
    keys = [k for k in varied if k != SEED]
    rows = []
    for group, part in languages.groupby([*keys, "language"] if keys else ["language"]):
        group = group if isinstance(group, tuple) else (group,)
        gain = seed_interval(part["kd_gain"].astype(float).tolist())
        acc = seed_interval(part["student"].astype(float).tolist())
        rows.append(
            dict(zip([*keys, "language"], group, strict=True))
            | {
                "seeds": gain["n"],
                "kd_gain mean": gain["mean"],
                "kd_gain low": gain["low"],
                "kd_gain high": gain["high"],
                "student mean": acc["mean"],
                "student low": acc["low"],
                "student high": acc["high"],
            }
        )
    return pd.DataFrame(rows)


def key_effects(languages: pd.DataFrame, varied: list[str]) -> pd.DataFrame:
    """For each varied key and value, the mean KD gain per target language over the members
    with that value (``members`` of them): how the key moves the gain, language by language."""
    targets = languages[languages["role"] == "target"] if not languages.empty else languages
    rows = []
    for key in varied:
        if key not in targets:
            continue
        for (value, lang), part in targets.groupby([key, "language"], sort=False):
            gains = part["kd_gain"].astype(float)
            rows.append(
                {
                    "key": key,
                    "value": value,
                    "language": lang,
                    "kd_gain": float(gains.mean()),
                    "members": len(part),
                }
            )
    return pd.DataFrame(rows)


def best_member(members: pd.DataFrame, by: str = "student_target_accuracy") -> dict | None:
    """The finished member with the highest ``by`` (ties: the first), as a row dict."""
    if members.empty or by not in members:
        return None
    done = members[(members["state"] == "finished") & members[by].notna()]
    if done.empty:
        return None
    row = done.loc[done[by].astype(float).idxmax()].to_dict()
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
