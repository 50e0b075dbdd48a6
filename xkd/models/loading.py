"""``load_model``: a teacher or a student as an :class:`XKDModel`, from any model name.

Names: ``minilm`` (built in, offline), a folder written by :meth:`XKDModel.save_pretrained`
(has ``xkd_config.json``; keeps its pooling and head), a local Hugging Face model folder, or a
Hugging Face Hub id (see :mod:`xkd.models.hf`). The model is returned in eval mode (dropout
off), like HF ``from_pretrained``; the training loop calls ``model.train()``.

A sentence-transformers model (``modules.json``) is loaded with its own pipeline
(:mod:`xkd.models.st`): its pooling, Dense and Normalize modules, and its ``max_seq_length``.
Its own pooling wins over the ``pooling`` argument (the ``model.pooling`` setting, ``mean`` by
default), with one logged line when they differ.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from xkd.errors import ConfigError, ModelError
from xkd.models.hf import hub_reachable, load_encoder, looks_like_path, minilm_path, tokenizer_limit
from xkd.models.model import XKDModel
from xkd.models.pooling import check_pooling
from xkd.models.saving import XKD_CONFIG
from xkd.models.st import STPipeline, folder_fetch, hub_fetch, read_st_pipeline

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

    ``pooling`` None: a sentence-transformers model's own pipeline, else ``mean``; a pooling
    that differs from such a model's own replaces its pipeline (with a line in ``model.notes``).
    An xkd folder keeps its saved pooling and head (a
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
    pipeline, local = _st_pipeline(name)
    source = name
    if pipeline is not None and pipeline.transformer_path:
        if local is None:
            raise ModelError(
                f"sentence-transformers model '{name}' keeps its Transformer in the subfolder "
                f"'{pipeline.transformer_path}'; download the model to a local folder and use that"
            )
        source = str(local / pipeline.transformer_path)
    encoder, tokenizer = load_encoder(source, trust_remote_code=trust_remote_code)
    check_vocabulary(encoder, tokenizer, name=name)
    if pipeline is None or (pooling is not None and pooling != pipeline.pooling):
        model = XKDModel(encoder, tokenizer, labels=labels, pooling=pooling or "mean", seed=seed)
        if pipeline is not None:
            model.notes.append(_not_own_note(name, pipeline, pooling))
            log.warning(model.notes[-1])
        return model
    limit = tokenizer_limit(tokenizer)
    if pipeline.max_seq_length and (limit is None or pipeline.max_seq_length < limit):
        tokenizer.model_max_length = pipeline.max_seq_length
    model = XKDModel(encoder, tokenizer, labels=None, pooling=pipeline.pooling, seed=seed)
    model.set_sentence_modules(pipeline.modules)
    model.normalize = pipeline.normalize
    model.own_pooling = True
    if labels is not None:
        model.set_labels(labels, seed=seed)
    return model


def _not_own_note(name: str, pipeline: STPipeline, pooling: str | None) -> str:
    parts = [f"{pipeline.pooling} pooling"] + [type(m).__name__[:-5] for m in pipeline.modules]
    parts += ["Normalize"] if pipeline.normalize else []
    return (
        f"'{name}' is a sentence-transformers model ({' + '.join(parts)}); model.pooling={pooling} "
        "replaces that pipeline, so its sentence embeddings differ from SentenceTransformer.encode "
        "(model.pooling=auto keeps its own)"
    )


def _st_pipeline(name: str) -> tuple[STPipeline | None, Path | None]:
    """The sentence-transformers pipeline of ``name`` (None if it has none) and its local folder."""
    if name.lower() == "minilm":
        folder = minilm_path()
    else:
        folder = Path(name).expanduser()
        if not (folder.is_dir() or looks_like_path(name)):
            return read_st_pipeline(hub_fetch(name, download=hub_reachable()), name), None
    if not folder.is_dir():
        return None, None  # load_encoder says what is wrong with the path
    return read_st_pipeline(folder_fetch(folder), name), folder


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
