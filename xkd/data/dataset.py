"""``TextDataset``: a frame in the one schema (:mod:`xkd.data.schema`) plus its label set."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from xkd.data.schema import COLUMNS, SPLITS, validate_frame
from xkd.errors import DataError

__all__ = ["TextDataset", "build_dataset", "filter_languages"]


@dataclass
class TextDataset:
    """A labelled (or partly unlabelled) multilingual text dataset in the xkd schema."""

    frame: pd.DataFrame
    labels: list[str]
    name: str = "data"

    def __post_init__(self) -> None:
        cols = list(self.frame.columns)
        if set(cols) != set(COLUMNS):
            missing = [c for c in COLUMNS if c not in cols]
            extra = [c for c in cols if c not in COLUMNS]
            raise DataError(
                f"a TextDataset frame needs exactly the columns {', '.join(COLUMNS)}"
                + (f"; missing: {', '.join(map(str, missing))}" if missing else "")
                + (f"; unexpected: {', '.join(map(str, extra))}" if extra else "")
                + ". Use xkd.data.validate_frame to build one from other data."
            )
        if cols != list(COLUMNS):
            self.frame = self.frame[list(COLUMNS)]
        self.labels = sorted({str(label) for label in self.labels})

    # -- views -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.frame)

    def languages(self) -> list[str]:
        """The languages present, sorted."""
        return sorted(self.frame["language"].unique())

    def subset(
        self,
        split: str | Iterable[str] | None = None,
        languages: str | Iterable[str] | None = None,
    ) -> TextDataset:
        """Rows of the given split(s) and language(s); ``labels`` stay the full label set."""
        mask = pd.Series(True, index=self.frame.index)
        if split is not None:
            wanted = [split] if isinstance(split, str) else list(split)
            unknown = [s for s in wanted if s not in SPLITS]
            if unknown:
                raise DataError(
                    f"unknown split {', '.join(map(repr, unknown))}; use {', '.join(SPLITS)}",
                    field="split",
                )
            mask &= self.frame["split"].isin(wanted)
        if languages is not None:
            wanted = [languages] if isinstance(languages, str) else list(languages)
            self._check_languages(wanted)
            mask &= self.frame["language"].isin(wanted)
        frame = self.frame[mask].reset_index(drop=True)
        return TextDataset(frame, list(self.labels), self.name)

    def counts(self) -> pd.DataFrame:
        """Rows per language (index) and split (columns train, dev, test)."""
        table = pd.crosstab(self.frame["language"], self.frame["split"])
        table = table.reindex(columns=list(SPLITS), fill_value=0).astype(int)
        table.index.name = "language"
        table.columns.name = None
        return table

    def parallel_pairs(
        self, source_language: str, target_language: str, split: str | None = None
    ) -> pd.DataFrame:
        """Translation pairs joined on ``pair_id``.

        Returns columns ``pair_id, source_text, target_text, label, split``, in source order.
        ``label`` and ``split`` are the source row's (the target's label when the source is
        unlabelled). With ``split`` given, both rows of a pair must be in that split.
        """
        self._check_languages([source_language, target_language])
        keep = ["pair_id", "text", "label", "split"]
        f = self.frame[self.frame["pair_id"].notna()]
        src = f.loc[f["language"] == source_language, keep]
        tgt = f.loc[f["language"] == target_language, keep]
        merged = src.merge(tgt, on="pair_id", how="inner", suffixes=("_s", "_t"), sort=False)
        if split is not None:
            if split not in SPLITS:
                raise DataError(f"unknown split '{split}'; use {', '.join(SPLITS)}", field="split")
            merged = merged[(merged["split_s"] == split) & (merged["split_t"] == split)]
        label = merged["label_s"].where(merged["label_s"].notna(), merged["label_t"])
        out = pd.DataFrame(
            {
                "pair_id": merged["pair_id"].astype(object),
                "source_text": merged["text_s"].astype(object),
                "target_text": merged["text_t"].astype(object),
                "label": label.astype(object).where(label.notna(), None),
                "split": merged["split_s"].astype(object),
            }
        )
        return out.reset_index(drop=True)

    def n_parallel_groups(self) -> int:
        """Number of pair ids that occur in at least two languages."""
        f = self.frame[self.frame["pair_id"].notna()]
        if f.empty:
            return 0
        return int((f.groupby("pair_id")["language"].nunique() > 1).sum())

    def _check_languages(self, wanted: Iterable[str]) -> None:
        _check_languages(self.frame, wanted, self.name)


def build_dataset(
    raw: pd.DataFrame,
    name: str,
    *,
    extra_labels: Iterable[str] = (),
    languages: Sequence[str] | None = None,
    file: str | None = None,
) -> TextDataset:
    """Normalise a raw frame, raise its first fatal problem, filter languages, wrap it."""
    clean = validate_frame(raw, file=file)
    if languages is not None:
        clean = filter_languages(clean, languages, name)
    labels = set(clean["label"].dropna()) | {str(x) for x in extra_labels}
    return TextDataset(clean, sorted(labels), name)


def _check_languages(frame: pd.DataFrame, wanted: Iterable[str], name: str) -> None:
    present = set(frame["language"].unique())
    unknown = [lang for lang in wanted if lang not in present]
    if unknown:
        raise DataError(
            f"language {', '.join(map(repr, unknown))} not found in {name}; "
            f"languages present: {', '.join(sorted(present)) or 'none'}",
            field="language",
        )


def filter_languages(frame: pd.DataFrame, languages: Sequence[str], name: str) -> pd.DataFrame:
    _check_languages(frame, languages, name)
    return frame[frame["language"].isin(list(languages))].reset_index(drop=True)
