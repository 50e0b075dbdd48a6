"""What an :class:`~xkd.models.model.XKDModel` returns: one batch (``forward``) or many texts
(``infer``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class EncoderOutput:
    """What :meth:`XKDModel.forward` returns.

    ``logits`` [B, C] (None without a head); ``pooled`` [B, H]; ``hidden_states`` a tuple of
    ``num_layers + 1`` tensors [B, L, H] (index 0 = embeddings, i = output of block i) or None;
    ``attentions`` a tuple of ``num_layers`` tensors [B, heads, L, L] (index i-1 = block i) or None.
    """

    logits: torch.Tensor | None
    pooled: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class InferenceResult:
    """What :meth:`XKDModel.infer` returns; row ``i`` belongs to ``texts[i]`` (CPU tensors).

    ``logits`` [N, C] and ``pooled`` [N, H] in float32 (None when not asked for);
    ``hidden[layer][i]`` [n_i, H] and ``attentions[layer][i]`` [heads, n_i, n_i] cover the
    ``n_i`` real tokens of text ``i`` (no padding), in the ``token_dtype`` asked for.
    """

    logits: torch.Tensor | None = None
    pooled: torch.Tensor | None = None
    hidden: dict[int, list[torch.Tensor]] = field(default_factory=dict)
    attentions: dict[int, list[torch.Tensor]] = field(default_factory=dict)
