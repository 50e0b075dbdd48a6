"""``check_parallel``: what ``xkd data check --parallel-corpus`` reports about a corpus.

Like the task-data report: the form it was read as, its languages and pairs per split, and
problems. A problem names an example (file and line). The problems are:

- empty lines: the pair is left out;
- length ratios that suggest misalignment: a translation more than
  :data:`RATIO` times longer or shorter than its source, in characters, with both at least
  :data:`MIN_CHARS` long;
- duplicate pairs;
- pairs whose source or translation is a test text of the task. KD would then train on
  sentences the evaluation scores.

A corpus that cannot be read is a report with ``readable=False`` (and the error), as for task
data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from xkd.data.parallel import ParallelCorpus, load_parallel
from xkd.errors import DataError

__all__ = ["ParallelReport", "check_parallel"]

RATIO = 4.0
MIN_CHARS = 12


@dataclass
class ParallelReport:
    source: str
    kind: str = ""
    source_language: str = ""
    languages: list[str] = field(default_factory=list)
    pairs: dict[str, dict[str, int]] = field(default_factory=dict)  # lang -> {train, test}
    problems: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    readable: bool = True

    def format(self) -> str:
        lines = [f"Parallel corpus: {self.source}" + (f"  ({self.kind})" if self.kind else "")]
        if not self.readable:
            lines += ["", "Could not read the corpus:", *[f"  - {p}" for p in self.problems]]
            return "\n".join(lines)
        total = sum(p.get("train", 0) + p.get("test", 0) for p in self.pairs.values())
        lines.append(
            f"{len(self.languages)} languages, {total} pairs with the source language "
            f"'{self.source_language}'"
        )
        header = ["language", "train", "test (held out)"]
        body = [
            [lang, str(p.get("train", 0)), str(p.get("test", 0))] for lang, p in self.pairs.items()
        ]
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(3)]
        lines.append("")
        for r in [header, *body]:
            lines.append(
                "  "
                + r[0].ljust(widths[0])
                + "  "
                + "  ".join(c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True))
            )
        lines.append("")
        if self.problems:
            lines.append(f"Problems ({len(self.problems)}):")
            lines += [f"  - warning: {p}" for p in self.problems]
        else:
            lines.append("No problems found.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def _where(row: pd.Series) -> str:
    file, line = row.get("_file"), row.get("_row")
    return f" (e.g. {file}, line {line})" if isinstance(file, str) else ""


def _pair_frame(corpus: ParallelCorpus, source_language: str) -> pd.DataFrame:
    f = corpus.frame
    src = f[f["language"] == source_language].drop_duplicates("pair_id").set_index("pair_id")
    tgt = f[(f["language"] != source_language) & f["pair_id"].isin(src.index)]
    out = tgt.rename(columns={"text": "target"}).copy()
    out["source"] = src.loc[out["pair_id"], "text"].to_numpy()
    return out


def _problems(pairs: pd.DataFrame, corpus: ParallelCorpus, task_test: set[str]) -> list[str]:
    found: list[str] = []
    if corpus.empty:
        file, line = corpus.empty[0]
        found.append(
            f"{len(corpus.empty)} empty lines: those pairs are left out (e.g. {file}, line {line})"
        )
    for lang, rows in pairs.groupby("language"):
        s, t = rows["source"].str.len(), rows["target"].str.len()
        long_enough = (s >= MIN_CHARS) & (t >= MIN_CHARS)
        odd = rows[long_enough & ((t > RATIO * s) | (s > RATIO * t))]
        if len(odd):
            found.append(
                f"'{lang}': {len(odd)} of {len(rows)} pairs have a length ratio over {RATIO:g}:1, "
                f"which suggests misaligned lines{_where(odd.iloc[0])}"
            )
        dup = rows[rows.duplicated(["source", "target"], keep="first")]
        if len(dup):
            found.append(f"'{lang}': {len(dup)} duplicate pairs{_where(dup.iloc[0])}")
        if task_test:
            train = rows[rows["split"] == "train"]
            leak = train[train["source"].isin(task_test) | train["target"].isin(task_test)]
            if len(leak):
                found.append(
                    f"'{lang}': {len(leak)} training pairs contain a test text of the task data, so KD "
                    f"would train on sentences the evaluation scores{_where(leak.iloc[0])}"
                )
    return found


def check_parallel(
    spec: str,
    *,
    source_language: str,
    task_test_texts: set[str] | None = None,
    max_pairs_per_language: int | None = None,
) -> ParallelReport:
    """Report on the corpus ``spec`` (see :mod:`xkd.data.parallel`); ``task_test_texts``: the
    task data's test texts, to find pairs that leak them."""
    try:
        corpus = load_parallel(
            spec, source_language=source_language, max_pairs_per_language=max_pairs_per_language
        )
    except DataError as e:
        return ParallelReport(source=spec, problems=[str(e)], errors=[str(e)], readable=False)
    pairs = _pair_frame(corpus, source_language)
    counts = {
        str(lang): {
            split: int(rows[rows["split"] == split]["pair_id"].nunique())
            for split in ("train", "test")
        }
        for lang, rows in pairs.groupby("language")
    }
    return ParallelReport(
        source=spec,
        kind=corpus.kind,
        source_language=source_language,
        languages=corpus.languages(),
        pairs=counts,
        problems=_problems(pairs, corpus, task_test_texts or set()),
    )
