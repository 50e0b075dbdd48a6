"""The Alignment page's data: retrieval and pair cosine, 2-D projections, nearest neighbours.

Input is a run's ``eval.json`` dict and its ``embeddings.parquet`` frame (``text, language,
label, pair_id, model, vector``). Rows of the source language and a target language that share
a ``pair_id`` are translations of each other. Missing inputs give empty frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from xkd.app.fmt import get, num
from xkd.app.labels import MODELS
from xkd.evaluate import metrics as M

ALIGNMENT_COLUMNS = ["language", "n_pairs", "model", "src→tgt @1", "tgt→src @1", "pair cosine"]


def alignment_table(result: dict | None, embeddings: pd.DataFrame | None = None, source=None):
    """Retrieval@1 both ways and mean pair cosine per target language and model.

    Read from eval.json (``retrieval`` and ``pair_cosine``); when those are missing they are
    computed from ``embeddings`` (rows of the source language and a target language sharing a
    ``pair_id`` are aligned).
    """
    retrieval = get(result, "retrieval")
    pair_cos = get(result, "pair_cosine")
    rows = []
    if isinstance(retrieval, dict) and retrieval:
        for lang, entry in retrieval.items():
            for model in MODELS:
                r = get(entry, model)
                if not isinstance(r, dict):
                    continue
                rows.append(
                    {
                        "language": lang,
                        "n_pairs": int(num(entry.get("n_pairs")))
                        if not math.isnan(num(entry.get("n_pairs")))
                        else None,
                        "model": model,
                        "src→tgt @1": num(r.get("src_to_tgt")),
                        "tgt→src @1": num(r.get("tgt_to_src")),
                        "pair cosine": num(get(pair_cos, lang, model)),
                    }
                )
        return pd.DataFrame(rows, columns=ALIGNMENT_COLUMNS)
    if embeddings is None or embeddings.empty:
        return pd.DataFrame(columns=ALIGNMENT_COLUMNS)
    source = source or get(result, "source_language")
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


def language_bias_table(result: dict | None) -> pd.DataFrame:
    """``language, model, own, mixed, drop`` from ``eval.json["language_bias"]`` (empty for a
    run evaluated before it existed)."""
    cols = ["language", "model", "own", "mixed", "drop"]
    bias = (result or {}).get("language_bias") or {}
    rows = [
        {"language": lang, "model": model, **{k: v.get(k) for k in ("own", "mixed", "drop")}}
        for lang, models in bias.items()
        for model, v in models.items()
    ]
    return pd.DataFrame(rows, columns=cols)


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
