"""``load_model``: a teacher or a student as an :class:`XKDModel`, from any model name.

Names: ``minilm`` (built in, offline), a folder written by :meth:`XKDModel.save_pretrained`
(has ``xkd_config.json``; keeps its pooling and head), a local Hugging Face model folder, or a
Hugging Face Hub id (see :mod:`xkd.models.hf`). The model is returned in eval mode (dropout
off), like HF ``from_pretrained``; the training loop calls ``model.train()``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from xkd.errors import ConfigError, ModelError
from xkd.models.hf import load_encoder
from xkd.models.model import XKDModel
from xkd.models.pooling import check_pooling
from xkd.models.saving import XKD_CONFIG

log = logging.getLogger(__name__)

MODEL_FORMS = "`minilm`, a local model folder or a Hugging Face model id"


def load_model(
    name_or_path: str | Path,
    *,
    labels: Sequence[str] | None = None,
    pooling: str | None = None,
    trust_remote_code: bool = False,
    seed: int | None = None,
) -> XKDModel:
    """Load a teacher/student: ``minilm``, an xkd folder, a local HF folder or a Hub id.

    ``pooling`` defaults to ``mean``; an xkd folder keeps its saved pooling and head (a
    different ``labels`` list replaces the head with a fresh one, seeded by ``seed``).
    """
    if pooling is not None:
        check_pooling(pooling)
    name = str(name_or_path).strip()
    if not name:
        raise ConfigError(f"model name is empty: use {MODEL_FORMS}")
    folder = Path(name).expanduser()
    if name.lower() != "minilm" and (folder / XKD_CONFIG).is_file():
        return _load_xkd_folder(
            folder, labels=labels, pooling=pooling, trust_remote_code=trust_remote_code, seed=seed
        )
    encoder, tokenizer = load_encoder(name, trust_remote_code=trust_remote_code)
    check_vocabulary(encoder, tokenizer, name=name)
    return XKDModel(encoder, tokenizer, labels=labels, pooling=pooling or "mean", seed=seed)


def check_vocabulary(encoder, tokenizer, *, name: str) -> None:
    """Refuse a tokenizer whose special tokens have ids the model has no embedding for (a
    tokenizer of another model family saved next to these weights): it would crash at the
    first forward pass."""
    embeddings = encoder.get_input_embeddings()
    rows = getattr(embeddings, "num_embeddings", None)
    if rows is None:
        return
    bad = {
        token: i
        for token, i in zip(tokenizer.all_special_tokens, tokenizer.all_special_ids)
        if i is not None and i >= rows
    }
    if bad:
        listed = ", ".join(f"{t!r} = {i}" for t, i in bad.items())
        raise ModelError(
            f"model '{name}': its tokenizer ({type(tokenizer).__name__}) gives the special "
            f"token(s) {listed} ids the model has no embedding for ({rows} rows): the tokenizer "
            "does not belong to these weights; save the model's own tokenizer with it"
        )


def _load_xkd_folder(
    path: Path,
    *,
    labels: Sequence[str] | None,
    pooling: str | None,
    trust_remote_code: bool,
    seed: int | None,
) -> XKDModel:
    model = XKDModel.from_pretrained(path, trust_remote_code=trust_remote_code)
    if pooling is not None and pooling != model.pooling:
        log.warning(
            "%s was saved with %s pooling; keeping it (requested %s)", path, model.pooling, pooling
        )
    if labels is not None and list(labels) != model.labels:
        if model.labels:
            log.warning("%s: head for %s replaced by a new one for %s", path, model.labels, labels)
        model.set_labels(labels, seed=seed)
    return model
