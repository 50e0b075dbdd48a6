"""Tables and frames the app's pages draw, computed from a run's files.

Inputs are what the run folder holds: the ``eval.json`` dict, ``predictions.parquet`` and
``embeddings.parquet`` frames, ``config.yaml`` dicts and ``metrics.jsonl`` frames. Every function
accepts missing parts (``None``, empty frames, a model missing from eval.json) and returns an
empty frame rather than raising, so a page works on a run that is still going.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xkd.evaluate import metrics as M

MODELS = ("teacher", "student", "baseline")
#: Colours per model, shared by every chart (distinct in light and dark themes).
MODEL_COLORS = {"teacher": "#7c5cff", "student": "#16a085", "baseline": "#e67e22"}

HEATMAP_METRICS = {
    "student accuracy": "student accuracy on the test split",
    "baseline accuracy": "no-KD baseline accuracy",
    "teacher accuracy": "teacher accuracy",
    "% of teacher kept": "student accuracy / teacher accuracy × 100",
    "KD gain (points)": "(student − baseline accuracy) × 100",
}


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return out


def _get(mapping: Any, *keys: str) -> Any:
    cur = mapping
    for key in keys:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    return cur


def _ratio(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b) or b == 0:
        return float("nan")
    return a / b


# ------------------------------------------------------------------------------- accuracy


ACCURACY_COLUMNS = [
    "language",
    "role",
    "n",
    "prior",
    "teacher",
    "student",
    "baseline",
    "% of teacher kept",
    "baseline % of teacher",
    "KD gain (points)",
    "teacher macro-F1",
    "student macro-F1",
    "baseline macro-F1",
    "teacher ECE",
    "student ECE",
    "baseline ECE",
    "agreement",
    "KL(teacher‖student)",
]


def accuracy_table(result: dict | None) -> pd.DataFrame:
    """One row per language: n, prior, accuracy per model, % of teacher kept, F1, ECE, agreement.

    ``% of teacher kept`` is ``100 * student / teacher`` accuracy; ``KD gain`` is
    ``100 * (student - baseline)``. The source language comes first.
    """
    languages = _get(result, "languages")
    if not isinstance(languages, dict) or not languages:
        return pd.DataFrame(columns=ACCURACY_COLUMNS)
    source = _get(result, "source_language")
    rows = []
    for lang, entry in languages.items():
        acc = {m: _num(_get(entry, m, "accuracy")) for m in MODELS}
        f1 = {m: _num(_get(entry, m, "macro_f1")) for m in MODELS}
        ece = {m: _num(_get(entry, m, "ece")) for m in MODELS}
        rows.append(
            {
                "language": lang,
                "role": "source" if lang == source else "target",
                "n": int(_num(_get(entry, "n"))) if not math.isnan(_num(_get(entry, "n"))) else 0,
                "prior": _num(_get(entry, "prior")),
                **{m: acc[m] for m in MODELS},
                "% of teacher kept": 100 * _ratio(acc["student"], acc["teacher"]),
                "baseline % of teacher": 100 * _ratio(acc["baseline"], acc["teacher"]),
                "KD gain (points)": 100 * (acc["student"] - acc["baseline"]),
                **{f"{m} macro-F1": f1[m] for m in MODELS},
                **{f"{m} ECE": ece[m] for m in MODELS},
                "agreement": _num(_get(entry, "agreement")),
                "KL(teacher‖student)": _num(_get(entry, "kl")),
            }
        )
    frame = pd.DataFrame(rows, columns=ACCURACY_COLUMNS)
    frame["_order"] = (frame["role"] != "source").astype(int)
    frame = frame.sort_values(["_order", "language"], kind="stable").drop(columns="_order")
    return frame.reset_index(drop=True)


def accuracy_long(result: dict | None) -> pd.DataFrame:
    """``language, model, accuracy`` for grouped bars (models missing from eval.json left out)."""
    table = accuracy_table(result)
    if table.empty:
        return pd.DataFrame(columns=["language", "model", "accuracy", "prior"])
    long = table.melt(
        id_vars=["language", "prior"], value_vars=list(MODELS), var_name="model"
    ).rename(columns={"value": "accuracy"})
    return long.dropna(subset=["accuracy"]).reset_index(drop=True)[
        ["language", "model", "accuracy", "prior"]
    ]


def headline(result: dict | None) -> dict[str, float]:
    """The eval summary's headline numbers (student/baseline target accuracy, KD gain, ...)."""
    summary = _get(result, "summary")
    if not isinstance(summary, dict):
        return {}
    return {k: _num(v) for k, v in summary.items() if not isinstance(v, (dict, list))}


