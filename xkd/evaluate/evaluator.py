"""Evaluate a run: per-language accuracy, agreement, calibration, alignment, size and speed.

Teacher outputs come from the run's :class:`~xkd.train.cache.TeacherCache` (the teacher's encoder
never runs twice on a text); the student and the baseline are run here once per eval text.
Returns the ``eval.json`` dictionary plus the frames behind ``embeddings.parquet`` and
``predictions.parquet``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xkd.evaluate import metrics as M
from xkd.evaluate.headline import Headline
from xkd.evaluate.intervals import add_intervals, prediction_intervals


@dataclass
class EvalResult:
    summary: dict
    embeddings: pd.DataFrame
    predictions: pd.DataFrame


def model_outputs(
    model, texts: list[str], max_length: int, batch_size: int = 64
) -> tuple[np.ndarray | None, np.ndarray]:
    """(logits, sentence embeddings) of ``model`` on ``texts`` (:meth:`XKDModel.infer`, then
    :meth:`XKDModel.sentence_embedding`), in input order; logits None for a model without a
    head (an alignment-only run)."""
    outputs = ("logits", "pooled") if model.has_head else ("pooled",)
    result = model.infer(texts, max_length=max_length, batch_size=batch_size, outputs=outputs)
    logits = result.logits.numpy() if result.logits is not None else None
    return logits, model.sentence_embedding(result.pooled).numpy()


def throughput(
    model, texts: list[str], max_length: int, batch_size: int = 64, repeats: int = 1
) -> float:
    """Inference sentences per second of :meth:`XKDModel.infer` (pooled vectors) on the CPU
    thread budget in use."""
    texts = texts[: max(batch_size * 4, 1)]
    if not texts:
        return float("nan")

    def run(sample: list[str]) -> None:
        model.infer(sample, max_length=max_length, batch_size=batch_size, outputs=("pooled",))

    run(texts[:batch_size])  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        run(texts)
    return len(texts) * repeats / (time.perf_counter() - start)


def _model_scores(logits: np.ndarray, y: np.ndarray, n_labels: int) -> dict:
    pred = logits.argmax(axis=1)
    probs = M.softmax(logits)
    return {
        "accuracy": M.accuracy(y, pred),
        "macro_f1": M.macro_f1(y, pred, labels=list(range(n_labels))),
        "ece": M.expected_calibration_error(probs, y),
    }


def evaluate(
    *,
    frame: pd.DataFrame,
    labels: list[str],
    source_language: str,
    target_languages: list[str],
    teacher,
    cache,
    student,
    baseline=None,
    max_length: int = 64,
    split: str = "test",
    sizes: dict | None = None,
    measure_speed: bool = True,
    parallel_pairs: dict[str, int] | None = None,
) -> EvalResult:
    """Evaluate teacher, student (and baseline) on ``split`` rows of every language;
    ``parallel_pairs`` (training pairs per target language) feeds the transfer-gap
    attribution."""
    languages = [source_language] + [t for t in target_languages if t != source_language]
    rows = frame[(frame["split"] == split) & frame["language"].isin(languages)].reset_index(
        drop=True
    )
    rows = rows[rows["label"].notna() | rows["pair_id"].notna()].reset_index(drop=True)
    texts = rows["text"].tolist()
    cache.ensure(texts)
    ids = cache.ids(texts)
    t_logits = cache.logits[ids].numpy() if cache.logits is not None else None
    t_pooled = teacher.sentence_embedding(cache.pooled[ids]).numpy()
    models = {"student": student} | ({"baseline": baseline} if baseline is not None else {})
    outs = {name: model_outputs(m, texts, max_length) for name, m in models.items()}
    index = {name: i for i, name in enumerate(labels)}
    y_all = np.array([index.get(x, -1) if isinstance(x, str) else -1 for x in rows["label"]])

    per_lang: dict = {}
    for lang in languages:
        mask = (rows["language"] == lang).to_numpy() & (y_all >= 0)
        if not mask.any():
            continue
        y = y_all[mask]
        entry: dict = {"n": int(mask.sum()), "prior": M.majority_prior(y)}
        if t_logits is not None:
            entry["teacher"] = _model_scores(t_logits[mask], y, len(labels))
        for name, (lg, _) in outs.items():
            entry[name] = _model_scores(lg[mask], y, len(labels))
        if t_logits is not None:
            entry["agreement"] = M.agreement(t_logits[mask], outs["student"][0][mask])
            entry["kl"] = M.mean_kl(t_logits[mask], outs["student"][0][mask])
        per_lang[lang] = entry

    preds = _predictions(rows, t_logits, outs)
    intervals = prediction_intervals(preds, labels=labels, source_language=source_language)
    add_intervals(per_lang, intervals)
    pooled = {"teacher": t_pooled} | {n: o[1] for n, o in outs.items()}
    retrieval, pair_cos = _alignment(rows, source_language, languages[1:], pooled)
    summary = {
        "split": split,
        "source_language": source_language,
        "target_languages": languages[1:],
        "labels": labels,
        "languages": per_lang,
        "retrieval": retrieval,
        "pair_cosine": pair_cos,
        "language_bias": _language_bias(rows, retrieval, pooled),
        "attribution": _attribution(
            rows, y_all, source_language, per_lang, outs, t_logits, student, parallel_pairs
        ),
        "agreement": {k: v["agreement"] for k, v in per_lang.items() if "agreement" in v},
        "kl": {k: v["kl"] for k, v in per_lang.items() if "kl" in v},
        "headline": Headline.compute(
            per_lang, source_language, gain=intervals["kd_gain"]
        ).to_dict(),
        "sizes": sizes or {},
    }
    if measure_speed:
        sample = texts[:256]
        speed = {
            "teacher": throughput(teacher, sample, max_length),
            "student": throughput(student, sample, max_length),
        }
        speed["student_vs_teacher"] = speed["student"] / speed["teacher"]
        summary["throughput"] = speed

    emb_frames = [_embedding_frame(rows, "teacher", t_pooled)]
    emb_frames += [_embedding_frame(rows, name, o[1]) for name, o in outs.items()]
    return EvalResult(summary, pd.concat(emb_frames, ignore_index=True), preds)


def _predictions(rows: pd.DataFrame, t_logits, outs: dict) -> pd.DataFrame:
    preds = rows[["text", "label", "language", "split", "pair_id"]].copy()
    if t_logits is not None:
        preds["teacher_logits"] = list(t_logits.astype(np.float32))
    for name, (lg, _) in outs.items():
        if lg is not None:
            preds[f"{name}_logits"] = list(lg.astype(np.float32))
    return preds


def _embedding_frame(rows: pd.DataFrame, model: str, vectors: np.ndarray) -> pd.DataFrame:
    out = rows[["text", "language", "label", "pair_id"]].copy()
    out["model"] = model
    out["vector"] = list(vectors.astype(np.float32))
    return out


def _attribution(rows, y, source, per_lang, outs, t_logits, student, parallel_pairs) -> dict:
    """Transfer-gap attribution (:mod:`xkd.evaluate.attribution`); empty without labels."""
    from xkd.evaluate.attribution import attribution

    if t_logits is None or outs["student"][0] is None:
        return {}
    preds = {"teacher": t_logits.argmax(1)} | {n: o[0].argmax(1) for n, o in outs.items()}
    return attribution(
        rows=rows,
        y=y,
        source_language=source,
        per_language=per_lang,
        predictions=preds,
        tokenizer=student.tokenizer,
        parallel_pairs=parallel_pairs or {},
    )


def _language_bias(rows: pd.DataFrame, retrieval: dict, pooled: dict) -> dict:
    """Per target language and model: retrieval@1 of its sentences among the paired test
    sentences of every language at once (``mixed``, :func:`~xkd.evaluate.health.
    mixed_pool_retrieval`), the per-language tgt→src retrieval (``own``) and ``drop`` = own -
    mixed: a language-neutral space loses little."""
    from xkd.evaluate.health import mixed_pool_retrieval

    pool = rows[rows["pair_id"].notna()].drop_duplicates(["pair_id", "language"])
    idx, pairs, langs = pool.index.to_numpy(), pool["pair_id"], pool["language"]
    out: dict = {}
    for lang, entry in retrieval.items():
        out[lang] = {}
        for name, emb in pooled.items():
            mixed = mixed_pool_retrieval(emb[idx], pairs, langs, lang)
            own = entry[name]["tgt_to_src"]
            out[lang][name] = {"mixed": mixed, "own": own, "drop": own - mixed}
    return out


def _alignment(rows, source, targets, pooled) -> tuple[dict, dict]:
    retrieval: dict = {}
    pair_cos: dict = {}
    src = rows[(rows["language"] == source) & rows["pair_id"].notna()].drop_duplicates("pair_id")
    src_pos = dict(zip(src["pair_id"], src.index))
    models = pooled
    for lang in targets:
        tgt = rows[(rows["language"] == lang) & rows["pair_id"].isin(src_pos)].drop_duplicates(
            "pair_id"
        )
        if len(tgt) < 2:
            continue
        s_idx = np.array([src_pos[p] for p in tgt["pair_id"]])
        t_idx = tgt.index.to_numpy()
        retrieval[lang] = {"n_pairs": len(tgt)}
        pair_cos[lang] = {}
        for name, emb in models.items():
            retrieval[lang][name] = M.retrieval_at_1(emb[s_idx], emb[t_idx])
            pair_cos[lang][name] = M.pair_cosine(emb[s_idx], emb[t_idx])
    return retrieval, pair_cos
