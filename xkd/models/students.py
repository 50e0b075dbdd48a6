"""Students: the parsed ``student`` setting (:class:`StudentSpec`) and :func:`build_student`.

Forms of the ``student`` setting, parsed in one place (:meth:`StudentSpec.parse`):

- ``from-teacher:K``: K of the teacher's blocks, spread evenly (see :func:`layer_indices`),
  with its embeddings, pooling (and a sentence-transformers teacher's Dense/Normalize
  modules), head and tokenizer;
- ``scratch``: a random small BERT with a tokenizer trained on the training texts
  (``model.scratch_layers`` x ``model.scratch_hidden``);
- anything else is a model name for :func:`~xkd.models.loading.load_model`: ``minilm``, a
  local folder or a Hugging Face model id.

Every builder returns its model in eval mode (dropout off); the training loop calls
``model.train()``.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from xkd.errors import ConfigError, ModelError
from xkd.models.classifier import NativeClassifier, native_classifier
from xkd.models.hf import block_list, looks_like_path, supports_kwarg
from xkd.models.loading import load_model
from xkd.models.model import XKDModel
from xkd.models.pooling import check_pooling
from xkd.models.wordpiece import train_tokenizer

STUDENT_FORMS = (
    "`from-teacher:K` (K of the teacher's layers), `scratch`, `minilm`, a local model folder "
    "or a Hugging Face model id"
)


@dataclass(frozen=True)
class StudentSpec:
    """The ``student`` setting, parsed: what :func:`build_student` builds.

    ``kind`` is ``from-teacher`` (``layers`` = K, the number of teacher blocks to copy),
    ``scratch``, or ``model`` (``name``: a model name for ``load_model``).
    ``str(spec)`` gives the setting back (``from-teacher:3``, ``scratch`` or the name).
    """

    kind: Literal["from-teacher", "scratch", "model"]
    layers: int | None = None
    name: str | None = None

    @classmethod
    def parse(cls, text: str | StudentSpec) -> StudentSpec:
        """Parse the ``student`` setting; a malformed one is a :class:`ConfigError` naming it."""
        if isinstance(text, StudentSpec):
            return text
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"student={text!r} is empty: use {STUDENT_FORMS}")
        spec = text.strip()
        low = spec.lower()
        if low.startswith("from-teacher"):
            m = re.fullmatch(r"from-teacher:(\d+)", low)
            if not m or int(m.group(1)) < 1:
                raise ConfigError(
                    f"student='{spec}' is malformed: write `from-teacher:K` with K a whole number "
                    f"from 1 to the teacher's number of layers; accepted forms: {STUDENT_FORMS}"
                )
            return cls("from-teacher", layers=int(m.group(1)))
        if low == "scratch":
            return cls("scratch")
        if low.startswith("scratch:"):
            raise ConfigError(
                f"student='{spec}' is malformed: `scratch` takes no argument (set "
                f"model.scratch_layers / scratch_hidden); accepted forms: {STUDENT_FORMS}"
            )
        if ":" in spec and not looks_like_path(spec) and not Path(spec).exists():
            raise ConfigError(f"student='{spec}' is not recognised: use {STUDENT_FORMS}")
        return cls("model", name=spec)

    @property
    def from_teacher(self) -> bool:
        """Whether the student is cut from the teacher (shares its tokenizer and head)."""
        return self.kind == "from-teacher"

    def __str__(self) -> str:
        if self.kind == "from-teacher":
            return f"from-teacher:{self.layers}"
        return "scratch" if self.kind == "scratch" else str(self.name)


def layer_indices(num_layers: int, k: int) -> list[int]:
    """Teacher blocks (0-based) a ``k``-layer student copies: ``round(linspace(0, L-1, k))``.

    Rounding is half-up; the first and the last block are always kept (k >= 2), e.g.
    L=6: k=2 -> [0, 5], k=3 -> [0, 3, 5], k=4 -> [0, 2, 3, 5]; k=1 -> [0].
    """
    if not 1 <= k <= num_layers:
        raise ConfigError(f"cannot take {k} of {num_layers} layers: use 1 <= K <= {num_layers}")
    if k == 1:
        return [0]
    step = (num_layers - 1) / (k - 1)
    return [int(math.floor(i * step + 0.5)) for i in range(k)]


PER_LAYER_SETTINGS = ("layer_types",)  # config lists with one entry per block (ModernBERT)


def student_from_teacher(teacher: XKDModel, k: int) -> XKDModel:
    """A ``k``-layer copy of ``teacher``: embeddings, blocks :func:`layer_indices`, pooling, head.

    Everything is copied (no tensor is shared with the teacher); the tokenizer is a copy too.
    Per-block config lists (:data:`PER_LAYER_SETTINGS`) keep the copied blocks' entries.
    A teacher whose blocks cannot be copied is a :class:`ConfigError` naming ``student``.
    """
    n = teacher.num_layers
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise ConfigError(
            f"student='from-teacher:{k}': K must be a whole number from 1 to {n} (the "
            f"teacher's layers); use from-teacher:K with 1 <= K <= {n}"
        )
    indices = layer_indices(n, k)
    config = copy.deepcopy(teacher.encoder.config)
    config.num_hidden_layers = k
    for name in PER_LAYER_SETTINGS:
        value = getattr(config, name, None)
        if isinstance(value, list | tuple) and len(value) == n:
            setattr(config, name, [value[i] for i in indices])
    cls = type(teacher.encoder)
    kwargs = {}
    if supports_kwarg(cls, "add_pooling_layer"):
        kwargs["add_pooling_layer"] = getattr(teacher.encoder, "pooler", None) is not None
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            encoder = cls(config, **kwargs)
        t_prefix, _ = block_list(teacher.encoder)
        s_prefix, _ = block_list(encoder)
        new_state = _copied_state(
            teacher.encoder.state_dict(), encoder, t_prefix, s_prefix, indices
        )
        encoder.load_state_dict(new_state, strict=True)
    except (ModelError, ValueError, TypeError, KeyError, RuntimeError) as e:
        if isinstance(e, RuntimeError) and "memory" in str(e).lower():
            raise  # out of memory is reported by the experiment with the settings to lower
        raise ConfigError(
            f"student='from-teacher:{k}': the blocks of {cls.__name__} cannot be copied "
            f"({str(e).splitlines()[0] if str(e) else type(e).__name__}); use `scratch`, a "
            "model id or a local folder as the student"
        ) from e
    ref = next(teacher.encoder.parameters())
    encoder.to(device=ref.device, dtype=ref.dtype)
    try:
        tokenizer = copy.deepcopy(teacher.tokenizer)
    except Exception:  # pragma: no cover - tokenizers that cannot be copied are immutable anyway
        tokenizer = teacher.tokenizer
    student = XKDModel(encoder, tokenizer, labels=None, pooling=teacher.pooling)
    # an own classifier (a Hub ...ForSequenceClassification) is not copied: no linear head
    student.labels = list(teacher.labels) if teacher.head is not None else []
    student.head = copy.deepcopy(teacher.head)
    student.pooler = copy.deepcopy(teacher.pooler)
    student.sentence_modules = copy.deepcopy(teacher.sentence_modules)
    student.normalize = teacher.normalize
    student.own_pooling = teacher.own_pooling
    return student.eval()


def _copied_state(t_state: dict, encoder, t_prefix: str, s_prefix: str, indices: list[int]) -> dict:
    """The student encoder's state dict, each block ``i`` from the teacher's ``indices[i]``."""
    new_state = {}
    for key in encoder.state_dict():
        src = key
        if key.startswith(s_prefix + "."):
            number, rest = key[len(s_prefix) + 1 :].split(".", 1)
            src = f"{t_prefix}.{indices[int(number)]}.{rest}"
        if src not in t_state:
            raise ModelError(f"cannot copy '{key}' from the teacher: it has no '{src}'")
        new_state[key] = t_state[src].detach().clone()
    return new_state


def random_bert(
    tokenizer,
    *,
    labels: Sequence[str] | None,
    layers: int,
    hidden: int,
    heads: int,
    max_length: int,
    pooling: str = "mean",
    seed: int = 0,
    intermediate: int | None = None,
) -> XKDModel:
    """A randomly initialised ``BertModel`` (no pooler) around ``tokenizer``."""
    from transformers import BertConfig, BertModel

    check_pooling(pooling)
    for name, value in (("layers", layers), ("hidden", hidden), ("heads", heads)):
        if int(value) < 1:
            raise ConfigError(f"{name}={value} must be >= 1")
    if hidden % heads:
        raise ConfigError(f"hidden={hidden} must be a multiple of heads={heads}")
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=int(hidden),
        num_hidden_layers=int(layers),
        num_attention_heads=int(heads),
        intermediate_size=int(intermediate or 4 * hidden),
        max_position_embeddings=int(max_length),
        type_vocab_size=2,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = BertModel(config, add_pooling_layer=False)
    tokenizer.model_max_length = int(max_length)
    return XKDModel(encoder, tokenizer, labels=labels, pooling=pooling, seed=seed).eval()


def scratch_model(
    texts: Sequence[str],
    *,
    labels: Sequence[str] | None,
    layers: int = 4,
    hidden: int = 256,
    heads: int = 4,
    vocab_size: int = 16000,
    max_length: int = 128,
    pooling: str = "mean",
    seed: int = 0,
) -> XKDModel:
    """A random BERT (``layers`` x ``hidden``, ``heads``) with a tokenizer trained on ``texts``.

    ``max_length`` is the number of position embeddings (longest input in tokens).
    """
    tokenizer = train_tokenizer(texts, vocab_size=vocab_size, max_length=max_length)
    return random_bert(
        tokenizer,
        labels=labels,
        layers=layers,
        hidden=hidden,
        heads=heads,
        max_length=max_length,
        pooling=pooling,
        seed=seed,
    )


def build_student(
    spec: StudentSpec | str,
    teacher: XKDModel,
    texts: Sequence[str],
    *,
    labels: Sequence[str] | None,
    seed: int = 0,
    scratch_layers: int = 4,
    scratch_hidden: int = 256,
    vocab_size: int = 16000,
    pooling: str | None = None,
    trust_remote_code: bool = False,
    max_length: int = 512,
) -> XKDModel:
    """The student named by ``spec`` (a :class:`StudentSpec` or its text) with a head over ``labels``.

    - ``from-teacher:K``: :func:`student_from_teacher`; keeps the teacher's head when the
      labels match, else a fresh head;
    - ``scratch``: :func:`scratch_model` on ``texts`` (heads = hidden/64, at least 1;
      ``max_length`` position embeddings);
    - a model name: ``load_model`` (a fresh head unless its head or own classifier already
      predicts these labels, in any order; an own classifier over other labels is replaced,
      with a line in ``student.notes``).

    ``pooling`` None keeps the teacher's pooling (and a sentence-transformers teacher's Dense and
    Normalize) for ``from-teacher``; for a model name, its own (else ``mean``).
    """
    if pooling is not None:
        check_pooling(pooling)
    spec = StudentSpec.parse(spec)
    labels = list(labels) if labels is not None else None
    if spec.kind == "from-teacher":
        student = student_from_teacher(teacher, spec.layers)
        if pooling is not None:
            student.set_pooling(pooling)
        if labels is not None and labels != student.labels:
            student.set_labels(labels, seed=seed)
        return student
    if spec.kind == "scratch":
        return scratch_model(
            texts,
            labels=labels,
            layers=scratch_layers,
            hidden=scratch_hidden,
            heads=max(1, scratch_hidden // 64),
            vocab_size=vocab_size,
            max_length=max_length,
            pooling=pooling or "mean",
            seed=seed,
        )
    student = load_model(spec.name, pooling=pooling, trust_remote_code=trust_remote_code)
    if labels is None or (student.has_head and labels == student.labels):
        return student
    if student.classifier is not None and sorted(labels) == sorted(student.labels):
        student.reorder_labels(labels)  # its own classifier, for the data's labels
        return student
    if student.classifier is not None:
        student.notes.append(
            f"student '{spec.name}' is a classifier over {', '.join(student.labels)}, not the "
            f"data's labels: it starts with a new linear head (model.student_head=native gives "
            "it a new classifier of its own family)"
        )
    student.set_labels(labels, seed=seed)
    return student


def use_native_head(student: XKDModel, labels: Sequence[str], *, seed: int = 0) -> None:
    """Give ``student`` its family's own classifier for ``labels`` (``model.student_head:
    native``; :func:`~xkd.models.classifier.native_classifier`) instead of the linear head."""
    labels = [str(x) for x in labels]
    if student.classifier is not None and student.labels == labels:
        return  # already its own classifier, for these labels
    hf_model = native_classifier(student.encoder, labels, seed=seed)
    student.classifier = NativeClassifier(hf_model)
    student.encoder = hf_model.base_model
    student.head = None
    student.labels = labels
