"""The layer-mapping assistant for the app (:mod:`xkd.experiment.layers`): the suggestion put
into the Lab's recipe, the heatmaps, and a finished run's before/after reports kept in its
``cache/layers.json`` so a page computes them once."""

from __future__ import annotations

import json
import os

import pandas as pd

from xkd.app.form import LossRow, layer_map_text
from xkd.runs import RunFolder
from xkd.runs.files import atomic_write_json

__all__ = ["assistant_key", "heatmap_frame", "run_layers", "with_layer_map"]

LOSS = "hidden_mse"  # the recipe term whose layer_map the assistant fills


def with_layer_map(rows: list[LossRow], layer_map: list[list[int]]) -> list[LossRow]:
    """The recipe's rows with ``layer_map`` in its ``hidden_mse`` term (a term of weight 1 is
    added when the recipe has none)."""
    text = layer_map_text(layer_map)
    out = [
        LossRow(r.name, r.weight, r.params, text if r.name == LOSS else r.layer_map) for r in rows
    ]
    if not any(r.name == LOSS for r in rows):
        out.append(LossRow(LOSS, 1.0, "", text))
    return out


def assistant_key(cfg) -> str:
    """What the suggestion depends on: the models, the data and the vocabulary setting."""
    data = cfg.data
    parts = [cfg.teacher, cfg.student, data.path, data.parallel_corpus, data.source_language]
    parts += [",".join(data.target_languages), str(cfg.model.extend_vocab), str(data.max_length)]
    return "|".join(map(str, parts))


def heatmap_frame(report: dict) -> pd.DataFrame:
    """The CKA matrix with labelled axes: rows ``teacher 0..Lt``, columns ``student 0..Ls``
    (0 = the embeddings)."""
    cka = report["cka"]
    return pd.DataFrame(
        cka,
        index=[f"teacher {t}" for t in range(len(cka))],
        columns=[f"student {s}" for s in range(len(cka[0]))],
    )


def run_layers(run_dir: str | os.PathLike, *, n_texts: int = 300) -> dict:
    """``{"before": report, "after": report}`` of a finished run (dicts of
    :meth:`~xkd.evaluate.layers.LayerReport.to_dict`): the untrained student built from the
    run's config, and the trained one; computed once, then read from ``cache/layers.json``."""
    from xkd.config import from_dict, load_yaml
    from xkd.experiment.layers import run_layer_report, suggest_layers

    folder = RunFolder(run_dir)
    path = folder.cache_dir / "layers.json"
    if path.is_file():
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("n_texts") == n_texts:
                return saved
        except (OSError, ValueError):
            pass
    cfg = from_dict(load_yaml(folder.config_path))
    result = {
        "n_texts": n_texts,
        "before": suggest_layers(cfg, n_texts=n_texts).to_dict(),
        "after": run_layer_report(run_dir, n_texts=n_texts).to_dict(),
    }
    folder.cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, result)
    return result
