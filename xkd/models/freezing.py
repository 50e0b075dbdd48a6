"""Which parameters train (``freeze`` modes ``full | top:K | head``) and how big a model is."""

from __future__ import annotations

import re

from torch import nn

from xkd.errors import ConfigError
from xkd.models.hf import block_list
from xkd.models.model import XKDModel


def _split_encoder_params(encoder: nn.Module):
    prefix, blocks = block_list(encoder)
    per_block: list[list[nn.Parameter]] = [list(b.parameters()) for b in blocks]
    in_blocks = {id(p) for ps in per_block for p in ps}
    embeddings, other = [], []
    for name, p in encoder.named_parameters():
        if id(p) in in_blocks:
            continue
        (embeddings if "embed" in name else other).append(p)
    return embeddings, per_block, other


def freeze(model: XKDModel, mode: str) -> int:
    """Set ``requires_grad`` by ``mode``; returns the number of trainable parameters.

    - ``full``: everything trains;
    - ``top:K``: the top K encoder blocks, pooling and head train; embeddings and lower blocks
      are frozen (encoder weights above the blocks, e.g. a final norm, train too);
    - ``head``: the encoder is frozen; pooling and head train.

    A sentence-transformers model's Dense modules (``sentence_modules``) count as encoder
    weights above the blocks: frozen by ``head`` and ``top:0``, trained by ``top:K``.
    """
    mode = str(mode).strip()
    if mode == "full":
        for p in model.parameters():
            p.requires_grad_(True)
    elif mode == "head" or re.fullmatch(r"top:\d+", mode):
        for p in model.parameters():
            p.requires_grad_(True)
        for p in [*model.encoder.parameters(), *model.sentence_modules.parameters()]:
            p.requires_grad_(False)
        if mode != "head":
            k = int(mode.split(":", 1)[1])
            n = model.num_layers
            if k > n:
                raise ConfigError(f"freeze mode '{mode}': the model has only {n} layers (K <= {n})")
            _, per_block, other = _split_encoder_params(model.encoder)
            for block in per_block[n - k :] if k else []:
                for p in block:
                    p.requires_grad_(True)
            if k:
                for p in [*other, *model.sentence_modules.parameters()]:
                    p.requires_grad_(True)
    else:
        raise ConfigError(f"freeze mode '{mode}': use full | top:K (K a whole number) | head")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def model_size(model: nn.Module) -> dict:
    """``{"parameters": count, "megabytes": bytes of parameters / 2**20}`` (shared counted once)."""
    seen: set[int] = set()
    count = 0
    nbytes = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        count += p.numel()
        nbytes += p.numel() * p.element_size()
    return {"parameters": int(count), "megabytes": round(nbytes / 2**20, 3)}
