"""Sentence pooling: token states ``[B, L, H]`` to one sentence vector ``[B, H]``.

- ``mean``: average of the real (non-padding) tokens;
- ``cls``: the first token (``[CLS]``);
- ``attention``: a learned query ``q`` scores every token, ``w = softmax(h·q / sqrt(H))`` over
  the real tokens, pooled ``= Σ w·h``. ``q`` starts at zero, so it starts as mean pooling.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from xkd.errors import ConfigError

POOLINGS = ("mean", "cls", "attention")


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


def check_pooling(pooling: str) -> str:
    """``pooling`` if it is one of :data:`POOLINGS`, else a :class:`ConfigError`."""
    if pooling not in POOLINGS:
        raise ConfigError(f"pooling='{pooling}': use one of {' | '.join(POOLINGS)}")
    return pooling
