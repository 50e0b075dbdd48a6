"""``XKDModel``: a Hugging Face encoder + sentence pooling + a linear classification head.

The encoder is any ``transformers.AutoModel`` (BERT-like models in practice); the pooling
(``mean | cls | attention``) is described in :mod:`xkd.models.pooling`. A Hub
``...ForSequenceClassification`` model keeps its own classifier instead of the linear head
(:mod:`xkd.models.classifier`): its logits are that classifier's. :meth:`XKDModel.infer`
is the one batched-inference path (the teacher cache, the evaluator and the speed measurement
use it). Files written by :meth:`XKDModel.save_pretrained`: see :mod:`xkd.models.saving`.

A sentence-transformers model keeps its own pipeline (:mod:`xkd.models.st`): its Dense modules
give ``pooled`` (what the head and losses see); a trailing Normalize sets ``normalize``, and
:meth:`XKDModel.sentence_embedding` (``encode``, alignment views) equals ``SentenceTransformer
.encode``. Cosine losses are the same either way; MSE losses compare the vectors before it.

Attention weights: ``sdpa`` attention (the default) cannot return them, so ``forward`` switches
the encoder to ``eager`` attention for calls with ``output_attentions=True`` only and switches it
back afterwards (switching costs microseconds; outputs agree to float precision).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xkd.errors import ConfigError, ModelError
from xkd.models.classifier import NativeClassifier, is_classifier
from xkd.models.dims import ModelDims
from xkd.models.hf import (
    attn_implementation,
    config_value,
    position_limit,
    tokenizer_limit,
)
from xkd.models.outputs import EncoderOutput, InferenceResult
from xkd.models.pooling import AttentionPooling, check_pooling, pool_tokens

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

INFER_OUTPUTS = ("logits", "pooled")


class XKDModel(nn.Module):
    """HF encoder + pooling + optional linear head over ``labels``.

    Parameters: ``encoder`` (a ``transformers.PreTrainedModel`` returning ``last_hidden_state``),
    ``tokenizer`` (a fast HF tokenizer), ``labels`` (None or [] for no head), ``pooling``
    (``mean | cls | attention``), ``seed`` for the head initialisation.

    An ``encoder`` that is a ``...ForSequenceClassification`` model is kept whole as
    ``classifier`` (a :class:`~xkd.models.classifier.NativeClassifier`; ``encoder`` is then
    its base model) and, without ``labels``, predicts its own ``id2label`` labels; ``head`` is
    None. ``labels`` (or :meth:`set_labels`) replace it by a fresh linear head.
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
        self.classifier: NativeClassifier | None = None
        if is_classifier(encoder):
            self.classifier = NativeClassifier(encoder)
            encoder = encoder.base_model
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.pooling = check_pooling(pooling, own=True)
        self.pooler: AttentionPooling | None = (
            AttentionPooling(self.hidden_size) if pooling == "attention" else None
        )
        self.sentence_modules = nn.ModuleList()  # Dense modules after the pooling
        self.normalize = False  # the sentence embedding is pooled / ||pooled||
        self.own_pooling = False
        self.notes: list[
            str
        ] = []  # what loading could not honour (the run's notes)  # pooling + modules are a sentence-transformers model's own
        self.head: nn.Linear | None = None
        self.labels: list[str] = []
        if self.classifier is not None and not labels:
            self.labels = self.classifier.labels
        else:
            self.set_labels(labels, seed=seed)
        self.train(encoder.training)

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def hidden_size(self) -> int:
        return config_value(self.encoder.config, "hidden_size", "dim", "d_model")

    @property
    def embedding_size(self) -> int:
        """Width of ``pooled`` (the last Dense module's output, else :attr:`hidden_size`)."""
        dense = [m for m in self.sentence_modules if hasattr(m, "out_features")]
        return int(dense[-1].out_features) if dense else self.hidden_size

    @property
    def num_layers(self) -> int:
        return config_value(self.encoder.config, "num_hidden_layers", "n_layers", "num_layers")

    @property
    def num_heads(self) -> int:
        return config_value(self.encoder.config, "num_attention_heads", "n_heads")

    @property
    def max_tokens(self) -> int | None:
        """Longest input the model accepts, in tokens (None: no limit known).

        The smaller of the tokenizer's ``model_max_length`` and the position embeddings'
        limit (:func:`~xkd.models.hf.position_limit`, which knows RoBERTa-style offsets).
        """
        limits = [n for n in (position_limit(self.encoder), tokenizer_limit(self.tokenizer)) if n]
        return min(limits) if limits else None

    def fit_length(self, max_length: int) -> int:
        """``max_length`` capped at :attr:`max_tokens`."""
        limit = self.max_tokens
        return min(int(max_length), limit) if limit else int(max_length)

    def dims(self, num_labels: int | None = None) -> ModelDims:
        """Sizes for ``DistillLoss.setup``; ``num_labels`` defaults to ``len(self.labels)``."""
        return ModelDims(
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            num_labels=len(self.labels) if num_labels is None else int(num_labels),
            embedding_size=self.embedding_size,
        )

    @property
    def device(self) -> torch.device:
        return next(self.encoder.parameters()).device

    # -- head and pooling ----------------------------------------------------------------------
    @property
    def has_head(self) -> bool:
        """Whether the model predicts labels (a linear head or its own classifier)."""
        return self.head is not None or self.classifier is not None

    def set_labels(self, labels: Sequence[str] | None, seed: int | None = None) -> None:
        """Replace the head by a fresh ``Linear(hidden, len(labels))`` (None/[]: no head).

        Weights ~ N(0, initializer_range) (0.02 by default), bias 0; ``seed`` makes them
        reproducible without touching the global RNG. An own classifier is discarded.
        """
        labels = _label_list(labels)
        self.classifier = None
        self.labels = labels
        if not labels:
            self.head = None
            return
        ref = next(self.encoder.parameters())
        head = nn.Linear(self.embedding_size, len(labels))
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        std = float(getattr(self.encoder.config, "initializer_range", 0.02) or 0.02)
        with torch.no_grad():
            head.weight.copy_(torch.randn(head.weight.shape, generator=gen) * std)
            head.bias.zero_()
        self.head = head.to(device=ref.device, dtype=ref.dtype)

    def reorder_labels(self, labels: Sequence[str]) -> None:
        """Keep the head (or own classifier) and give its logits in the order of ``labels``,
        the same names as :attr:`labels` in any order."""
        labels = _label_list(labels)
        if sorted(labels) != sorted(self.labels) or not self.has_head:
            raise ConfigError(f"labels {labels} are not a reordering of the head's {self.labels}")
        if self.classifier is not None:
            self.classifier.reorder(labels)
        else:
            rows = [self.labels.index(x) for x in labels]
            with torch.no_grad():
                self.head.weight.copy_(self.head.weight[rows].clone())
                self.head.bias.copy_(self.head.bias[rows].clone())
        self.labels = labels

    def set_pooling(self, pooling: str) -> None:
        """Change the pooling (a new attention pooler starts as mean pooling). A
        sentence-transformers pipeline (Dense, Normalize) goes too: it was made for the old one."""
        check_pooling(pooling)
        if pooling == self.pooling:
            return
        dense = bool(self.sentence_modules)
        self.pooling, self.normalize, self.own_pooling = pooling, False, False
        self.sentence_modules = nn.ModuleList()
        if dense and self.head is not None:
            self.set_labels(self.labels)  # the head was fitted on the Dense output
        if pooling == "attention":
            ref = next(self.encoder.parameters())
            self.pooler = AttentionPooling(self.hidden_size).to(device=ref.device, dtype=ref.dtype)
        else:
            self.pooler = None

    def set_sentence_modules(self, modules: Sequence[nn.Module]) -> None:
        """Replace the modules applied after the pooling (a sentence-transformers pipeline)."""
        ref = next(self.encoder.parameters())
        self.sentence_modules = nn.ModuleList(modules).to(device=ref.device, dtype=ref.dtype)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The sentence vector: pooling, then :attr:`sentence_modules` in order."""
        if self.pooling == "attention":
            assert self.pooler is not None
            pooled = self.pooler(hidden, attention_mask)
        else:
            pooled = pool_tokens(self.pooling, hidden, attention_mask)
        for module in self.sentence_modules:
            pooled = module(pooled)
        return pooled

    def sentence_embedding(self, pooled: torch.Tensor) -> torch.Tensor:
        """The model's sentence embedding from ``pooled`` (L2-normalised if :attr:`normalize`)."""
        return F.normalize(pooled, p=2, dim=-1) if self.normalize else pooled

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
        previous = attn_implementation(self.encoder)
        switch = output_attentions and previous not in (None, "eager")
        if switch:
            self.encoder.set_attn_implementation("eager")
        logits = None
        try:
            if self.classifier is not None:
                out, hidden, logits = self.classifier(**kwargs)
            else:
                out = self.encoder(**kwargs)
                hidden = out.last_hidden_state
        finally:
            if switch:
                self.encoder.set_attn_implementation(previous)
        pooled = self.pool(hidden, attention_mask)
        if self.head is not None:
            logits = self.head(pooled)
        hs = tuple(out.hidden_states) if output_hidden_states and out.hidden_states else None
        att = tuple(out.attentions) if output_attentions and out.attentions else None
        if output_attentions and att is None:
            raise ModelError(
                f"{type(self.encoder).__name__} returned no attention weights; "
                "attention losses need an encoder that supports output_attentions"
            )
        return EncoderOutput(logits=logits, pooled=pooled, hidden_states=hs, attentions=att)

    # -- tokenization and inference ------------------------------------------------------------
    def tokenize(self, texts: Sequence[str], max_length: int = 64) -> dict[str, torch.Tensor]:
        """Padded, truncated batch: ``{"input_ids", "attention_mask"}`` as long tensors (CPU).

        ``token_type_ids`` are left out (all zeros for single sentences = the encoder default),
        so the dict can be passed straight to :meth:`forward` with ``model(**batch)``.
        """
        enc = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.fit_length(max_length),
            return_tensors="pt",
        )
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def infer(
        self,
        texts: Sequence[str],
        *,
        max_length: int,
        batch_size: int = 64,
        outputs: Sequence[str] = INFER_OUTPUTS,
        hidden_layers: Sequence[int] = (),
        attention_layers: Sequence[int] = (),
        token_dtype: torch.dtype = torch.float32,
        progress: Callable[[int, int], None] | None = None,
    ) -> InferenceResult:
        """Run the model on ``texts`` for inference; rows come back in the order of ``texts``.

        Texts are sorted by length in characters (stable), cut into batches of ``batch_size``,
        each tokenized by :meth:`tokenize` (padded to its longest text, truncated to
        ``max_length``) and run under ``torch.inference_mode`` in eval mode (no dropout); the
        model's previous train/eval mode is restored afterwards, also on error.

        ``outputs``: which of ``logits`` and ``pooled`` to return; ``hidden_layers`` (0 =
        embeddings, i = block i) and ``attention_layers`` (1-based blocks): the token states
        and attention maps to return, cast to ``token_dtype``. ``progress(done, total)`` is
        called after each batch.
        """
        wanted = set(outputs)
        if wanted - set(INFER_OUTPUTS):
            raise ValueError(f"outputs={list(outputs)}: use a subset of {list(INFER_OUTPUTS)}")
        if "logits" in wanted and not self.has_head:
            raise ModelError("this model has no classification head; call set_labels() first")
        hidden_layers, attention_layers = list(hidden_layers), list(attention_layers)
        n_layers = self.num_layers
        for layer in hidden_layers:
            if not 0 <= layer <= n_layers:
                raise ModelError(f"hidden layer {layer} does not exist: use 0..{n_layers}")
        for layer in attention_layers:
            if not 1 <= layer <= n_layers:
                raise ModelError(f"attention layer {layer} does not exist: use 1..{n_layers}")
        texts = [str(t) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        size = max(1, int(batch_size))
        need_h, need_a = bool(hidden_layers), bool(attention_layers)
        parts: dict[str, list[torch.Tensor]] = {name: [] for name in wanted}
        hidden: dict[int, list] = {layer: [None] * len(texts) for layer in hidden_layers}
        attentions: dict[int, list] = {layer: [None] * len(texts) for layer in attention_layers}
        device = self.device
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(order), size):
                    idx = order[start : start + size]
                    enc = self.tokenize([texts[i] for i in idx], max_length=max_length)
                    enc = {k: v.to(device) for k, v in enc.items()}
                    out = self(**enc, output_hidden_states=need_h, output_attentions=need_a)
                    for name in parts:
                        parts[name].append(getattr(out, name).float().cpu())
                    lengths = enc["attention_mask"].sum(dim=1).tolist() if need_h or need_a else ()
                    for r, n in enumerate(lengths):  # token features of the real tokens only
                        i, n = idx[r], int(n)
                        for layer in hidden_layers:
                            state = out.hidden_states[layer][r, :n]
                            hidden[layer][i] = state.to(token_dtype).cpu()
                        for layer in attention_layers:
                            att = out.attentions[layer - 1][r, :, :n, :n]
                            attentions[layer][i] = att.to(token_dtype).cpu()
                    if progress is not None:
                        progress(min(start + size, len(order)), len(order))
        finally:
            self.train(was_training)
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.as_tensor(order, dtype=torch.long)] = torch.arange(len(order))
        widths = {"logits": len(self.labels), "pooled": self.embedding_size}
        rows = {
            name: torch.cat(chunks)[inverse] if chunks else torch.zeros(0, widths[name])
            for name, chunks in parts.items()
        }
        return InferenceResult(
            logits=rows.get("logits"),
            pooled=rows.get("pooled"),
            hidden=hidden,
            attentions=attentions,
        )

    def encode(self, texts: Sequence[str], batch_size=64, max_length=64) -> np.ndarray:
        """Sentence embeddings ``[N, E]`` (float32, :meth:`sentence_embedding`), in input order."""
        out = self.infer(texts, max_length=max_length, batch_size=batch_size, outputs=["pooled"])
        return self.sentence_embedding(out.pooled).numpy()

    def predict_logits(self, texts: Sequence[str], batch_size=64, max_length=64) -> np.ndarray:
        """Head logits ``[N, C]`` (float32), in the order of ``texts``."""
        out = self.infer(texts, max_length=max_length, batch_size=batch_size, outputs=["logits"])
        return out.logits.numpy()

    # -- saving and loading (:mod:`xkd.models.saving`) ----------------------------------------
    def save_pretrained(self, directory: str | Path, card: dict | None = None) -> Path:
        """Write encoder, tokenizer, head and config to ``directory`` (safetensors, no pickle)."""
        from xkd.models.saving import save_model

        return save_model(self, directory, card=card)

    @classmethod
    def from_pretrained(cls, directory: str | Path, trust_remote_code: bool = False) -> XKDModel:
        """Load a folder written by :meth:`save_pretrained`."""
        from xkd.models.saving import load_saved

        return load_saved(cls, directory, trust_remote_code=trust_remote_code)


def _label_list(labels: Sequence[str] | None) -> list[str]:
    if isinstance(labels, str):
        raise ConfigError(f"labels must be a list of names, got the string '{labels}'")
    labels = [str(x) for x in (labels or [])]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"labels contain duplicates: {labels}")
    return labels
