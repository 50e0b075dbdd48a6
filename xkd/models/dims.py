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
    #: width of the pooled sentence vector (a Dense module can change it); None: hidden_size
    embedding_size: int | None = None

    @property
    def pooled_size(self) -> int:
        """Width of ``pooled``, what sentence-embedding losses project."""
        return self.embedding_size or self.hidden_size
