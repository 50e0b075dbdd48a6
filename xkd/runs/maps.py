"""The alignment map over training time, in ``alignment/`` of a run folder.

Written by the run's own process at each alignment step (:mod:`xkd.experiment.probes`), so a
page only reads and draws:

- ``texts.parquet``: ``index, text, language`` of the held-out sentences;
- ``pairs.parquet``: ``pair_id, language, source, target`` (indices into the texts);
- ``projection.safetensors``: the 2-D PCA (``mean``, ``components``), fitted once, on the
  teacher's embeddings of the sentences when the widths agree (the space the student is
  pulled towards), else on the student's step-0 embeddings; metadata ``fitted_on``;
- ``coords.parquet``: ``phase, step, model, index, x, y``: every stored step's map;
- ``embeddings/<phase>-<model>-<step>.safetensors``: the embeddings behind each map (float16).

One projection for every step: a sentence whose embedding did not change keeps its place, so
the replay shows movement that training caused, not a re-fit. Size is bounded by the pair set
(:class:`xkd.evaluate.health.PairSet`) and the number of alignment steps
(``train.alignment_points``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xkd.evaluate.projection import Pca2D
from xkd.runs.folder import RunFolder

__all__ = ["AlignmentMaps", "read_maps"]


class AlignmentMaps:
    """The writer of ``alignment/`` (the main process only)."""

    def __init__(self, folder: RunFolder) -> None:
        self.dir = folder.alignment_dir
        self.projection: Pca2D | None = None
        self.fitted_on = ""
        self.reference: np.ndarray | None = None
        self._coords: list[pd.DataFrame] = []

    def start(self, pairs, *, reference: np.ndarray | None) -> None:
        """Write the texts and pairs. The projection is fitted on the first map added: on
        ``reference`` (the teacher's embeddings) when its width is that map's, else on the
        map's own embeddings."""
        self.dir.mkdir(parents=True, exist_ok=True)
        texts = pd.DataFrame(
            {
                "index": range(len(pairs.texts)),
                "text": pairs.texts,
                "language": pairs.text_languages,
            }
        )
        _write_parquet(texts, self.dir / "texts.parquet")
        _write_parquet(pairs.pairs.astype({"pair_id": str}), self.dir / "pairs.parquet")
        self.reference = reference

    def resume(self) -> bool:
        """Continue the maps of a resumed run (its projection and stored steps); False when
        the run has none yet."""
        from safetensors import safe_open
        from safetensors.numpy import load_file

        path, coords = self.dir / "projection.safetensors", self.dir / "coords.parquet"
        if not (path.is_file() and coords.is_file()):
            return False
        saved = load_file(str(path))
        self.projection = Pca2D(saved["mean"], saved["components"])
        with safe_open(str(path), framework="np") as fh:
            self.fitted_on = (fh.metadata() or {}).get("fitted_on", "")
        self._coords = [pd.read_parquet(coords)]
        return True

    def _fit(self, embeddings: np.ndarray, fitted_on: str) -> None:
        from safetensors.numpy import save_file

        self.projection, self.fitted_on = Pca2D.fit(embeddings), fitted_on
        save_file(
            {
                "mean": self.projection.mean.astype(np.float32),
                "components": self.projection.components.astype(np.float32),
            },
            str(self.dir / "projection.safetensors"),
            metadata={"fitted_on": fitted_on},
        )

    def add(self, *, phase: str, step: int, model: str, embeddings: np.ndarray) -> None:
        """Store one step's embeddings and its map (see :meth:`start` for the projection)."""
        from safetensors.numpy import save_file

        emb = np.asarray(embeddings, dtype=np.float64)
        if self.projection is None:
            ref = self.reference
            if ref is not None and ref.shape[1] == emb.shape[1]:
                self._fit(ref, "teacher")
            else:
                self._fit(emb, f"{model} step {step}")
        if self.projection.components.shape[1] != emb.shape[1]:
            return  # a model of another width (the teacher of a narrower student): no map
        (self.dir / "embeddings").mkdir(exist_ok=True)
        save_file(
            {"embeddings": emb.astype(np.float16)},
            str(self.dir / "embeddings" / f"{phase}-{model}-{step:07d}.safetensors"),
        )
        xy = self.projection.transform(emb)
        self._coords.append(
            pd.DataFrame(
                {
                    "phase": phase,
                    "step": step,
                    "model": model,
                    "index": np.arange(len(emb)),
                    "x": xy[:, 0].astype(np.float32),
                    "y": xy[:, 1].astype(np.float32),
                }
            )
        )
        _write_parquet(pd.concat(self._coords, ignore_index=True), self.dir / "coords.parquet")

    def copy_phase(self, source: RunFolder, phase: str) -> None:
        """Add the maps of ``phase`` stored in another run folder with the same held-out pairs
        (a reused no-KD baseline), through this run's projection."""
        from safetensors.numpy import load_file

        for path in sorted((source.alignment_dir / "embeddings").glob(f"{phase}-*.safetensors")):
            _, model, step = path.stem.rsplit("-", 2)
            emb = load_file(str(path))["embeddings"].astype(np.float64)
            self.add(phase=phase, step=int(step), model=model, embeddings=emb)


def _write_parquet(frame: pd.DataFrame, path) -> None:
    """Write through a temporary file and rename, so a reader never sees half a table."""
    tmp = path.with_name(path.name + ".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


def read_maps(folder: RunFolder) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
    """``(texts, pairs, coords)`` of a run's ``alignment/``, or None when it has none yet."""
    d = folder.alignment_dir
    paths = [d / "texts.parquet", d / "pairs.parquet", d / "coords.parquet"]
    if not all(p.is_file() for p in paths):
        return None
    try:
        return tuple(pd.read_parquet(p) for p in paths)  # type: ignore[return-value]
    except (OSError, ValueError):
        return None
