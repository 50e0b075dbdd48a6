"""Turn a dataset into training examples ``(student_text, teacher_text, label)``.

One shape covers every recipe:

- source-language rows: the student and the teacher read the same text; the hard label is kept;
- parallel pairs (``data.parallel``): the student reads the translation, the teacher the source
  sentence (Reimers & Gurevych 2020); no target-language label is used;
- unlabelled target text (``data.unlabeled_targets``): the teacher labels the student's own text
  (soft labels only).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from xkd.config import DataConfig
from xkd.data.sampling import lowest_rows
from xkd.errors import DataError

NO_LABEL = -100


@dataclass
class Examples:
    student_texts: list[str]
    teacher_texts: list[str]
    labels: list[int]  # NO_LABEL where the row has no hard label
    languages: list[str]

    def __len__(self) -> int:
        return len(self.student_texts)

    @property
    def same_text(self) -> list[bool]:
        return [s == t for s, t in zip(self.student_texts, self.teacher_texts)]

    def extend(self, other: Examples) -> None:
        self.student_texts += other.student_texts
        self.teacher_texts += other.teacher_texts
        self.labels += other.labels
        self.languages += other.languages


def _cap(frame: pd.DataFrame, cap: int | None) -> pd.DataFrame:
    """``data.max_train_per_language``: the language's own ``cap`` groups (loading keeps the
    groups of every language, :class:`~xkd.data.sampling.TrainCap`)."""
    return lowest_rows(frame, cap)


def label_index(labels: list[str]) -> dict[str, int]:
    return {name: i for i, name in enumerate(labels)}


def source_examples(frame: pd.DataFrame, cfg: DataConfig, labels: list[str]) -> Examples:
    """Labelled source-language training rows (the no-KD baseline trains on these alone).

    Data without any label (an alignment-only run) gives its source-language training texts,
    unlabelled: the student learns the teacher's embeddings of them."""
    index = label_index(labels)
    rows = frame[(frame["language"] == cfg.source_language) & (frame["split"] == "train")]
    rows = _cap(rows, cfg.max_train_per_language)
    if not labels:
        texts = rows["text"].drop_duplicates().tolist()
        return Examples(
            texts, list(texts), [NO_LABEL] * len(texts), [cfg.source_language] * len(texts)
        )
    rows = rows[rows["label"].notna()]
    if rows.empty:
        raise DataError(
            f"no labelled training rows in the source language '{cfg.source_language}'",
            field="data.source_language",
        )
    texts = rows["text"].tolist()
    return Examples(
        texts, list(texts), [index[x] for x in rows["label"]], [cfg.source_language] * len(texts)
    )


def parallel_examples(frame: pd.DataFrame, cfg: DataConfig, targets: list[str]) -> Examples:
    """(translation -> source) rows for every target language, joined on ``pair_id``; at most
    ``data.max_pairs_per_language`` pairs per language (the lowest hashes: a smaller budget's
    pairs are among a larger one's)."""
    train = frame[(frame["split"] == "train") & frame["pair_id"].notna()]
    src = train[train["language"] == cfg.source_language].drop_duplicates("pair_id")
    src = src.set_index("pair_id")["text"]
    out = Examples([], [], [], [])
    for lang in targets:
        tgt = _cap(train[train["language"] == lang], cfg.max_train_per_language)
        tgt = tgt[tgt["pair_id"].isin(src.index)]  # a kept group without a source: no pair
        tgt = _cap(tgt, cfg.max_pairs_per_language)  # nested: a smaller budget is a subset
        out.extend(
            Examples(
                tgt["text"].tolist(),
                src.loc[tgt["pair_id"]].tolist(),
                [NO_LABEL] * len(tgt),
                [lang] * len(tgt),
            )
        )
    return out


def unlabeled_examples(frame: pd.DataFrame, cfg: DataConfig, targets: list[str]) -> Examples:
    """Target-language training texts read by both models; the teacher's output is the only label."""
    out = Examples([], [], [], [])
    for lang in targets:
        rows = frame[(frame["language"] == lang) & (frame["split"] == "train")]
        rows = _cap(rows, cfg.max_train_per_language)
        texts = rows["text"].tolist()
        out.extend(Examples(texts, list(texts), [NO_LABEL] * len(texts), [lang] * len(texts)))
    return out


def kd_examples(
    frame: pd.DataFrame,
    cfg: DataConfig,
    labels: list[str],
    targets: list[str],
    *,
    pairs_frame: pd.DataFrame | None = None,
) -> Examples:
    """All KD training rows of a recipe: source rows + parallel pairs + unlabelled targets.

    The parallel pairs come from ``pairs_frame`` (a parallel corpus,
    :mod:`xkd.data.parallel`) when given, else from the task data's own pair ids."""
    out = source_examples(frame, cfg, labels)
    if cfg.parallel and targets:
        pairs = parallel_examples(frame if pairs_frame is None else pairs_frame, cfg, targets)
        if len(pairs) == 0 and pairs_frame is not None:
            raise DataError(
                f"data.parallel_corpus has no training pair between the source language "
                f"'{cfg.source_language}' and the target languages ({', '.join(targets)})",
                field="data.parallel_corpus",
            )
        if len(pairs) == 0:
            raise DataError(
                "data.parallel is true but no target-language training row shares a pair_id with "
                f"the source language '{cfg.source_language}'; set data.parallel=false, add pair "
                "ids, or give a parallel corpus (data.parallel_corpus)",
                field="pair_id",
            )
        out.extend(pairs)
    if cfg.unlabeled_targets and targets:
        out.extend(unlabeled_examples(frame, cfg, targets))
    return out


def resolve_targets(data: DataConfig, languages: list[str]) -> list[str]:
    """The target languages of a run: ``data.target_languages``, or every language of the data
    except the source; refuses languages the data does not have."""
    src = data.source_language
    if src not in languages:
        raise DataError(
            f"source language '{src}' is not in the data; languages found: {', '.join(languages)}",
            field="data.source_language",
        )
    targets = data.target_languages or [lang for lang in languages if lang != src]
    missing = [t for t in targets if t not in languages]
    if missing:
        raise DataError(
            f"target language(s) {', '.join(missing)} not in the data; languages found: "
            f"{', '.join(languages)}",
            field="data.target_languages",
        )
    return targets


def dev_examples(
    frame: pd.DataFrame, labels: list[str], languages: list[str]
) -> dict[str, Examples]:
    """Labelled ``dev`` rows per language (dev accuracy during training, teacher head fitting)."""
    index = label_index(labels)
    out = {}
    for lang in languages:
        rows = frame[
            (frame["language"] == lang) & (frame["split"] == "dev") & frame["label"].notna()
        ]
        if len(rows):
            texts = rows["text"].tolist()
            out[lang] = Examples(
                texts, list(texts), [index[x] for x in rows["label"]], [lang] * len(texts)
            )
    return out


def eval_texts(frame: pd.DataFrame, languages: list[str]) -> list[str]:
    """Texts of the ``dev`` and ``test`` rows of ``languages`` (what evaluation reads)."""
    rows = frame[frame["split"].isin(["dev", "test"]) & frame["language"].isin(languages)]
    return rows["text"].tolist()
