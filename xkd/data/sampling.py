"""Which rows of a parallel corpus or of task data a run keeps, decided one batch at a time.

Every translation group has a 64-bit hash of its id (:func:`bucket`), the same on every machine.
The lowest hashes are held out and the lowest hashes train, so the choice is deterministic and
needs no second pass over the corpus.
"""

from __future__ import annotations

import pandas as pd

from xkd.data.schema import assign_split, bucket, clean_value, normalise_split

__all__ = ["TEST_SHARE", "Selector", "TrainCap", "bucket", "lowest_rows"]

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
    """Keeps, over a stream of raw task-data batches, every row outside ``train`` and, per
    language, the training rows of the ``cap`` groups with the lowest hashes
    (:func:`lowest_rows`: what ``data.max_train_per_language`` keeps from data read whole).

    Rows are raw (:mod:`xkd.data.schema`): the split of a row without one is the one
    :func:`~xkd.data.schema.assign_split` gives it, and rows whose language or split is not
    valid are kept, so that loading reports them. Memory is bounded by ``cap`` and the
    dev/test rows, not by the file.
    """

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self.kept: list[pd.DataFrame] = []
        self.attrs: dict = {}

    def add(self, raw: pd.DataFrame) -> None:
        self.attrs = self.attrs or dict(raw.attrs)
        if self.cap is None:
            self.kept.append(raw)
            return
        key = _key(raw)
        if "split" in raw:
            split = raw["split"].map(lambda v: normalise_split(clean_value(v)))
        else:
            split = key.map(assign_split)
        raw = raw.assign(
            _lang=raw["language"].map(clean_value) if "language" in raw else None,
            _bucket=key.map(bucket),
        )
        raw["_train"] = (split == "train") & raw["_lang"].notna()
        frame = pd.concat([*self.kept, raw], ignore_index=True) if self.kept else raw
        train = frame[frame["_train"]]
        keep = pd.Series(False, index=frame.index)
        for _, rows in train.groupby("_lang"):
            lowest = set(pd.Series(rows["_bucket"].unique()).nsmallest(self.cap))
            keep[rows.index[rows["_bucket"].isin(lowest)]] = True
        self.kept = [frame[keep | ~frame["_train"]].reset_index(drop=True)]

    def frame(self) -> pd.DataFrame:
        """The kept rows, raw (without the helper columns)."""
        if not self.kept:
            return pd.DataFrame()
        frame = pd.concat(self.kept, ignore_index=True) if len(self.kept) > 1 else self.kept[0]
        frame = frame.drop(columns=[c for c in ("_lang", "_bucket", "_train") if c in frame])
        frame.attrs = dict(self.attrs)
        return frame
