"""Loading ``hf:<dataset id>`` task data: ``datasets.load_dataset`` (a memory-mapped Arrow
table per split, on disk), each split mapped by :mod:`xkd.data.hub` a batch at a time, and every
failure to reach the Hub turned into a ``DataError`` that says what to use instead."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import pandas as pd

from xkd.data.hub import (
    DEFAULT_LANGUAGES,
    SUPPORTED,
    canonical_id,
    map_generic,
    map_massive,
    map_sib200,
    map_tatoeba,
    map_xnli,
)
from xkd.errors import DataError


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def hub_unreachable(dataset_id: str, e: BaseException) -> DataError:
    return DataError(
        f"hf:{dataset_id} needs the Hugging Face Hub, which cannot be reached: {_short(e)}. "
        "Use a local folder or file (see docs/data.md) or `demo`."
    )


def _load(dataset_id: str, config: str | None = None, parquet_dir: str | None = None, **kwargs):
    """``datasets.load_dataset`` with Hub failures turned into ``DataError``.

    Script-based datasets (MASSIVE, Tatoeba, ...) are not loadable by recent ``datasets``;
    for them the Hub's Parquet export (``refs/convert/parquet``) is tried, with ``streaming``
    passed on (``streaming=True``: an ``IterableDataset(Dict)``, rows read as iterated).
    """
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a dependency
        raise DataError(
            f"hf:{dataset_id} needs the `datasets` package: pip install datasets"
        ) from None
    args = (dataset_id, config) if config is not None else (dataset_id,)
    try:
        return datasets.load_dataset(*args, **kwargs)
    except Exception as e:
        if isinstance(e, RuntimeError) and "scripts are no longer supported" in str(e):
            stream = {k: v for k, v in kwargs.items() if k == "streaming"}
            try:
                return datasets.load_dataset(
                    dataset_id,
                    revision="refs/convert/parquet",
                    data_dir=parquet_dir or config,
                    **stream,
                )
            except Exception as e2:
                raise _classify(dataset_id, config, e2) from e2
        raise _classify(dataset_id, config, e) from e


def _classify(dataset_id: str, config: str | None, e: Exception) -> DataError:
    name = type(e).__name__
    message = str(e)
    if name == "DatasetNotFoundError" and "Couldn't reach" not in message:
        return DataError(
            f"hf:{dataset_id} was not found on the Hugging Face Hub (or needs a login): "
            f"{_short(e)}. Datasets xkd knows: {', '.join(SUPPORTED)}."
        )
    if isinstance(e, ValueError) and config is not None and "config" in message.lower():
        return DataError(
            f"hf:{dataset_id} has no configuration '{config}': {_short(e)}",
            field="language",
        )
    return hub_unreachable(dataset_id, e)


#: rows of a Hub split mapped at a time (a Dataset is a memory-mapped Arrow table on disk)
BATCH_ROWS = 50_000


def _with_location(frame: pd.DataFrame, where: str, start: int = 0) -> pd.DataFrame:
    frame["_file"] = where
    frame["_row"] = range(start + 1, start + len(frame) + 1)
    return frame


def _splits(dsd) -> list[tuple[str, object]]:
    if hasattr(dsd, "items"):
        return list(dsd.items())
    return [("train", dsd)]


def _batches(ds) -> Iterable[tuple[int, object]]:
    """``(start, rows)``: a split :data:`BATCH_ROWS` rows at a time (a ``datasets.Dataset``
    slice keeps its features, so ClassLabel names stay known)."""
    n = len(ds)
    if not hasattr(ds, "select") or n <= BATCH_ROWS:
        yield 0, ds
        return
    for start in range(0, n, BATCH_ROWS):
        yield start, ds.select(range(start, min(start + BATCH_ROWS, n)))


def _source(ds, where: str, mapper) -> Callable[[], Iterable[pd.DataFrame]]:
    """A function yielding the raw frames of one split, mapped by ``mapper(rows, start)``."""
    return lambda: (
        _with_location(mapper(rows, start), where, start) for start, rows in _batches(ds)
    )


def _tatoeba_sources(ds_id: str, languages: Sequence[str] | None) -> list:
    if not languages or len(languages) != 2:
        raise DataError(
            "hf:tatoeba pairs exactly two languages: pass languages=[source, target], "
            "e.g. ['en', 'de'].",
            field="language",
        )
    src, tgt = languages
    dsd = _load(ds_id, parquet_dir=f"{src}-{tgt}", lang1=src, lang2=tgt)
    return [
        _source(ds, f"hf:{ds_id}/{split}", lambda rows, _: map_tatoeba(rows, src, tgt))
        for split, ds in _splits(dsd)
    ]


def _known_mapper(ds_id: str, config: str, split: str):
    if ds_id == "Davlan/sib200":
        return lambda rows, _: map_sib200(rows, config, split)
    if ds_id == "AmazonScience/massive":
        return lambda rows, _: map_massive(rows, split)
    return lambda rows, start: map_xnli(rows, config, split, offset=start)


def load_hub(
    dataset_id: str,
    *,
    columns: Mapping[str, str] | None = None,
    languages: Sequence[str] | None = None,
    cap: int | None = None,
) -> pd.DataFrame:
    """Load ``hf:<dataset_id>`` into a raw frame; ``languages`` selects configs. Each split is
    mapped :data:`BATCH_ROWS` rows at a time through ``data.max_train_per_language = cap``
    (:func:`~xkd.data.sampling.capped_sources`), so memory follows what the run keeps."""
    from xkd.data.sampling import capped_sources

    ds_id = canonical_id(dataset_id)
    if ds_id == "Helsinki-NLP/tatoeba":
        sources = _tatoeba_sources(ds_id, languages)
    elif ds_id in DEFAULT_LANGUAGES:
        sources = []
        for config in list(languages or DEFAULT_LANGUAGES[ds_id]):
            for split, ds in _splits(_load(ds_id, config)):
                mapper = _known_mapper(ds_id, config, split)
                sources.append(_source(ds, f"hf:{ds_id}/{config}/{split}", mapper))
    else:  # generic: one config per language when languages are given, else the default
        sources = []
        for config in languages or [None]:
            for split, ds in _splits(_load(ds_id, config)):

                def mapper(rows, _, split=split, config=config):
                    return map_generic(rows, split, language=config, columns=columns, dataset=ds_id)

                sources.append(_source(ds, f"hf:{ds_id}/{config or 'default'}/{split}", mapper))
    return pd.concat(capped_sources(sources, cap), ignore_index=True)