def heatmap_frame(results: dict[str, dict | None], metric: str = "student accuracy"):
    """Runs × languages matrix of ``metric`` (one of :data:`HEATMAP_METRICS`).

    ``results`` maps run id -> eval.json dict (runs without one are left out). Accuracies are
    in [0, 1]; ``% of teacher kept`` and ``KD gain (points)`` are percentages.
    """
    if metric not in HEATMAP_METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(HEATMAP_METRICS)}")
    rows: dict[str, dict[str, float]] = {}
    for run_id, result in results.items():
        table = accuracy_table(result)
        if table.empty:
            continue
        if metric.endswith("accuracy"):
            col = metric.split()[0]
        elif metric == "% of teacher kept":
            col = "% of teacher kept"
        else:
            col = "KD gain (points)"
        rows[run_id] = dict(zip(table["language"], table[col]))
    frame = pd.DataFrame.from_dict(rows, orient="index")
    if frame.empty:
        return frame
    frame.index.name = "run"
    return frame[sorted(frame.columns)]


# --------------------------------------------------------------------------- distributions


def _logit_matrix(series: pd.Series) -> np.ndarray:
    return np.stack([np.asarray(v, dtype=np.float64) for v in series.to_list()])


def prediction_table(predictions: pd.DataFrame | None, labels: Sequence[str], temperature=1.0):
    """Per-example predictions of teacher and student (and baseline) at temperature ``T``.

    Columns: ``row`` (position in predictions.parquet), ``text``, ``language``, ``label``,
    ``<model>_pred``, ``<model>_conf`` (max softened probability), ``<model>_correct``,
    ``agree`` (teacher and student argmax equal) and ``kl`` = KL(p_t ‖ p_s) at ``T``
    (nats, no T² factor; see :func:`xkd.evaluate.metrics.mean_kl`).
    """
    cols = ["row", "text", "language", "label", "agree", "kl"]
    if predictions is None or predictions.empty or "teacher_logits" not in predictions:
        return pd.DataFrame(columns=cols)
    labels = list(labels)
    out = predictions[["text", "language", "label"]].copy()
    out.insert(0, "row", np.arange(len(predictions)))
    probs = {}
    for model in MODELS:
        col = f"{model}_logits"
        if col not in predictions:
            continue
        logits = _logit_matrix(predictions[col])
        p = M.softmax(logits, temperature)
        probs[model] = p
        pred = p.argmax(axis=1)
        names = [labels[i] if i < len(labels) else str(i) for i in pred]
        out[f"{model}_pred"] = names
        out[f"{model}_conf"] = p.max(axis=1)
        out[f"{model}_correct"] = [
            (lab is not None and lab == name) for lab, name in zip(out["label"], names)
        ]
    if "student" in probs:
        t_log = M.log_softmax(_logit_matrix(predictions["teacher_logits"]), temperature)
        s_log = M.log_softmax(_logit_matrix(predictions["student_logits"]), temperature)
        out["kl"] = np.maximum(np.sum(np.exp(t_log) * (t_log - s_log), axis=1), 0.0)
        out["agree"] = probs["teacher"].argmax(axis=1) == probs["student"].argmax(axis=1)
    else:
        out["kl"] = np.nan
        out["agree"] = np.nan
    return out.reset_index(drop=True)


