"""``XKDModel``: a Hugging Face encoder + sentence pooling + a linear classification head.

The encoder is any ``transformers.AutoModel`` (BERT-like models in practice). Pooling turns the
token states ``[B, L, H]`` into one sentence vector ``[B, H]``:

- ``mean``: average of the real (non-padding) tokens;
- ``cls``: the first token (``[CLS]``);
- ``attention``: a learned query ``q`` scores every token, ``w = softmax(h·q / sqrt(H))`` over
  the real tokens, pooled ``= Σ w·h``. ``q`` starts at zero, so it starts as mean pooling.

Files written by :meth:`XKDModel.save_pretrained` (safetensors only, no pickle)::

    config.json, model.safetensors        the encoder (``PreTrainedModel.save_pretrained``)
    tokenizer.json, tokenizer_config.json the tokenizer
    xkd_head.safetensors                  ``head.weight``, ``head.bias``, ``pooler.query``
    xkd_config.json                       pooling, labels, format version
    README.md                             model card

Attention weights: ``sdpa`` attention (the default) cannot return them, so ``forward`` switches
the encoder to ``eager`` attention for calls with ``output_attentions=True`` only and switches it
back afterwards (switching costs microseconds; outputs agree to float precision).
"""

from __future__ import annotations

import inspect
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from xkd.errors import ConfigError, ModelError
from xkd.models.dims import ModelDims

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

POOLINGS = ("mean", "cls", "attention")
XKD_CONFIG = "xkd_config.json"
XKD_HEAD = "xkd_head.safetensors"
FORMAT_VERSION = 1


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
    if pooling not in POOLINGS:
        raise ConfigError(f"pooling='{pooling}': use one of {' | '.join(POOLINGS)}")
    return pooling


# ---------------------------------------------------------------------------------------------
# Helpers on HF encoders (shared with builders.py)


def config_value(config: Any, *names: str) -> int:
    """First of ``names`` present on an HF config (configs map aliases like ``n_layers``)."""
    for name in names:
        value = getattr(config, name, None)
        if value is not None:
            return int(value)
    raise ModelError(
        f"the encoder config ({type(config).__name__}) has none of {', '.join(names)}; "
        "xkd supports BERT-like encoders"
    )


def supports_kwarg(model_class: type, name: str) -> bool:
    try:
        return name in inspect.signature(model_class.__init__).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        return False


def drop_pooler(encoder: nn.Module) -> None:
    """Remove BERT's unused ``pooler`` (xkd pools itself), where the class allows None."""
    if getattr(encoder, "pooler", None) is not None and supports_kwarg(
        type(encoder), "add_pooling_layer"
    ):
        encoder.pooler = None


def block_list(encoder: nn.Module) -> tuple[str, nn.ModuleList]:
    """``(name, ModuleList)`` of the encoder's transformer blocks (e.g. ``encoder.layer``)."""
    n = config_value(encoder.config, "num_hidden_layers", "n_layers", "num_layers")
    candidates = [
        (name, mod)
        for name, mod in encoder.named_modules()
        if isinstance(mod, nn.ModuleList) and len(mod) == n and name
    ]
    if not candidates:
        raise ModelError(
            f"cannot find the {n} transformer blocks of {type(encoder).__name__}; "
            "xkd supports BERT-like encoders"
        )
    preferred = [c for c in candidates if c[0].rsplit(".", 1)[-1] in ("layer", "layers", "block")]
    return (preferred or candidates)[0]


def _attn_impl(encoder: nn.Module) -> str | None:
    return getattr(encoder.config, "_attn_implementation", None)


# ---------------------------------------------------------------------------------------------


