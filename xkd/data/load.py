"""``load_data`` and ``check_data``: one entry point for every data source."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from xkd.data.dataset import TextDataset, build_dataset, filter_languages
from xkd.data.sampling import capped
from xkd.data.schema import SPLITS, Problem, dataset_problems, empty_frame, normalise_frame
from xkd.errors import DataError

ACCEPTED_FORMS = (
    "'demo' (built-in offline data), 'hf:<dataset id>' (e.g. hf:Davlan/sib200), "
    "a .csv/.tsv/.jsonl/.parquet file with text and language columns, or a folder of "
    "language folders (<language>/<split>.csv|.tsv|.jsonl|.parquet with split train, "
    "dev/valid/validation/val or test, or <language>/<split>_text.txt with <split>_labels.txt); "
    "see docs/data.md"
)


def _not_found(path: str) -> DataError:
    hint = ""
    if "/" in path and not path.startswith(("/", ".")) and path.count("/") == 1:
        hint = f" If you meant the Hugging Face dataset, write hf:{path}."
    return DataError(f"no such file or folder.{hint} Accepted: {ACCEPTED_FORMS}.", file=path)


def _read_raw(
    path: str,
    columns: Mapping[str, str] | None,
    languages: Sequence[str] | None,
    problems: list[Problem] | None = None,
    cap: int | None = None,
) -> tuple[pd.DataFrame, str, set[str], str, bool]:
    """``(raw, name, extra_labels, kind, languages_applied)``; file errors raise DataError.
    ``cap`` is ``data.max_train_per_language``, applied to every source by one rule
    (:class:`~xkd.data.sampling.TrainCap`); a source too large to read whole is read once per
    pass, so memory follows ``cap``."""
    spec = str(path).strip()
    if spec.lower() == "demo":
        from xkd.data.demo import load_demo

        ds = load_demo(list(languages) if languages is not None else None)
        return (
            capped(lambda: iter([ds.frame]), cap),
            "demo",
            set(),
            "demo (chatterbot-corpus)",
            True,
        )
    if spec.lower().startswith("hf:"):
        from xkd.data.hub_load import load_hub

        dataset_id = spec[3:].strip()
        if not dataset_id:
            raise DataError("hf: needs a dataset id, e.g. hf:Davlan/sib200")
        raw = load_hub(dataset_id, columns=columns, languages=languages, cap=cap)
        return raw, spec, set(), "Hugging Face dataset", True
    p = Path(os.path.expanduser(spec))
    if p.is_file():
        from xkd.data.files import file_format
        from xkd.data.stream import read_capped, streamed

        raw = read_capped(p, columns, cap=cap)
        kind = f"{(file_format(p) or '?').upper()} file" + (", streamed" if streamed(p) else "")
        return raw, p.name, set(), kind, False
    if p.is_dir():
        from xkd.data.folders import read_folder

        raw, extra, layout = read_folder(p, columns, languages, problems, cap=cap)
        return raw, p.name or str(p), extra, f"folder, {layout} layout", True
    raise _not_found(spec)


def load_data(
    path: str | os.PathLike,
    *,
    columns: Mapping[str, str] | None = None,
    languages: Sequence[str] | None = None,
    max_train_per_language: int | None = None,
) -> TextDataset:
    """Load any supported source into a ``TextDataset``.

    ``path``: ``demo``, ``hf:<dataset id>``, a ``.csv``/``.tsv``/``.jsonl``/``.parquet`` file or
    a folder (see ``xkd.data.folders``). ``columns`` maps schema names to the source's column
    names (``{"text": "sentence"}``). ``languages`` keeps only those languages (for ``hf:`` it
    selects the configs to download). ``max_train_per_language`` finds, per language, the
    training groups (pair ids, or texts) with that many lowest hashes and keeps the training
    rows of every such group in every language (so each kept pair keeps its source sentence);
    the training examples then take each language's own groups (:mod:`xkd.train.examples`).
    Dev and test rows are all kept. Large sources are read once per pass, so memory follows
    the cap.
    Raises ``DataError`` naming the file, row and field of the first problem.
    """
    if isinstance(languages, str):
        languages = [languages]
    raw, name, extra, _, applied = _read_raw(
        str(path), columns, languages, cap=max_train_per_language
    )
    return build_dataset(raw, name, extra_labels=extra, languages=None if applied else languages)


@dataclass
class DataReport:
    """What ``check_data`` found; ``format()`` renders it for ``xkd data check``."""

    source: str
    kind: str = ""
    languages: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    counts: pd.DataFrame = field(default_factory=pd.DataFrame)
    n_parallel_groups: int = 0
    problems: list[str] = field(default_factory=list)
    paired: dict[str, int] = field(default_factory=dict)
    n_rows: int = 0
    readable: bool = True
    #: the problems that make ``load_data`` (and so ``xkd train``) refuse the data; the other
    #: problems are warnings
    errors: list[str] = field(default_factory=list)
    #: source columns outside the schema; they are ignored
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        lines = [f"Data: {self.source}" + (f"  ({self.kind})" if self.kind else "")]
        if not self.readable:
            lines.append("")
            lines.append("Could not read the data:")
            lines.extend(f"  - {p}" for p in self.problems)
            lines.append("")
            lines.append("xkd train refuses this data until it can be read.")
            return "\n".join(lines)
        lines.append(
            f"{len(self.languages)} language{'s' if len(self.languages) != 1 else ''}, "
            f"{len(self.labels)} label{'s' if len(self.labels) != 1 else ''}, "
            f"{self.n_rows} rows, {self.n_parallel_groups} translation groups "
            "(pair ids in 2+ languages)"
        )
        if not self.counts.empty:
            header = ["language", *SPLITS, "total", "paired"]
            body = []
            for lang, row in self.counts.iterrows():
                values = [int(row[s]) for s in SPLITS]
                body.append([str(lang), *map(str, values), str(sum(values))])
                body[-1].append(str(self.paired.get(lang, 0)))
            totals = [int(self.counts[s].sum()) for s in SPLITS]
            body.append(["(all languages)", *map(str, totals), str(sum(totals)), ""])
            widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

            def fmt(r: list[str]) -> str:
                first = r[0].ljust(widths[0])
                rest = "  ".join(c.rjust(w) for c, w in zip(r[1:], widths[1:]))
                return f"  {first}  {rest}".rstrip()

            lines.append("")
            lines.append(fmt(header))
            lines.extend(fmt(r) for r in body)
            lines.append("  (paired: rows whose pair_id also occurs in another language)")
        lines.append("")
        shown = ", ".join(self.labels[:30]) + (" ..." if len(self.labels) > 30 else "")
        lines.append(f"Labels ({len(self.labels)}): {shown or 'none (unlabelled)'}")
        if self.ignored_columns:
            shown = ", ".join(repr(c) for c in self.ignored_columns)
            lines.append(f"Ignored columns (not in the schema): {shown}")
        lines.append("")
        if self.problems:
            errors = set(self.errors)
            lines.append(f"Problems ({len(self.problems)}):")
            lines.extend(f"  - {'error' if p in errors else 'warning'}: {p}" for p in self.problems)
            if self.errors:
                lines.append("")
                lines.append(
                    f"xkd train refuses this data until the {len(self.errors)} error"
                    f"{'s' if len(self.errors) > 1 else ''} above "
                    f"{'are' if len(self.errors) > 1 else 'is'} fixed."
                )
        else:
            lines.append("No problems found.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def check_data(
    path: str | os.PathLike,
    columns: Mapping[str, str] | None = None,
    *,
    languages: Sequence[str] | None = None,
) -> DataReport:
    """Read a source like ``load_data`` but report every problem instead of stopping.

    Problems include: files that cannot be read (encoding, binary, missing columns; in a
    folder the other files are still checked), empty texts, bad splits, duplicate pair ids,
    labels missing in some languages, languages without train rows, pair ids that never
    match another language, translation groups that straddle splits or disagree on labels.
    """
    source = str(path)
    if isinstance(languages, str):
        languages = [languages]
    file_problems: list[Problem] = []
    try:
        raw, name, extra, kind, applied = _read_raw(source, columns, languages, file_problems)
    except DataError as e:
        problems = [str(p) for p in file_problems] + [str(e)]
        return DataReport(source=source, problems=problems, readable=False, errors=problems)

    if raw.empty and not len(raw.columns):
        clean, row_problems = empty_frame(), []
    else:
        clean, row_problems = normalise_frame(raw)
    if languages is not None and not applied and not clean.empty:
        try:
            clean = filter_languages(clean, languages, name)
        except DataError as e:
            row_problems.append(Problem(e.detail, field="language"))
    problems = file_problems + row_problems + dataset_problems(clean)

    ds_labels = sorted(set(clean["label"].dropna()) | extra)
    counts = (
        TextDataset(clean, ds_labels, name).counts()
        if not clean.empty
        else pd.DataFrame(columns=list(SPLITS))
    )
    paired: dict[str, int] = {}
    with_pair = clean[clean["pair_id"].notna()]
    n_groups = 0
    if not with_pair.empty:
        n_langs = with_pair.groupby("pair_id")["language"].nunique()
        shared = set(n_langs.index[n_langs > 1])
        n_groups = len(shared)
        in_shared = with_pair[with_pair["pair_id"].isin(shared)]
        paired = {str(k): int(v) for k, v in in_shared.groupby("language").size().items()}
    return DataReport(
        source=source,
        kind=kind,
        languages=sorted(clean["language"].unique()) if not clean.empty else [],
        labels=ds_labels,
        counts=counts,
        n_parallel_groups=n_groups,
        problems=[str(p) for p in problems],
        paired=paired,
        n_rows=len(clean),
        errors=[str(p) for p in problems if p.fatal],
        ignored_columns=[str(c) for c in raw.attrs.get("ignored_columns", [])],
    )