def filter_predictions(
    table: pd.DataFrame,
    *,
    languages: Iterable[str] | None = None,
    correctness: str = "all",
    agreement: str = "all",
    text: str = "",
) -> pd.DataFrame:
    """Rows of a :func:`prediction_table` matching the filters.

    ``correctness``: ``all`` | ``student correct`` | ``student wrong`` | ``teacher wrong``;
    ``agreement``: ``all`` | ``agree`` | ``disagree``; ``text``: case-insensitive substring.
    """
    if table.empty:
        return table
    mask = pd.Series(True, index=table.index)
    langs = list(languages) if languages is not None else []
    if langs:
        mask &= table["language"].isin(langs)
    if correctness != "all":
        col = "teacher_correct" if correctness.startswith("teacher") else "student_correct"
        if col in table:
            want = correctness.endswith("correct")
            mask &= table[col].astype(bool) == want
    if agreement != "all" and "agree" in table:
        mask &= table["agree"].astype(bool) == (agreement == "agree")
    if text:
        mask &= table["text"].astype(str).str.contains(text, case=False, regex=False)
    return table[mask].reset_index(drop=True)


def example_bars(predictions: pd.DataFrame, row: int, labels: Sequence[str], temperature=1.0):
    """Mirrored bars of one example: ``label, model, probability, signed`` (teacher negative).

    ``signed`` is ``-p`` for the teacher and ``+p`` for the student so both can share one
    horizontal axis, teacher to the left and student to the right.
    """
    record = predictions.iloc[int(row)]
    rows = []
    for model, sign in (("teacher", -1.0), ("student", 1.0)):
        col = f"{model}_logits"
        if col not in predictions:
            continue
        p = M.softmax(np.asarray(record[col], dtype=np.float64), temperature)
        for i, prob in enumerate(p):
            name = labels[i] if i < len(labels) else str(i)
            rows.append({"label": name, "model": model, "probability": prob, "signed": sign * prob})
    return pd.DataFrame(rows, columns=["label", "model", "probability", "signed"])


def example_kl(predictions: pd.DataFrame, row: int, temperature=1.0) -> float:
    """KL(p_t ‖ p_s) of one example at temperature ``T`` (nats)."""
    record = predictions.iloc[int(row)]
    t = np.asarray(record["teacher_logits"], dtype=np.float64)[None, :]
    s = np.asarray(record["student_logits"], dtype=np.float64)[None, :]
    return M.mean_kl(t, s, temperature)