class XKDModel(nn.Module):
    """HF encoder + pooling + optional linear head over ``labels``.

    Parameters: ``encoder`` (a ``transformers.PreTrainedModel`` returning ``last_hidden_state``),
    ``tokenizer`` (a fast HF tokenizer), ``labels`` (None or [] for no head), ``pooling``
    (``mean | cls | attention``), ``seed`` for the head initialisation.
    """

    def __init__(
        self,
        encoder: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        labels: Sequence[str] | None = None,
        pooling: str = "mean",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.pooling = check_pooling(pooling)
        self.pooler: AttentionPooling | None = (
            AttentionPooling(self.hidden_size) if pooling == "attention" else None
        )
        self.head: nn.Linear | None = None
        self.labels: list[str] = []
        self.set_labels(labels, seed=seed)
        self.train(encoder.training)

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def hidden_size(self) -> int:
        return config_value(self.encoder.config, "hidden_size", "dim", "d_model")

    @property
    def num_layers(self) -> int:
        return config_value(self.encoder.config, "num_hidden_layers", "n_layers", "num_layers")

    @property
    def num_heads(self) -> int:
        return config_value(self.encoder.config, "num_attention_heads", "n_heads")

    @property
    def max_positions(self) -> int | None:
        value = getattr(self.encoder.config, "max_position_embeddings", None)
        return int(value) if value else None

    def dims(self, num_labels: int | None = None) -> ModelDims:
        """Sizes for ``DistillLoss.setup``; ``num_labels`` defaults to ``len(self.labels)``."""
        return ModelDims(
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            num_labels=len(self.labels) if num_labels is None else int(num_labels),
        )

    @property
    def device(self) -> torch.device:
        return next(self.encoder.parameters()).device

    # -- head and pooling ----------------------------------------------------------------------
    def set_labels(self, labels: Sequence[str] | None, seed: int | None = None) -> None:
        """Replace the head by a fresh ``Linear(hidden, len(labels))`` (None/[]: no head).

        Weights ~ N(0, initializer_range) (0.02 by default), bias 0; ``seed`` makes them
        reproducible without touching the global RNG.
        """
        if isinstance(labels, str):
            raise ConfigError(f"labels must be a list of names, got the string '{labels}'")
        labels = [str(x) for x in (labels or [])]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"labels contain duplicates: {labels}")
        self.labels = labels
        if not labels:
            self.head = None
            return
        ref = next(self.encoder.parameters())
        head = nn.Linear(self.hidden_size, len(labels))
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        std = float(getattr(self.encoder.config, "initializer_range", 0.02) or 0.02)
        with torch.no_grad():
            head.weight.copy_(torch.randn(head.weight.shape, generator=gen) * std)
            head.bias.zero_()
        self.head = head.to(device=ref.device, dtype=ref.dtype)

    def set_pooling(self, pooling: str) -> None:
        """Change the pooling (a new attention pooler starts as mean pooling)."""
        check_pooling(pooling)
        if pooling == self.pooling:
            return
        self.pooling = pooling
        if pooling == "attention":
            ref = next(self.encoder.parameters())
            self.pooler = AttentionPooling(self.hidden_size).to(device=ref.device, dtype=ref.dtype)
        else:
            self.pooler = None

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "cls":
            return hidden[:, 0]
        if self.pooling == "attention":
            assert self.pooler is not None
            return self.pooler(hidden, attention_mask)
        return mean_pool(hidden, attention_mask)

    # -- forward -------------------------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> EncoderOutput:
        kwargs: dict[str, Any] = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "output_hidden_states": output_hidden_states,
            "output_attentions": output_attentions,
            "return_dict": True,
        }
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        previous = _attn_impl(self.encoder)
        switch = output_attentions and previous not in (None, "eager")
        if switch:
            self.encoder.set_attn_implementation("eager")
        try:
            out = self.encoder(**kwargs)
        finally:
            if switch:
                self.encoder.set_attn_implementation(previous)
        hidden = out.last_hidden_state
        pooled = self.pool(hidden, attention_mask)
        logits = self.head(pooled) if self.head is not None else None
        hs = tuple(out.hidden_states) if output_hidden_states and out.hidden_states else None
        att = tuple(out.attentions) if output_attentions and out.attentions else None
        if output_attentions and att is None:
            raise ModelError(
                f"{type(self.encoder).__name__} returned no attention weights; "
                "attention losses need an encoder that supports output_attentions"
            )
        return EncoderOutput(logits=logits, pooled=pooled, hidden_states=hs, attentions=att)

    # -- tokenization and inference ------------------------------------------------------------
    def _max_length(self, max_length: int) -> int:
        limit = self.max_positions
        return min(int(max_length), limit) if limit else int(max_length)

    def tokenize(self, texts: Sequence[str], max_length: int = 64) -> dict[str, torch.Tensor]:
        """Padded, truncated batch: ``{"input_ids", "attention_mask"}`` as long tensors (CPU).

        ``token_type_ids`` are left out (all zeros for single sentences = the encoder default),
        so the dict can be passed straight to :meth:`forward` with ``model(**batch)``.
        """
        enc = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self._max_length(max_length),
            return_tensors="pt",
        )
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def _batched(self, texts: Sequence[str], batch_size: int, max_length: int, what: str):
        texts = [str(t) for t in texts]
        width = self.hidden_size if what == "pooled" else len(self.labels)
        if not texts:
            return np.zeros((0, width), dtype=np.float32)
        ids = self.tokenizer(
            texts, truncation=True, max_length=self._max_length(max_length), padding=False
        )["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        device = self.device
        results: list[np.ndarray] = []
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(order), max(1, int(batch_size))):
                    idx = order[start : start + batch_size]
                    width = max(len(ids[i]) for i in idx)
                    input_ids = torch.full((len(idx), width), pad, dtype=torch.long)
                    mask = torch.zeros((len(idx), width), dtype=torch.long)
                    for r, i in enumerate(idx):
                        input_ids[r, : len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
                        mask[r, : len(ids[i])] = 1
                    out = self(input_ids.to(device), mask.to(device))
                    value = out.pooled if what == "pooled" else out.logits
                    results.append(value.float().cpu().numpy())
        finally:
            self.train(was_training)
        stacked = np.concatenate(results, axis=0)
        out_arr = np.empty_like(stacked)
        out_arr[np.asarray(order)] = stacked
        return out_arr

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, max_length: int = 64
    ) -> np.ndarray:
        """Pooled sentence vectors ``[N, H]`` (float32), in the order of ``texts``."""
        return self._batched(texts, batch_size, max_length, "pooled")

    def predict_logits(
        self, texts: Sequence[str], batch_size: int = 64, max_length: int = 64
    ) -> np.ndarray:
        """Head logits ``[N, C]`` (float32), in the order of ``texts``."""
        if self.head is None:
            raise ModelError("this model has no classification head; call set_labels() first")
        return self._batched(texts, batch_size, max_length, "logits")

    # -- saving and loading --------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path, card: dict | None = None) -> Path:
        """Write encoder, tokenizer, head and config to ``directory`` (safetensors, no pickle)."""
        from safetensors.torch import save_file

        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self.encoder.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        tensors: dict[str, torch.Tensor] = {}
        if self.head is not None:
            tensors["head.weight"] = self.head.weight.detach().cpu().contiguous().clone()
            tensors["head.bias"] = self.head.bias.detach().cpu().contiguous().clone()
        if self.pooler is not None:
            tensors["pooler.query"] = self.pooler.query.detach().cpu().contiguous().clone()
        save_file(tensors, str(path / XKD_HEAD), metadata={"format": "pt"})
        config = {
            "format_version": FORMAT_VERSION,
            "pooling": self.pooling,
            "labels": list(self.labels),
            "encoder_pooler": getattr(self.encoder, "pooler", None) is not None,
        }
        (path / XKD_CONFIG).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
        (path / "README.md").write_text(render_card(self, card), encoding="utf-8")
        return path

    @classmethod
    def from_pretrained(cls, directory: str | Path, trust_remote_code: bool = False) -> XKDModel:
        """Load a folder written by :meth:`save_pretrained`."""
        from safetensors.torch import load_file

        path = Path(directory)
        cfg_file = path / XKD_CONFIG
        if not cfg_file.is_file():
            raise ModelError(f"{path} is not an xkd model folder: {XKD_CONFIG} is missing")
        try:
            config = json.loads(cfg_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ModelError(f"{cfg_file}: unreadable ({e}); re-save the model") from e
        from xkd.models.builders import load_hf_encoder

        encoder, tokenizer = load_hf_encoder(
            path,
            trust_remote_code=trust_remote_code,
            saved_pooler=None if config.get("encoder_pooler") else False,
        )
        model = cls(encoder, tokenizer, labels=None, pooling=config.get("pooling", "mean"))
        labels = config.get("labels") or []
        head_file = path / XKD_HEAD
        tensors = load_file(str(head_file)) if head_file.is_file() else {}
        if labels:
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


def render_card(model: XKDModel, card: dict | None) -> str:
    """A small markdown model card: given ``card`` entries plus architecture facts."""
    lines = ["---", "library_name: xkd", "tags:", "- knowledge-distillation", "---", ""]
    title = (card or {}).get("title") or (card or {}).get("name") or "xkd model"
    lines += [f"# {title}", ""]

    def fmt(value: Any) -> str:
        if isinstance(value, (list, tuple)):
            return ", ".join(str(v) for v in value)
        if isinstance(value, dict):
            return "; ".join(f"{k}: {fmt(v)}" for k, v in value.items())
        return str(value)

    for key, value in (card or {}).items():
        if key in ("title", "name"):
            continue
        lines.append(f"- **{key}**: {fmt(value)}")
    if card:
        lines.append("")
    lines += [
        "## Architecture",
        "",
        f"- **encoder**: {type(model.encoder).__name__}, {model.num_layers} layers, "
        f"hidden {model.hidden_size}, {model.num_heads} heads",
        f"- **pooling**: {model.pooling}",
        f"- **labels**: {fmt(model.labels) if model.labels else '(no head)'}",
        "",
        "Load with `xkd.models.XKDModel.from_pretrained(folder)`.",
        "",
    ]
    return "\n".join(lines)
