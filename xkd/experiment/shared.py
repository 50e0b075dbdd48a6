"""What the runs of a sweep share, on disk and checked by fingerprints: the teacher's cached
outputs, its fitted head, and the no-KD baseline.

A :class:`SharedStore` is a folder (a sweep's ``shared/``). An experiment given one
(``Experiment(config, shared=store)``) looks there before it pays for something and offers
what it paid for afterwards:

- **teacher cache**: keyed by the teacher's weights (after any fine-tuning), the tokens it is
  fed (``data.max_length``) and the layers the recipe caches; each of several teachers
  (``teachers``) has its own key, so each is shared like the first. Each member that encoded new
  texts adds a read-only version (``teacher/<fp>/v<k>/``, a copy of its ``cache/``); a member
  loads every version before encoding what is still missing, so the teacher's encoder runs
  once per text per sweep;
- **teacher head**: a head fitted on the cached embeddings, keyed by the cache's fingerprint,
  the labels, the seed and the head-fitting settings and texts (``heads/<fp>.safetensors``);
- **no-KD baseline**: keyed by the student's initial weights and tokenizer, the source rows it
  trains on, the training settings and the evaluation rows (``baselines/<fp>.json`` names the
  run whose ``baseline/`` it is). A member reusing it copies that model and its training
  records into its own run folder, so every member's folder stays complete.

Fingerprints hash what the thing is made of (tensors, texts, settings), not the config's
names, so two configs that differ only in the KD recipe share the baseline, and anything that
changes the student's initial weights (a vocabulary extension, a seed) does not.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import torch

__all__ = ["SharedStore", "fingerprint"]


def _update(h, part: Any) -> None:
    if isinstance(part, torch.nn.Module):
        part = part.state_dict()
    if isinstance(part, dict) and part and all(isinstance(v, torch.Tensor) for v in part.values()):
        for name in sorted(part):
            t = part[name].detach().cpu().contiguous()
            h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        return
    if isinstance(part, torch.Tensor):
        _update(h, {"": part})
        return
    h.update(json.dumps(part, sort_keys=True, default=str).encode())


def fingerprint(*parts: Any) -> str:
    """A short hex digest of ``parts``: modules and tensors by their bytes, the rest as JSON."""
    h = hashlib.blake2b(digest_size=12)
    for part in parts:
        _update(h, part)
        h.update(b"\x00")
    return h.hexdigest()


def _read_only(path: Path) -> None:
    for f in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if f.is_file():
            f.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def _texts(examples) -> list:
    return [examples.student_texts, examples.teacher_texts, examples.labels] if examples else []


class SharedStore:
    """The shared folder of a sweep (see the module docstring)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    # -- fingerprints ---------------------------------------------------------------------
    @staticmethod
    def cache_key(cfg, state, *, teacher=None, cache=None, name: str | None = None) -> str:
        """The teacher cache's fingerprint; ``teacher``, ``cache`` and ``name`` (its model spec)
        are another teacher's (``teachers``), else the run's first."""
        teacher = state.teacher if teacher is None else teacher
        cache = state.cache if cache is None else cache
        return fingerprint(
            teacher,
            cfg.teacher if name is None else name,
            cfg.model.pooling,
            cache.max_length,
            cache.hidden_layers,
            cache.attention_layers,
            teacher.labels if teacher.has_head else None,
        )

    @staticmethod
    def head_key(cfg, state, cache_key: str) -> str:
        dev = state.dev.get(cfg.data.source_language)
        return fingerprint(
            cache_key,
            state.dataset.labels,
            cfg.train.seed,
            cfg.model.teacher_epochs,
            cfg.model.teacher_lr,
            _texts(state.source),
            _texts(dev),
        )

    @staticmethod
    def baseline_key(cfg, state) -> str:
        import pandas as pd

        frame = state.dataset.frame
        held_out = frame[frame["split"] != "train"]
        rows = int(pd.util.hash_pandas_object(held_out.astype(str), index=False).sum() % 2**63)
        return fingerprint(
            state.baseline_init,
            sorted(state.baseline_init.tokenizer.get_vocab().items()),
            _texts(state.source),
            vars(cfg.train),
            cfg.data.max_length,
            cfg.data.source_language,
            state.targets,
            rows,
        )

    # -- the teacher cache ----------------------------------------------------------------
    def _versions(self, key: str) -> list[Path]:
        base = self.path / "teacher" / key
        found = [p for p in base.glob("v*") if (p / "cache" / "teacher.safetensors").is_file()]
        return sorted(found, key=lambda p: int(p.name[1:]), reverse=True)

    def load_cache(self, key: str, cache, texts: list[str]) -> int:
        """Fill ``cache`` from every stored version; returns the rows loaded."""
        return sum(
            cache.load(v / "cache" / "teacher.safetensors", texts) for v in self._versions(key)
        )

    def offer_cache(self, key: str, cache_dir: Path, *, file: Path | None = None) -> None:
        """Keep a read-only copy of a member's ``cache/`` folder (its teacher cache and token
        shards) as the next version; ``file``: another teacher's cache file alone (no token
        features), kept as the version's ``teacher.safetensors``."""
        versions = self._versions(key)
        number = int(versions[0].name[1:]) + 1 if versions else 0
        target = self.path / "teacher" / key / f"v{number}" / "cache"
        tmp = target.parent.with_name(target.parent.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        keep = {"teacher.safetensors", "teacher-tokens"}
        if file is not None:
            (tmp / "cache").mkdir(parents=True)
            shutil.copyfile(file, tmp / "cache" / "teacher.safetensors")
        else:
            shutil.copytree(
                cache_dir,
                tmp / "cache",
                ignore=lambda d, names: [
                    n for n in names if Path(d) == cache_dir and n not in keep
                ],
            )
        tmp.rename(target.parent)
        _read_only(target)

    # -- the teacher head -----------------------------------------------------------------
    def load_head(self, key: str) -> tuple[dict, dict] | None:
        """The stored head's state and its ``teacher_info`` facts, or None."""
        from safetensors.torch import load_file

        path = self.path / "heads" / f"{key}.safetensors"
        if not path.is_file():
            return None
        info = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        return load_file(str(path)), info

    def offer_head(self, key: str, head: torch.nn.Module, info: dict) -> None:
        from safetensors.torch import save_file

        path = self.path / "heads" / f"{key}.safetensors"
        if path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_suffix(".json").write_text(json.dumps(info, default=str), encoding="utf-8")
        state = {k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}
        save_file(state, str(path.with_suffix(".tmp")))
        path.with_suffix(".tmp").replace(path)
        _read_only(path)
        _read_only(path.with_suffix(".json"))

    # -- the baseline ---------------------------------------------------------------------
    def find_baseline(self, key: str) -> Path | None:
        """The run folder whose saved ``baseline/`` has this fingerprint, when it still has it."""
        path = self.path / "baselines" / f"{key}.json"
        if not path.is_file():
            return None
        run_dir = Path(json.loads(path.read_text(encoding="utf-8"))["run_dir"])
        return run_dir if (run_dir / "baseline").is_dir() else None

    def offer_baseline(self, key: str, run_dir: Path) -> None:
        path = self.path / "baselines" / f"{key}.json"
        if self.find_baseline(key) is not None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"run_dir": str(Path(run_dir).resolve())}), encoding="utf-8")
