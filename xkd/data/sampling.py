"""Which rows of a parallel corpus a run keeps, decided one batch at a time.

Every translation group has a 64-bit hash of its id (:func:`bucket`), the same on every machine.
The lowest hashes are held out and the lowest hashes train, so the choice is deterministic and
needs no second pass over the corpus.
"""

from __future__ import annotations

import hashlib

import pandas as pd

__all__ = ["TEST_SHARE", "Selector", "bucket"]

TEST_SHARE = 10  # percent of the groups of a raw corpus that are test candidates


def bucket(key: str) -> int:
    """The group's 64-bit hash (the first 8 bytes of the SHA-256 of its id)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")


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
