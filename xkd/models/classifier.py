"""A Hub sequence classifier kept whole, so that its own classifier gives a teacher's logits.

A checkpoint whose config names a ``...ForSequenceClassification`` architecture (a teacher
already fine-tuned for a task) is loaded with its classifier (:func:`~xkd.models.hf.load_hf_encoder`).
Classifiers differ by family (BERT: pooler + Linear; RoBERTa: dense + tanh + Linear on the
first token; DeBERTa: a context pooler; ...), so none is rebuilt: :class:`NativeClassifier`
runs the whole HF model once and reads both its ``logits`` and its base model's
``last_hidden_state`` (a forward hook on the base model), from which
:class:`~xkd.models.model.XKDModel` pools the sentence vector as for any encoder.

Its labels are the config's ``id2label`` in id order; :meth:`NativeClassifier.reorder` puts
the logits in another order of the same labels (the data's).

:func:`native_classifier` builds a fresh classifier of an encoder's own family around that
encoder's weights (``model.student_head: native``): a student trained with it is saved as a
``...ForSequenceClassification`` that ``AutoModelForSequenceClassification`` and
``pipeline("text-classification")`` load with the same predictions.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from xkd.errors import ModelError

__all__ = ["NativeClassifier", "classifier_labels", "is_classifier", "native_classifier"]


def is_classifier(model: nn.Module) -> bool:
    """Whether ``model`` is an HF ``...ForSequenceClassification`` around a base model."""
    base = getattr(model, "base_model", model)
    return type(model).__name__.endswith("ForSequenceClassification") and base is not model


def classifier_labels(config: Any) -> list[str]:
    """The classifier's label names, output by output (``id2label`` in id order)."""
    id2label = {int(k): str(v) for k, v in (getattr(config, "id2label", None) or {}).items()}
    n = int(getattr(config, "num_labels", None) or len(id2label))
    return [id2label.get(i, f"LABEL_{i}") for i in range(n)]


class NativeClassifier(nn.Module):
    """An HF sequence-classification model whose forward gives logits and token states.

    ``model.base_model`` is the encoder :class:`~xkd.models.model.XKDModel` reads (the same
    module object, so its parameters are shared, not copied). ``labels``: the outputs' names
    in the current order (see :meth:`reorder`).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if not is_classifier(model):
            raise ModelError(f"{type(model).__name__} is not a ...ForSequenceClassification model")
        self.model = model
        self.own_labels = classifier_labels(model.config)
        self.order = list(range(len(self.own_labels)))

    @property
    def labels(self) -> list[str]:
        return [self.own_labels[i] for i in self.order]

    def reorder(self, labels: Sequence[str]) -> None:
        """Give the logits in the order of ``labels`` (the same names as the classifier's)."""
        labels = [str(x) for x in labels]
        if sorted(labels) != sorted(self.own_labels):
            raise ModelError(
                f"the classifier predicts {self.own_labels}; it cannot be reordered to {labels}"
            )
        self.order = [self.own_labels.index(x) for x in labels]

    def forward(self, **kwargs: Any) -> tuple[Any, torch.Tensor, torch.Tensor]:
        """``(hf_output, last_hidden_state, logits)`` of one pass of the whole model.

        ``hf_output`` carries ``hidden_states``/``attentions`` when asked for; ``logits``
        [B, C] are in the order of :attr:`labels`.
        """
        captured: list[Any] = []
        hook = self.model.base_model.register_forward_hook(lambda _m, _a, out: captured.append(out))
        try:
            out = self.model(**kwargs)
        finally:
            hook.remove()
        if not captured:  # pragma: no cover - a classifier that bypasses its base model
            raise ModelError(f"{type(self.model).__name__} did not run its base model")
        base = captured[-1]
        hidden = base.last_hidden_state if hasattr(base, "last_hidden_state") else base[0]
        logits = out.logits
        if self.order != list(range(len(self.order))):
            logits = logits[:, self.order]
        return out, hidden, logits


def native_classifier(encoder: nn.Module, labels: Sequence[str], *, seed: int = 0) -> nn.Module:
    """A ``...ForSequenceClassification`` of ``encoder``'s family for ``labels``: the encoder's
    weights (copied) as its base model, a fresh classifier (and pooler, where the family's
    classifier uses one the encoder lacks) seeded by ``seed``; ``id2label`` in its config. A
    pooler the family's classifier does not have (RoBERTa, XLM-R, MPNet) is left out, as in the
    family's own classification checkpoints."""
    from transformers import AutoModelForSequenceClassification

    labels = [str(x) for x in labels]
    config = copy.deepcopy(encoder.config)
    config.num_labels = len(labels)
    config.id2label = dict(enumerate(labels))
    config.label2id = {name: i for i, name in enumerate(labels)}
    config.architectures = None
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            model = AutoModelForSequenceClassification.from_config(config)
    except ValueError as e:
        raise ModelError(
            f"{type(encoder).__name__} has no ...ForSequenceClassification class in transformers "
            f"({str(e).splitlines()[0]}); use model.student_head=linear"
        ) from e
    missing, unexpected = model.base_model.load_state_dict(encoder.state_dict(), strict=False)
    # a pooler the family's classifier builds without (RoBERTa, MPNet) or the encoder lacks
    missing = [k for k in missing if not k.startswith("pooler.")]
    unexpected = [k for k in unexpected if not k.startswith("pooler.")]
    if missing or unexpected:
        raise ModelError(
            f"{type(model).__name__}: the encoder's weights do not fit its base model "
            f"(missing {missing[:3]}, unexpected {list(unexpected)[:3]}); use "
            "model.student_head=linear"
        )
    ref = next(encoder.parameters())
    return model.to(device=ref.device, dtype=ref.dtype).train(encoder.training)
