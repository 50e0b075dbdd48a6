"""The run's data: the task dataset and, when ``data.parallel_corpus`` is set, the parallel
corpus the KD pairs come from. The corpus's held-out pairs join the task rows that evaluation
reads (retrieval@1 per language), unless the corpus is the task data itself. Without task data
(``data.path`` empty) the corpus is the dataset, with no labels: an alignment-only run."""

from __future__ import annotations

import pandas as pd

from xkd.config import RunConfig
from xkd.data import TextDataset, load_data

__all__ = ["load_run_data"]


def _task(data) -> TextDataset:
    return load_data(
        data.path,
        columns=data.columns or None,
        max_train_per_language=data.max_train_per_language,
    )


def load_run_data(cfg: RunConfig) -> tuple[TextDataset, pd.DataFrame | None]:
    """``(dataset, pairs_frame)``: ``pairs_frame`` is the corpus's rows, or None (the task's
    own pair ids)."""
    from xkd.data.parallel import load_parallel
    from xkd.data.schema import COLUMNS

    data = cfg.data
    if not data.parallel_corpus:
        return _task(data), None
    corpus = load_parallel(
        data.parallel_corpus,
        source_language=data.source_language,
        max_pairs_per_language=data.max_pairs_per_language,
    )
    if not str(data.path).strip():  # alignment-only: the corpus is all the data there is
        return TextDataset(corpus.frame[list(COLUMNS)], [], corpus.name), corpus.frame
    dataset = _task(data)
    if data.parallel_corpus.strip() == str(data.path).strip():
        return dataset, corpus.frame  # the task's rows are already there
    held = corpus.frame[corpus.frame["split"] == "test"]
    frame = pd.concat([dataset.frame, held[list(dataset.frame.columns)]], ignore_index=True)
    return TextDataset(frame, dataset.labels, dataset.name), corpus.frame
