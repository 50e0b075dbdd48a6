"""The sizes of a model that other layers (losses, estimates) need, without the model itself."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelDims:
    """Sizes a loss needs to build its learnable parts (projections, attention)."""

    hidden_size: int
    num_layers: int
    num_heads: int
    num_labels: int
