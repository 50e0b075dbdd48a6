"""Sentence pooling: token states ``[B, L, H]`` to one sentence vector ``[B, H]``.

- ``mean``: average of the real (non-padding) tokens;
- ``cls``: the first token (``[CLS]``);
- ``attention``: a learned query ``q`` scores every token, ``w = softmax(h·q / sqrt(H))`` over
  the real tokens, pooled ``= Σ w·h``. ``q`` starts at zero, so it starts as mean pooling;
- ``max``: the element-wise maximum over the real tokens;
- ``mean_sqrt_len``: the sum of the real tokens divided by ``sqrt(n_tokens)``.

``max`` and ``mean_sqrt_len`` come from sentence-transformers models (:mod:`xkd.models.st`);
the ``model.pooling`` setting offers ``mean | cls | attention``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from xkd.errors import ConfigError

POOLINGS = ("mean", "cls", "attention")  # what the pooling setting and arguments accept
ST_ONLY_POOLINGS = ("max", "mean_sqrt_len")  # only as a sentence-transformers model's own


class AttentionPooling(nn.Module):
    """Learned-query attention pooling over the real tokens (starts as mean pooling)."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.zeros(hidden_size))

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = hidden @ self.query.to(hidden.dtype) / math.sqrt(hidden.shape[-1])  # [B, L]
        scores = scores.masked_fill(mask == 0, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores.float(), dim=-1).to(hidden.dtype)
        return torch.einsum("bl,blh->bh", weights, hidden)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average of the token states where ``mask`` is 1."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


def pool_tokens(pooling: str, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``mean``, ``cls``, ``max`` or ``mean_sqrt_len`` pooling (no learnt parameters)."""
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "max":
        return hidden.masked_fill(mask.unsqueeze(-1) == 0, float("-inf")).max(dim=1).values
    if pooling == "mean_sqrt_len":
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0).sqrt()
    return mean_pool(hidden, mask)


def check_pooling(pooling: str, *, own: bool = False) -> str:
    """``pooling`` if it is one of :data:`POOLINGS` (``own``: or of :data:`ST_ONLY_POOLINGS`,
    a model's own pooling), else a :class:`ConfigError`."""
    allowed = POOLINGS + ST_ONLY_POOLINGS if own else POOLINGS
    if pooling not in allowed:
        raise ConfigError(f"pooling='{pooling}': use one of {' | '.join(POOLINGS)}")
    return pooling
