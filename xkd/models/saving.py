"""Saving an :class:`~xkd.models.model.XKDModel` to a folder and loading it back.

Files written by :func:`save_model` (safetensors only, no pickle)::

    config.json, model.safetensors        the encoder (``PreTrainedModel.save_pretrained``)
    tokenizer.json, tokenizer_config.json the tokenizer
    xkd_head.safetensors                  ``head.weight``, ``head.bias``, ``pooler.query``,
                                          ``sentence_modules.<i>.linear.*`` (Dense weights)
    xkd_config.json                       pooling, sentence modules, labels, head kind, version
    modules.json, 1_Pooling/, <i>_Dense/, <i>_Normalize/, sentence_bert_config.json
                                          the sentence-transformers layout (not for attention
                                          pooling), so ``SentenceTransformer(folder)`` gives
                                          the same sentence embeddings as xkd
    README.md                             model card

A model with its own classifier (:mod:`xkd.models.classifier`) is saved whole: ``config.json``
names its ``...ForSequenceClassification`` class and ``id2label``, the weights hold the
classifier, ``xkd_config.json`` says ``"head": "classifier"`` and the labels in the order xkd
gives its logits; :func:`load_saved` loads it with its classifier and that order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from xkd.errors import ModelError
from xkd.models.card import write_card
from xkd.models.hf import load_hf_encoder
from xkd.models.st import modules_config, modules_from_config, write_st_layout

if TYPE_CHECKING:  # pragma: no cover
    from xkd.models.model import XKDModel

__all__ = ["FORMAT_VERSION", "XKD_CONFIG", "XKD_HEAD", "load_saved", "save_model"]

XKD_CONFIG = "xkd_config.json"
XKD_HEAD = "xkd_head.safetensors"
FORMAT_VERSION = 1


def save_model(model: XKDModel, directory: str | Path, *, card: dict | None = None) -> Path:
    """Write encoder (or whole classifier), tokenizer, head and config to ``directory``."""
    from safetensors.torch import save_file

    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    hf_model = model.classifier.model if model.classifier is not None else model.encoder
    hf_model.save_pretrained(path)
    model.tokenizer.save_pretrained(path)
    _portable_tokenizer_class(path)
    tensors: dict[str, torch.Tensor] = {}
    if model.head is not None:
        tensors["head.weight"] = model.head.weight.detach().cpu().contiguous().clone()
        tensors["head.bias"] = model.head.bias.detach().cpu().contiguous().clone()
    if model.pooler is not None:
        tensors["pooler.query"] = model.pooler.query.detach().cpu().contiguous().clone()
    for key, value in model.sentence_modules.state_dict().items():
        tensors[f"sentence_modules.{key}"] = value.detach().cpu().contiguous().clone()
    save_file(tensors, str(path / XKD_HEAD), metadata={"format": "pt"})
    config = {
        "format_version": FORMAT_VERSION,
        "pooling": model.pooling,
        "sentence_modules": modules_config(list(model.sentence_modules)),
        "normalize": bool(model.normalize),
        "own_pooling": bool(model.own_pooling),
        "labels": list(model.labels),
        "head": "classifier" if model.classifier is not None else "linear",
        "encoder_pooler": getattr(model.encoder, "pooler", None) is not None,
    }
    st_layout = write_st_layout(
        path,
        pooling=model.pooling,
        modules=list(model.sentence_modules),
        normalize=model.normalize,
        hidden_size=model.hidden_size,
        max_seq_length=model.max_tokens,
    )
    (path / XKD_CONFIG).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    write_card(path, model, card, st_layout=st_layout)
    return path


def _portable_tokenizer_class(path: Path) -> None:
    """Name a rebuilt tokenizer ``PreTrainedTokenizerFast`` (transformers 5 writes
    ``TokenizersBackend``, a class transformers 4 lacks); both load ``tokenizer.json`` as is."""
    file = path / "tokenizer_config.json"
    if not file.is_file():
        return
    config = json.loads(file.read_text(encoding="utf-8"))
    if config.get("tokenizer_class") == "TokenizersBackend":
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        file.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def load_saved(cls: type[XKDModel], directory: str | Path, *, trust_remote_code: bool) -> XKDModel:
    """A ``cls`` model from a folder written by :func:`save_model` (in eval mode)."""
    from safetensors.torch import load_file

    path = Path(directory)
    cfg_file = path / XKD_CONFIG
    if not cfg_file.is_file():
        raise ModelError(f"{path} is not an xkd model folder: {XKD_CONFIG} is missing")
    try:
        config = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{cfg_file}: unreadable ({e}); re-save the model") from e
    encoder, tokenizer = load_hf_encoder(
        path,
        trust_remote_code=trust_remote_code,
        saved_pooler=None if config.get("encoder_pooler") else False,
    )
    model = cls(encoder, tokenizer, labels=None, pooling=config.get("pooling", "mean"))
    head_file = path / XKD_HEAD
    tensors = load_file(str(head_file)) if head_file.is_file() else {}
    if config.get("sentence_modules"):
        modules = modules_from_config(config["sentence_modules"])
        prefix = "sentence_modules."
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        holder = torch.nn.ModuleList(modules)
        try:
            holder.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise ModelError(f"{head_file}: the sentence modules' weights do not fit ({e})") from e
        model.set_sentence_modules(modules)
    model.normalize = bool(config.get("normalize", False))
    model.own_pooling = bool(config.get("own_pooling", False))
    labels = config.get("labels") or []
    if config.get("head") == "classifier":
        if model.classifier is None:
            raise ModelError(f"{path}/config.json: the saved classifier could not be loaded")
        model.reorder_labels(labels)
    if labels and model.classifier is None:
        if "head.weight" not in tensors:
            raise ModelError(f"{head_file}: missing the head weights for labels {labels}")
        model.set_labels(labels)
        with torch.no_grad():
            model.head.weight.copy_(tensors["head.weight"])
            model.head.bias.copy_(tensors["head.bias"])
    if model.pooler is not None and "pooler.query" in tensors:
        with torch.no_grad():
            model.pooler.query.copy_(tensors["pooler.query"])
    return model.eval()