def confidence_frame(predictions, labels, temperature=1.0) -> pd.DataFrame:
    """``model, confidence, correct, language`` per example and model (for histograms)."""
    table = prediction_table(predictions, labels, temperature)
    frames = []
    for model in MODELS:
        if f"{model}_conf" not in table:
            continue
        frames.append(
            pd.DataFrame(
                {
                    "model": model,
                    "confidence": table[f"{model}_conf"].astype(float),
                    "correct": table[f"{model}_correct"].astype(bool),
                    "language": table["language"],
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=["model", "confidence", "correct", "language"])
    return pd.concat(frames, ignore_index=True)


def reliability_frame(
    predictions, labels, *, n_bins: int = 10, languages=None, temperature: float = 1.0
) -> pd.DataFrame:
    """Reliability diagram data per model: ``model, bin, confidence, accuracy, count``.

    Probabilities are ``softmax(logits / T)``; only labelled rows count; bins as in
    :func:`xkd.evaluate.metrics.reliability_curve`.
    """
    cols = ["model", "bin", "confidence", "accuracy", "count"]
    if predictions is None or predictions.empty:
        return pd.DataFrame(columns=cols)
    index = {name: i for i, name in enumerate(labels)}
    preds = predictions
    if languages:
        preds = preds[preds["language"].isin(list(languages))]
    y = np.array([index.get(v, -1) if isinstance(v, str) else -1 for v in preds["label"]])
    keep = y >= 0
    if not keep.any():
        return pd.DataFrame(columns=cols)
    frames = []
    for model in MODELS:
        col = f"{model}_logits"
        if col not in preds:
            continue
        probs = M.softmax(_logit_matrix(preds[col])[keep], temperature)
        curve = M.reliability_curve(probs, y[keep], n_bins=n_bins)
        curve.insert(0, "model", model)
        frames.append(curve)
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)


def agreement_frame(predictions, labels, temperature=1.0) -> pd.DataFrame:
    """Per language: ``n``, teacher-student ``agreement``, mean ``KL`` at T, accuracies."""
    cols = ["language", "n", "agreement", "mean KL", "teacher accuracy", "student accuracy"]
    table = prediction_table(predictions, labels, temperature)
    if table.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for lang, part in table.groupby("language", sort=True):
        labelled = part[part["label"].notna()]
        rows.append(
            {
                "language": lang,
                "n": len(part),
                "agreement": float(part["agree"].astype(float).mean()),
                "mean KL": float(part["kl"].astype(float).mean()),
                "teacher accuracy": float(labelled["teacher_correct"].mean())
                if len(labelled)
                else float("nan"),
                "student accuracy": float(labelled["student_correct"].mean())
                if len(labelled) and "student_correct" in labelled
                else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=cols)


# ------------------------------------------------------------------------------- alignment


ALIGNMENT_COLUMNS = ["language", "n_pairs", "model", "src→tgt @1", "tgt→src @1", "pair cosine"]


def alignment_table(result: dict | None, embeddings: pd.DataFrame | None = None, source=None):
    """Retrieval@1 both ways and mean pair cosine per target language and model.

    Read from eval.json (``retrieval`` and ``pair_cosine``); when those are missing they are
    computed from ``embeddings`` (rows of the source language and a target language sharing a
    ``pair_id`` are aligned).
    """
    retrieval = _get(result, "retrieval")
    pair_cos = _get(result, "pair_cosine")
    rows = []
    if isinstance(retrieval, dict) and retrieval:
        for lang, entry in retrieval.items():
            for model in MODELS:
                r = _get(entry, model)
                if not isinstance(r, dict):
                    continue
                rows.append(
                    {
                        "language": lang,
                        "n_pairs": int(_num(entry.get("n_pairs")))
                        if not math.isnan(_num(entry.get("n_pairs")))
                        else None,
                        "model": model,
                        "src→tgt @1": _num(r.get("src_to_tgt")),
                        "tgt→src @1": _num(r.get("tgt_to_src")),
                        "pair cosine": _num(_get(pair_cos, lang, model)),
                    }
                )
        return pd.DataFrame(rows, columns=ALIGNMENT_COLUMNS)
    if embeddings is None or embeddings.empty:
        return pd.DataFrame(columns=ALIGNMENT_COLUMNS)
    source = source or _get(result, "source_language")
    if not source:
        return pd.DataFrame(columns=ALIGNMENT_COLUMNS)
    emb = embeddings[embeddings["pair_id"].notna()]
    for model, part in emb.groupby("model", sort=False):
        src = part[part["language"] == source].drop_duplicates("pair_id").set_index("pair_id")
        for lang in sorted(set(part["language"]) - {source}):
            tgt = part[part["language"] == lang].drop_duplicates("pair_id").set_index("pair_id")
            common = [p for p in tgt.index if p in src.index]
            if len(common) < 2:
                continue
            s = np.stack(src.loc[common, "vector"].to_list())
            t = np.stack(tgt.loc[common, "vector"].to_list())
            r = M.retrieval_at_1(s, t)
            rows.append(
                {
                    "language": lang,
                    "n_pairs": len(common),
                    "model": model,
                    "src→tgt @1": r["src_to_tgt"],
                    "tgt→src @1": r["tgt_to_src"],
                    "pair cosine": M.pair_cosine(s, t),
                }
            )
    return pd.DataFrame(rows, columns=ALIGNMENT_COLUMNS)


PROJECTION_COLUMNS = ["row", "x", "y", "model", "language", "label", "pair_id", "text"]


def projection_frame(
    embeddings: pd.DataFrame | None,
    *,
    method: str = "umap",
    center: bool = False,
    models: Sequence[str] = ("teacher", "student"),
    languages: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
    max_points: int = 4000,
) -> tuple[pd.DataFrame, list[str]]:
    """2-D coordinates of the chosen models' embeddings, fitted jointly; returns (frame, notes).

    ``row`` is the row of ``embeddings.parquet``. With ``center`` each (model, language)
    group's mean is subtracted first. Models whose vectors have another width than the first
    model's cannot share a fit; they are projected on their own (a note says so). When
    ``cache_dir`` is given, :func:`xkd.evaluate.projection.cached_projection` stores results
    there. Beyond ``max_points`` rows an evenly spaced subset is used (a note says so).
    """
    from xkd.evaluate.projection import cached_projection, project

    notes: list[str] = []
    if embeddings is None or embeddings.empty:
        return pd.DataFrame(columns=PROJECTION_COLUMNS), notes
    emb = embeddings.reset_index(drop=True)
    emb = emb.assign(row=np.arange(len(emb)))
    emb = emb[emb["model"].isin(list(models))]
    if languages:
        emb = emb[emb["language"].isin(list(languages))]
    if emb.empty:
        return pd.DataFrame(columns=PROJECTION_COLUMNS), notes
    if len(emb) > max_points:
        step = math.ceil(len(emb) / max_points)
        keep_pairs = emb["pair_id"].dropna().unique()[::step]
        subset = emb[emb["pair_id"].isin(keep_pairs) | emb["pair_id"].isna()]
        if len(subset) > max_points:
            subset = subset.iloc[::step]
        notes.append(f"showing {len(subset)} of {len(emb)} points (evenly spaced subset)")
        emb = subset
    widths = emb["vector"].map(len)
    groups = [emb[widths == w] for w in pd.unique(widths)]
    if len(groups) > 1:
        notes.append(
            "teacher and student embeddings have different widths, so each width is "
            "projected on its own (their coordinates are not comparable)"
        )
    out = []
    for part in groups:
        x = np.stack(part["vector"].to_list()).astype(np.float64)
        center_by = (part["model"] + ":" + part["language"]).to_numpy() if center else None
        kw: dict[str, Any] = {"center_by": center_by} if center else {}
        if method == "umap":
            kw.update(n_neighbors=15, seed=0)
        if cache_dir is not None:
            key = "-".join(sorted(pd.unique(part["model"]))) + f"-{len(part)}"
            coords = cached_projection(key, x, Path(cache_dir), method, **kw)
        else:
            coords = project(x, method, **kw)
        frame = part[["row", "model", "language", "label", "pair_id", "text"]].copy()
        frame["x"] = coords[:, 0]
        frame["y"] = coords[:, 1]
        out.append(frame)
    result = pd.concat(out, ignore_index=True)[PROJECTION_COLUMNS]
    return result, notes


def translation_segments(proj: pd.DataFrame, source: str | None) -> dict[str, tuple[list, list]]:
    """Per model, line coordinates joining each source point to its translations.

    Returns ``{model: (xs, ys)}`` with ``None`` between segments (one plotly trace per model).
    Without a source row in a pair group, its rows are joined in order.
    """
    out: dict[str, tuple[list, list]] = {}
    if proj.empty:
        return out
    for model, part in proj[proj["pair_id"].notna()].groupby("model", sort=False):
        xs: list = []
        ys: list = []
        for _, group in part.groupby("pair_id", sort=False):
            if len(group) < 2:
                continue
            anchor = group[group["language"] == source]
            a = anchor.iloc[0] if len(anchor) else group.iloc[0]
            for _, other in group.iterrows():
                if other["row"] == a["row"]:
                    continue
                xs += [a["x"], other["x"], None]
                ys += [a["y"], other["y"], None]
        out[str(model)] = (xs, ys)
    return out


def neighbours_table(embeddings: pd.DataFrame, rows: Sequence[int], k: int = 5) -> pd.DataFrame:
    """Nearest neighbours (cosine, original space) of selected ``embeddings.parquet`` rows.

    Neighbours are searched among the rows of the same model, the query itself excluded.
    Columns: ``query``, ``query language``, ``model``, ``rank``, ``neighbour``,
    ``neighbour language``, ``same pair``, ``cosine``.
    """
    cols = [
        "query",
        "query language",
        "model",
        "rank",
        "neighbour",
        "neighbour language",
        "same pair",
        "cosine",
    ]
    if embeddings is None or embeddings.empty or not rows:
        return pd.DataFrame(columns=cols)
    emb = embeddings.reset_index(drop=True)
    out = []
    for model, part in emb.groupby("model", sort=False):
        wanted = [r for r in rows if 0 <= r < len(emb) and emb.at[r, "model"] == model]
        if not wanted:
            continue
        pool = np.stack(part["vector"].to_list())
        pool_rows = part.index.to_numpy()
        query = np.stack(emb.loc[wanted, "vector"].to_list())
        idx, scores = M.nearest_neighbours(query, pool, k=k + 1)
        for qi, r in enumerate(wanted):
            rank = 0
            for j, score in zip(idx[qi], scores[qi]):
                nr = int(pool_rows[j])
                if nr == r or rank >= k:
                    continue
                rank += 1
                same = (
                    emb.at[r, "pair_id"] is not None
                    and emb.at[nr, "pair_id"] == emb.at[r, "pair_id"]
                )
                out.append(
                    {
                        "query": emb.at[r, "text"],
                        "query language": emb.at[r, "language"],
                        "model": model,
                        "rank": rank,
                        "neighbour": emb.at[nr, "text"],
                        "neighbour language": emb.at[nr, "language"],
                        "same pair": bool(same),
                        "cosine": float(score),
                    }
                )
    return pd.DataFrame(out, columns=cols)


# ------------------------------------------------------------------------------------ runs


def flatten(mapping: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists are kept as values."""
    out: dict[str, Any] = {}
    if not isinstance(mapping, dict):
        return {prefix.rstrip("."): mapping} if prefix else {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, (list, dict)):
        import json

        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def config_diff(configs: dict[str, dict], *, all_keys: bool = False) -> pd.DataFrame:
    """Keys whose values differ between runs: one row per key, one column per run.

    With ``all_keys`` every key is listed. Values are shown as text (lists as JSON).
    """
    flat = {run: flatten(cfg or {}) for run, cfg in configs.items()}
    keys: list[str] = []
    for f in flat.values():
        keys += [k for k in f if k not in keys]
    rows = []
    for key in keys:
        values = [_show(flat[run].get(key)) for run in flat]
        if all_keys or len(set(values)) > 1:
            rows.append({"key": key, **dict(zip(flat, values))})
    return pd.DataFrame(rows, columns=["key", *flat])


def recipe_text(config: dict | None) -> str:
    """``parallel_mse×10 + kl×1 (T=3, α=0)`` from a config dict."""
    distill = _get(config, "distill")
    if not isinstance(distill, dict):
        return ""
    parts = []
    for loss in distill.get("losses") or []:
        if isinstance(loss, dict):
            parts.append(f"{loss.get('name')}×{_num(loss.get('weight', 1.0)):g}")
        else:
            parts.append(str(loss))
    text = " + ".join(parts)
    t, a = distill.get("temperature"), distill.get("alpha")
    if t is not None or a is not None:
        text += f" (T={_show(t)}, α={_show(a)})"
    return text


def runs_overview(runs, configs: dict[str, dict], results: dict[str, dict | None]):
    """The Runs page table: status, dataset, languages, recipe and headline numbers."""
    rows = []
    for info in runs:
        cfg = configs.get(info.run_id) or {}
        head = headline(results.get(info.run_id))
        step = f"{info.step}/{info.total_steps}" if info.total_steps else ""
        rows.append(
            {
                "run": info.run_id,
                "state": info.state or "unknown",
                "student target acc": info.student_target_accuracy,
                "baseline target acc": info.baseline_target_accuracy,
                "KD gain (points)": 100 * head["kd_gain"] if "kd_gain" in head else None,
                "teacher source acc": info.teacher_source_accuracy,
                "dataset": info.data_path or "",
                "languages": f"{info.source_language or '?'} → "
                + (",".join(info.target_languages) or "all others"),
                "recipe": recipe_text(cfg),
                "teacher": info.teacher or "",
                "student": info.student or "",
                "progress": f"{info.phase or ''} {step}".strip() if info.is_active else "",
                "started": info.started or "",
                "error": info.error or "",
            }
        )
    return pd.DataFrame(rows)
