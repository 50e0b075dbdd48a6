"""Alignment health: how close a model's space is to language-neutral, on a fixed set of
held-out translation pairs (:class:`PairSet`), measured while the student trains.

Per target language, with ``s_i`` the embedding of a source sentence and ``t_i`` of its
translation:

- ``retrieval_s2t`` / ``retrieval_t2s``: bitext retrieval@1 in both directions
  (:func:`xkd.evaluate.metrics.retrieval_at_1`);
- ``pair_cosine``: ``mean_i cos(s_i, t_i)``;
- ``cka``: linear CKA (Kornblith et al., 2019, "Similarity of Neural Network Representations
  Revisited") between the model's embeddings of the translations and the teacher's embeddings
  of their source sentences, the targets of parallel KD:
  ``CKA(X, Y) = ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F)`` with column-centred
  ``X_c``, ``Y_c``; 1 means the same geometry up to rotation and scale.

Over all the set's sentences: ``language_id``, the cross-validated accuracy of a linear probe
(logistic regression on the top 64 principal components of the L2-normalised embeddings, 2
folds) that predicts each sentence's
language; lower is more language-neutral, and ``language_id_chance`` is the share of the most
common language.

Example::

    pairs = PairSet.from_frame(frame, source_language="en", targets=["de"])
    emb = student_embeddings(pairs.texts)          # one row per text, in order
    health(pairs, emb, reference=teacher_embeddings)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xkd.evaluate import metrics as M

__all__ = ["PairSet", "health", "language_id_accuracy", "linear_cka", "mixed_pool_retrieval"]


def linear_cka(x, y) -> float:
    """Linear CKA of two ``[N, D]`` and ``[N, E]`` matrices (rows aligned); ``nan`` for N < 2
    or a constant matrix."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]}")
    if x.shape[0] < 2:
        return float("nan")
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    cross = np.linalg.norm(yc.T @ xc) ** 2
    norm = np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)
    return float(cross / norm) if norm > 0 else float("nan")


_PROBE_DIMS = 64  # the language probe reads this many principal components


