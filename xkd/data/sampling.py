"""Which rows of a parallel corpus or of task data a run keeps, decided one batch at a time.

Every translation group has a 64-bit hash of its id (:func:`bucket`), the same on every machine.
The lowest hashes are held out and the lowest hashes train, so the choice is deterministic and
needs no second pass over the corpus.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from xkd.data.schema import assign_split, bucket, clean_value, normalise_split

__all__ = [
    "TEST_SHARE",
    "Selector",
    "TrainCap",
    "bucket",
    "capped",
    "capped_sources",
    "lowest_rows",
]

TEST_SHARE = 10  # percent of the groups of a raw corpus that are test candidates


class Selector:
    """Keeps, over a stream of batches, the rows a corpus contributes to a run.

    Raw corpora: a group whose hash falls in the lowest :data:`TEST_SHARE` percent is a test
    candidate, and the ``test_pairs`` candidates with the lowest hashes are held out; the other
    groups train. With ``cap``, each target language keeps the ``cap`` training groups with the
    lowest hashes (a kept group keeps all its rows). Thresholds only fall as batches arrive, so
    what is dropped early would be dropped at the end too: memory is bounded by ``cap`` and
    ``test_pairs``, not by the corpus. Sources with their own splits keep them.
    """

    def __init__(self, source_language: str, cap: int | None, test_pairs: int) -> None:
        self.source, self.cap, self.test_pairs = source_language, cap, test_pairs
        self.train: list[pd.DataFrame] = []
        self.other: list[pd.DataFrame] = []
        self.languages: set[str] = set()

    def add(self, batch: pd.DataFrame) -> None:
        """Take one batch of long rows (``split`` given by sources with their own splits)."""
        self.languages |= set(batch["language"].unique())
        batch = batch.assign(bucket=batch["pair_id"].map(bucket))
        if "split" not in batch:  # a raw corpus: hold out the lowest-hash test candidates
            test = (batch["bucket"] % 100) < TEST_SHARE
            batch["split"] = test.map({True: "test", False: "train"})
            self.other = self._bounded(
                [*self.other, batch[test]], self.test_pairs, by_language=False
            )
        else:
            self.other.append(batch[batch["split"] != "train"])
        train = batch[batch["split"] == "train"]
        self.train = self._bounded([*self.train, train], self.cap, by_language=True)

    def _bounded(self, parts: list[pd.DataFrame], cap: int | None, *, by_language: bool):
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        if not cap or frame.empty:
            return [frame]
        if not by_language:
            keep = set(pd.Series(frame["bucket"].unique()).nsmallest(cap))
            return [frame[frame["bucket"].isin(keep)]]
        targets = frame[frame["language"] != self.source]
        keep: set[int] = set()
        for _, rows in targets.groupby("language"):
            keep |= set(pd.Series(rows["bucket"].unique()).nsmallest(cap))
        return [frame[frame["bucket"].isin(keep)]]

    def frame(self) -> pd.DataFrame:
        parts = [p for p in [*self.train, *self.other] if len(p)]
        if not parts:
            return pd.DataFrame(columns=["pair_id", "language", "text", "split", "bucket"])
        return pd.concat(parts, ignore_index=True).drop(columns="bucket")


def _key(frame: pd.DataFrame) -> pd.Series:
    """A row's group key: its ``pair_id`` (a translation group stays together), else its text."""
    pair = frame["pair_id"] if "pair_id" in frame else pd.Series(None, index=frame.index)
    text = frame["text"] if "text" in frame else pd.Series("", index=frame.index)
    return pd.Series(
        [
            p if p is not None else (clean_value(t) or "")
            for p, t in zip(pair.map(clean_value), text, strict=True)
        ],
        index=frame.index,
        dtype=object,
    )


