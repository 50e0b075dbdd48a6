"""What the CLI prints: the per-language summary of a run and the ``xkd runs`` table."""

from __future__ import annotations

import sys

__all__ = ["print_summary", "runs_text"]


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:+.1f}" if signed else f"{value * 100:.1f}"


def print_summary(result: dict) -> None:
    from xkd.runs.schema import read_headline

    langs = result.get("languages", {})
    if not langs:  # an alignment-only run: no labels, retrieval only
        _print_retrieval(result)
        return
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
            f"{_pct(head.kd_gain, signed=True)} points{_gain_interval(head)}",
            file=sys.stderr,
        )


def _gain_interval(head) -> str:
    """`` (95 % interval +3.1 to +28.1, significant, p=0.004)``; "" before intervals."""
    if head.kd_gain_low is None or head.kd_gain_high is None:
        return ""
    sig = "significant" if head.kd_gain_significant else "not significant"
    return (
        f" (95 % interval {_pct(head.kd_gain_low, signed=True)} to "
        f"{_pct(head.kd_gain_high, signed=True)}, {sig}, p={head.kd_gain_p:.3f})"
    )


def _print_retrieval(result: dict) -> None:
    """Retrieval@1 (source -> translation) and pair cosine per language."""
    retrieval, cosine = result.get("retrieval") or {}, result.get("pair_cosine") or {}
    print(
        f"{'language':<10}{'pairs':>7}{'R@1 teacher':>13}{'R@1 student':>13}{'cos student':>13}",
        file=sys.stderr,
    )
    for lang, r in retrieval.items():

        def r1(model, r=r):
            value = (r.get(model) or {}).get("src_to_tgt")
            return f"{value:.3f}" if value is not None else "-"

        cos = (cosine.get(lang) or {}).get("student")
        print(
            f"{lang:<10}{r.get('n_pairs', 0):>7}{r1('teacher'):>13}{r1('student'):>13}"
            f"{(f'{cos:.3f}' if cos is not None else '-'):>13}",
            file=sys.stderr,
        )


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
        ("state", 17),
        ("teacher → student", 28),
        ("langs", 8),
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
            _cut(_state_text(run), 16),
            _cut(f"{run.teacher or '?'} → {run.student or '?'}", 27),
            _cut(langs, 7),
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


def print_sweep(folder) -> None:
    """A sweep's members (headline KD gain with its interval) and, per target language, each
    member's paired KD gain with its interval; members differing only in seed, averaged."""
    from xkd.sweep.summary import language_rows, member_rows, seed_summary

    manifest = folder.read_manifest()
    print(f"sweep {folder.sweep_id}: {manifest.question}", file=sys.stderr)
    members = member_rows(folder, manifest)
    for _, m in members.iterrows():
        gain = _pct(m["kd_gain"], signed=True) if m["kd_gain"] == m["kd_gain"] else "-"
        ci = (
            f" [{_pct(m['kd_gain_low'], signed=True)}, {_pct(m['kd_gain_high'], signed=True)}]"
            if m["kd_gain_low"] is not None and m["kd_gain_low"] == m["kd_gain_low"]
            else ""
        )
        print(f"  {m['member']:<28}{m['state']:<10}KD gain {gain}{ci}  {m['run']}", file=sys.stderr)
    langs = language_rows(folder, manifest)
    if not langs.empty:
        print(
            "per target language: KD gain [95 % paired bootstrap interval] *significant",
            file=sys.stderr,
        )
        for _, r in langs[langs["role"] == "target"].iterrows():
            mark = "*" if r["significant"] else ""
            print(
                f"  {r['member']:<28}{r['language']:<6}{_pct(r['kd_gain'], signed=True):>7} "
                f"[{_pct(r['gain low'], signed=True)}, {_pct(r['gain high'], signed=True)}]{mark}",
                file=sys.stderr,
            )
    seeds = seed_summary(langs, manifest.varied)
    seeds = seeds[seeds["seeds"] >= 2] if not seeds.empty else seeds
    if not seeds.empty:
        print("across seeds: mean KD gain [95 % t interval]", file=sys.stderr)
        keys = [k for k in manifest.varied if k != "train.seed"]
        for _, r in seeds.iterrows():
            what = ", ".join(f"{k}={r[k]}" for k in keys)
            print(
                f"  {r['language']:<6}{_pct(r['kd_gain mean'], signed=True):>7} "
                f"[{_pct(r['kd_gain low'], signed=True)}, {_pct(r['kd_gain high'], signed=True)}]"
                f" over {r['seeds']} seeds {what}",
                file=sys.stderr,
            )