def language_id_accuracy(embeddings, languages, *, folds: int = 2, seed: int = 0) -> float:
    """Cross-validated accuracy of a logistic-regression language probe (stratified folds);
    ``nan`` with fewer than two languages or a language with fewer than ``folds`` rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    x = np.asarray(embeddings, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    if x.shape[1] > _PROBE_DIMS:  # the top principal components (no labels used): 3x faster
        x = x - x.mean(axis=0)
        x = x @ np.linalg.svd(x, full_matrices=False)[2][:_PROBE_DIMS].T
    y = np.asarray(languages)
    counts = pd.Series(y).value_counts()
    if len(counts) < 2 or counts.min() < folds:
        return float("nan")
    right = 0
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        probe = LogisticRegression(max_iter=300, C=1.0)
        probe.fit(x[train], y[train])
        right += int((probe.predict(x[test]) == y[test]).sum())
    return right / len(y)


def mixed_pool_retrieval(embeddings, pair_ids, languages, query_language: str) -> float:
    """Language bias (LAReQA-style, Roy et al. 2020): retrieval@1 of each ``query_language``
    sentence when the candidates are every other sentence of every language at once; a hit is
    a sentence of the same ``pair_id`` (its translation in any language). A space that clusters
    by language retrieves same-language sentences instead, so this falls below the
    per-language retrieval; ``nan`` without queries."""
    x = M.cosine_matrix(embeddings, embeddings)
    pairs, langs = np.asarray(pair_ids, dtype=object), np.asarray(languages)
    queries = np.flatnonzero(langs == query_language)
    if not len(queries):
        return float("nan")
    sims = x[queries]
    sims[np.arange(len(queries)), queries] = -np.inf  # never the query itself
    best = sims.argmax(axis=1)
    return float(np.mean(pairs[best] == pairs[queries]))


@dataclass
class PairSet:
    """Held-out translation pairs: ``pairs`` has ``pair_id``, ``language`` (the target's),
    ``source`` and ``target`` (indices into ``texts``); ``texts`` and ``text_languages``
    list every distinct sentence once (source sentences first)."""

    source_language: str
    pairs: pd.DataFrame
    texts: list[str]
    text_languages: list[str]

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        source_language: str,
        targets: list[str],
        split: str = "test",
        per_language: int = 100,
    ) -> PairSet:
        """The first ``per_language`` pairs (in the data's order) of each target language that
        share a ``pair_id`` with a source sentence in ``split``."""
        rows = frame[(frame["split"] == split) & frame["pair_id"].notna()]
        src = rows[rows["language"] == source_language].drop_duplicates("pair_id")
        src_text = dict(zip(src["pair_id"], src["text"]))
        picked = []
        for lang in targets:
            tgt = rows[(rows["language"] == lang) & rows["pair_id"].isin(src_text)]
            picked.append(tgt.drop_duplicates("pair_id").head(per_language).assign(language=lang))
        pairs = pd.concat(picked, ignore_index=True) if picked else pd.DataFrame()
        if pairs.empty:
            return cls(source_language, pd.DataFrame(columns=["pair_id", "language"]), [], [])
        sources = list(dict.fromkeys(src_text[p] for p in pairs["pair_id"]))
        index = {(source_language, t): i for i, t in enumerate(sources)}
        texts, langs = list(sources), [source_language] * len(sources)
        for lang, text in zip(pairs["language"], pairs["text"], strict=True):
            if (lang, text) not in index:
                index[(lang, text)] = len(texts)
                texts.append(text)
                langs.append(lang)
        out = pd.DataFrame(
            {
                "pair_id": pairs["pair_id"].tolist(),
                "language": pairs["language"].tolist(),
                "source": [index[(source_language, src_text[p])] for p in pairs["pair_id"]],
                "target": [index[(lg, t)] for lg, t in zip(pairs["language"], pairs["text"])],
            }
        )
        return cls(source_language, out, texts, langs)

    @property
    def languages(self) -> list[str]:
        return list(dict.fromkeys(self.pairs["language"]))

    def __len__(self) -> int:
        return len(self.pairs)


def _rounded(value: float) -> float | None:
    return None if value != value else round(float(value), 4)


def health(pairs: PairSet, embeddings, *, reference=None) -> dict:
    """The health of one model: ``{"languages": {lang: {...}}, "language_id",
    "language_id_chance"}``; ``embeddings`` has one row per ``pairs.texts``. ``reference`` (the
    teacher's embeddings of the same texts) gives ``cka``; without it ``cka`` is left out."""
    emb = np.asarray(embeddings, dtype=np.float64)
    ref = None if reference is None else np.asarray(reference, dtype=np.float64)
    out: dict = {}
    for lang, rows in pairs.pairs.groupby("language", sort=False):
        s, t = emb[rows["source"].to_numpy()], emb[rows["target"].to_numpy()]
        entry = {"n_pairs": len(rows)}
        if len(rows) >= 2:
            r = M.retrieval_at_1(s, t)
            entry |= {"retrieval_s2t": r["src_to_tgt"], "retrieval_t2s": r["tgt_to_src"]}
        entry["pair_cosine"] = M.pair_cosine(s, t)
        if ref is not None:
            entry["cka"] = linear_cka(t, ref[rows["source"].to_numpy()])
        out[str(lang)] = {k: v if k == "n_pairs" else _rounded(v) for k, v in entry.items()}
    langs = np.asarray(pairs.text_languages)
    shares = pd.Series(langs).value_counts(normalize=True)
    return {
        "languages": out,
        "language_id": _rounded(language_id_accuracy(emb, langs)) if len(langs) else None,
        "language_id_chance": _rounded(float(shares.max())) if len(langs) else None,
    }