def lowest_rows(frame: pd.DataFrame, cap: int | None) -> pd.DataFrame:
    """The rows of the ``cap`` groups with the lowest hashes (all rows when ``cap`` is None or
    there are not more groups), in their order. The same rows on every machine and for every
    ``train.seed``: seeds compare models, not samples of the data."""
    if cap is None or frame.empty:
        return frame
    hashes = _key(frame).map(bucket)
    if hashes.nunique() <= cap:
        return frame
    return frame[hashes.isin(set(pd.Series(hashes.unique()).nsmallest(cap)))]


class TrainCap:
    """``data.max_train_per_language`` over raw task-data batches, in two passes.

    Pass 1 (:meth:`see`) finds, per language, the ``cap`` training groups with the lowest
    hashes (:func:`lowest_rows`); pass 2 (:meth:`keep`) keeps every row outside ``train`` and
    the training rows of every group that some language keeps, so the source sentences of
    every kept target pair survive, however sparse the target. The training examples then take
    each language's own ``cap`` groups (:mod:`xkd.train.examples`). Data read whole and data
    streamed give the same rows.

    Rows are raw (:mod:`xkd.data.schema`): the split of a row without one is the one
    :func:`~xkd.data.schema.assign_split` gives it, and rows whose language or split is not
    valid are kept, so that loading reports them. Memory is bounded by ``cap`` (times the
    languages) and the dev/test rows, not by the file.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.lowest: dict[str, np.ndarray] = {}
        self._kept: np.ndarray | None = None

    @staticmethod
    def _train_buckets(raw: pd.DataFrame) -> tuple[pd.Series, pd.Series, np.ndarray]:
        """``(language, train mask, bucket)`` of each row."""
        key = _key(raw)
        if "split" in raw:
            split = raw["split"].map(lambda v: normalise_split(clean_value(v)))
        else:
            split = key.map(assign_split)
        lang = (
            raw["language"].map(clean_value)
            if "language" in raw
            else pd.Series(None, index=raw.index, dtype=object)
        )
        train = (split == "train") & lang.notna()
        return lang, train, np.fromiter(map(bucket, key), dtype=np.uint64, count=len(key))

    def see(self, raw: pd.DataFrame) -> None:
        """Pass 1: one batch."""
        lang, train, buckets = self._train_buckets(raw)
        for name in lang[train].unique():
            mine = buckets[(train & (lang == name)).to_numpy()]
            merged = np.unique(np.concatenate([self.lowest.get(name, mine[:0]), mine]))
            self.lowest[name] = merged[: self.cap]

    def keep(self, raw: pd.DataFrame) -> pd.DataFrame:
        """Pass 2: the rows of one batch that the run keeps."""
        if self._kept is None:
            self._kept = np.unique(np.concatenate([np.empty(0, np.uint64), *self.lowest.values()]))
        _, train, buckets = self._train_buckets(raw)
        keep = ~train.to_numpy() | np.isin(buckets, self._kept)
        return raw[keep]


def capped_sources(
    sources: Sequence[Callable[[], Iterable[pd.DataFrame]]], cap: int | None
) -> list[pd.DataFrame]:
    """One raw frame per source (a function yielding its batches, called once per pass) with
    the rows that ``data.max_train_per_language = cap`` keeps over all the sources together
    (:class:`TrainCap`; every row when ``cap`` is None)."""
    kept = TrainCap(cap) if cap is not None else None
    if kept is not None:
        for source in sources:
            for batch in source():
                kept.see(batch)
    out = []
    for source in sources:
        parts = [kept.keep(b) if kept is not None else b for b in source()]
        if not parts:
            out.append(pd.DataFrame())
            continue
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        frame = frame.reset_index(drop=True)
        frame.attrs = dict(parts[0].attrs)
        out.append(frame)
    return out


def capped(batches: Callable[[], Iterable[pd.DataFrame]], cap: int | None) -> pd.DataFrame:
    """The raw rows of one source (see :func:`capped_sources`)."""
    return capped_sources([batches], cap)[0]
