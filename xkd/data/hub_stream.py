"""A Hugging Face dataset read in batches, never whole (``data.parallel_corpus: hf:<id>``).

:func:`stream_tables` opens the dataset with ``datasets.load_dataset(..., streaming=True)`` (an
``IterableDatasetDict``: only its file list is fetched up front) and yields its rows as pandas
tables of at most ``batch_rows`` rows, split after split in the dataset's order. The caller
(:mod:`xkd.data.parallel`) hands each table to the same selector that local files go through, so
memory is bounded by ``max_pairs_per_language``, not by the corpus. Failing to reach the Hub,
when the dataset is opened or while it streams, gives the usual
:func:`xkd.data.hub.hub_unreachable` message; any other failure while streaming names the split.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pandas as pd

from xkd.data.hub_load import _load, _short, _splits, hub_unreachable
from xkd.errors import DataError

__all__ = ["stream_tables"]

#: Words in the names of the errors (or of their causes) that mean the Hub could not be reached.
_NETWORK_WORDS = ("connect", "timeout", "http", "offline", "ssl", "proxy", "localentrynotfound")


def stream_tables(
    dataset_id: str, config: str | None, batch_rows: int
) -> Iterator[tuple[str, int, pd.DataFrame]]:
    """``(split, offset, table)`` for every batch of every split of ``hf:<dataset_id>``.

    ``offset`` is the number of rows of the split before the table. The dataset is opened now
    (so an unreachable Hub fails here); its rows are read only as the result is iterated.
    """
    dsd = _load(dataset_id, config, streaming=True)
    return _tables(dataset_id, dsd, batch_rows)


def _tables(dataset_id: str, dsd, batch_rows: int) -> Iterator[tuple[str, int, pd.DataFrame]]:
    for split, ds in _splits(dsd):
        offset = 0
        for table in _batches(dataset_id, split, ds, batch_rows):
            if len(table):
                yield split, offset, table
                offset += len(table)


def _batches(dataset_id: str, split: str, ds, batch_rows: int) -> Iterator[pd.DataFrame]:
    """The split's rows as tables: ``IterableDataset.iter`` (or ``Dataset.iter``, when
    ``load_dataset`` gave a map-style dataset) in the pandas format; a plain iterable of
    records (a stand-in) is batched here."""
    if hasattr(ds, "with_format") and hasattr(ds, "iter"):
        batches = iter(ds.with_format("pandas").iter(batch_size=batch_rows))
    else:
        rows = iter(ds)
        batches = iter(lambda: list(itertools.islice(rows, batch_rows)), [])
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except DataError:
            raise
        except Exception as e:
            raise _stream_error(dataset_id, split, e) from e
        yield batch if isinstance(batch, pd.DataFrame) else pd.DataFrame(batch)


def _stream_error(dataset_id: str, split: str, e: BaseException) -> DataError:
    cause: BaseException | None = e
    for _ in range(5):  # the error and what it was raised from
        if cause is None:
            break
        name = type(cause).__name__.lower()
        if isinstance(cause, ConnectionError | TimeoutError) or any(
            w in name for w in _NETWORK_WORDS
        ):
            return hub_unreachable(dataset_id, e)
        cause = cause.__cause__ or cause.__context__
    return DataError(
        f"could not be read while streaming it: {_short(e)}", file=f"hf:{dataset_id}/{split}"
    )
