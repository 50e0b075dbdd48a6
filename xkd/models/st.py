"""Sentence-transformers layouts: reading a model's own sentence pipeline and writing one.

A sentence-transformers model (a folder or Hub id with ``modules.json``) is a Transformer
followed by modules that turn token states into its sentence embedding. xkd reads:

- ``Pooling`` (``1_Pooling/config.json``): ``pooling_mode`` (``mean``, ``cls``, ``max``,
  ``mean_sqrt_len_tokens``), or the older ``pooling_mode_*_tokens`` booleans; other modes
  (``weightedmean``, ``lasttoken``, several at once) are refused with a :class:`ModelError`;
- ``Dense``: ``Linear(in_features, out_features, bias)`` + activation (Tanh, Identity, GELU,
  ReLU, Sigmoid), weights from the module folder's ``model.safetensors`` or
  ``pytorch_model.bin`` (read with ``weights_only=True``);
- ``Normalize``: L2 normalisation;
- ``sentence_bert_config.json``: ``max_seq_length`` (inputs are cut there, as
  sentence-transformers does).

The pooling and the Dense modules give xkd's ``pooled`` vector; a trailing Normalize becomes the
model's ``normalize`` flag (see :mod:`xkd.models.model`), so its sentence embedding equals
``SentenceTransformer.encode``. :func:`write_st_layout` writes the same files next to a saved
model, so ``SentenceTransformer(folder)`` rebuilds the pipeline.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from xkd.errors import ModelError

log = logging.getLogger(__name__)

MODULES_FILE = "modules.json"
#: sentence-transformers pooling modes xkd computes -> xkd's pooling name
ST_POOLINGS = {"mean": "mean", "cls": "cls", "max": "max", "mean_sqrt_len_tokens": "mean_sqrt_len"}
_LEGACY_MODES = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "torch.nn.modules.activation.Tanh": nn.Tanh,
    "torch.nn.modules.linear.Identity": nn.Identity,
    "torch.nn.modules.activation.GELU": nn.GELU,
    "torch.nn.modules.activation.ReLU": nn.ReLU,
    "torch.nn.modules.activation.Sigmoid": nn.Sigmoid,
}
_DEFAULT_ACTIVATION = "torch.nn.modules.activation.Tanh"


class DenseLayer(nn.Module):
    """A sentence-transformers ``Dense`` module: ``activation(W x + b)``."""

    def __init__(self, in_features: int, out_features: int, *, bias: bool, activation: str) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ModelError(
                f"Dense activation '{activation}' is not supported; xkd supports "
                + ", ".join(a.rsplit(".", 1)[-1] for a in ACTIVATIONS)
            )
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.bias, self.activation_name = bool(bias), activation
        self.linear = nn.Linear(self.in_features, self.out_features, bias=self.bias)
        self.activation = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.linear(x))

    def config(self) -> dict[str, Any]:
        """The module's ``config.json`` in the sentence-transformers format."""
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias,
            "activation_function": self.activation_name,
        }


class NormalizeLayer(nn.Module):
    """A sentence-transformers ``Normalize`` module: ``x / ||x||_2``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, p=2, dim=-1)

    def config(self) -> dict[str, Any]:
        return {}


@dataclass
class STPipeline:
    """What a sentence-transformers model does after its Transformer."""

    pooling: str  # an xkd pooling name (values of ST_POOLINGS)
    modules: list[nn.Module] = field(default_factory=list)  # DenseLayer / NormalizeLayer, in order
    normalize: bool = False  # a trailing Normalize (not in ``modules``)
    transformer_path: str = ""  # the Transformer's folder inside the model ("" = the root)
    max_seq_length: int | None = None


Fetch = Callable[[str], Path | None]  # a file of the model (relative path) -> local path or None


def folder_fetch(folder: Path) -> Fetch:
    """:data:`Fetch` for a local folder."""
    return lambda name: (folder / name) if (folder / name).is_file() else None


def hub_fetch(repo_id: str, *, download: bool) -> Fetch:
    """:data:`Fetch` for a Hub id: the local cache, then (``download``) the Hub; None if absent."""

    def fetch(name: str) -> Path | None:
        from huggingface_hub import hf_hub_download

        for local_only in (True, False) if download else (True,):
            try:
                return Path(hf_hub_download(repo_id, name, local_files_only=local_only))
            except Exception:  # noqa: BLE001 - not cached / not in the repo / no network
                continue
        return None

    return fetch


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(
            f"{path}: not valid JSON ({e}); re-save the sentence-transformers model"
        ) from e


def read_st_pipeline(fetch: Fetch, source: str) -> STPipeline | None:
    """The pipeline of the model whose files ``fetch`` finds (None: no ``modules.json``).

    Unsupported modules or pooling modes are a :class:`ModelError` naming them, never replaced.
    """
    modules_file = fetch(MODULES_FILE)
    if modules_file is None:
        return None
    entries = _json(modules_file)
    if not isinstance(entries, list) or not entries:
        raise ModelError(f"{modules_file}: expected a list of modules")
    kinds = [str(e.get("type", "")).rsplit(".", 1)[-1] for e in entries]
    if kinds[0] != "Transformer":
        raise ModelError(
            f"sentence-transformers model '{source}' starts with a {kinds[0]} module; xkd supports "
            "models made of Transformer, Pooling, Dense and Normalize modules"
        )
    pipeline = STPipeline(pooling="mean", transformer_path=str(entries[0].get("path") or ""))
    bert_config = fetch(_join(pipeline.transformer_path, "sentence_bert_config.json"))
    if bert_config is not None:
        value = _json(bert_config).get("max_seq_length")
        pipeline.max_seq_length = int(value) if value else None
    pooled = False
    for entry, kind in zip(entries[1:], kinds[1:], strict=True):
        path = str(entry.get("path") or "")
        if kind == "Pooling" and not pooled:
            pipeline.pooling = _pooling(fetch, path, source)
            pooled = True
        elif kind == "Dense" and pooled:
            pipeline.modules.append(_dense(fetch, path, source))
        elif kind == "Normalize" and pooled:
            _check_io(fetch, path, source, kind)
            pipeline.modules.append(NormalizeLayer())
        else:
            raise ModelError(
                f"sentence-transformers model '{source}': module {entry.get('type')} "
                f"(modules.json, path '{path}') is not supported here; xkd supports Transformer, "
                "one Pooling, then Dense and Normalize modules"
            )
    while pipeline.modules and isinstance(pipeline.modules[-1], NormalizeLayer):
        pipeline.modules.pop()
        pipeline.normalize = True
    if not pooled:
        raise ModelError(
            f"sentence-transformers model '{source}' has no Pooling module in modules.json; "
            "xkd needs one to know its sentence embedding"
        )
    return pipeline


def _join(folder: str, name: str) -> str:
    return f"{folder.rstrip('/')}/{name}" if folder else name


def _pooling(fetch: Fetch, path: str, source: str) -> str:
    file = fetch(_join(path, "config.json"))
    config = _json(file) if file is not None else {}
    if "pooling_mode" in config:
        mode = config["pooling_mode"]
        modes = [mode] if isinstance(mode, str) else list(mode)
    else:
        modes = [m for key, m in _LEGACY_MODES.items() if config.get(key)] or ["mean"]
    supported = ", ".join(ST_POOLINGS)
    if len(modes) != 1:
        raise ModelError(
            f"sentence-transformers model '{source}': pooling modes {modes} together "
            f"({_join(path, 'config.json')}) are not supported; xkd supports one of {supported}"
        )
    if modes[0] not in ST_POOLINGS:
        raise ModelError(
            f"sentence-transformers model '{source}': pooling mode '{modes[0]}' "
            f"({_join(path, 'config.json')}) is not supported; xkd supports {supported}"
        )
    if config.get("include_prompt") is False:
        log.info("%s: include_prompt=false has no effect (xkd adds no prompts)", source)
    return ST_POOLINGS[modes[0]]


def _check_io(fetch: Fetch, path: str, source: str, kind: str) -> dict:
    file = fetch(_join(path, "config.json")) if path else None
    config = _json(file) if file is not None else {}
    for key in ("module_input_name", "module_output_name"):
        if config.get(key) not in (None, "sentence_embedding"):
            raise ModelError(
                f"sentence-transformers model '{source}': {kind} module '{path}' has "
                f"{key}={config[key]!r}; xkd supports modules on the sentence embedding only"
            )
    return config


def _dense(fetch: Fetch, path: str, source: str) -> DenseLayer:
    config = _check_io(fetch, path, source, "Dense")
    if config.get("use_residual"):
        raise ModelError(
            f"sentence-transformers model '{source}': Dense module '{path}' uses a residual "
            "connection, which xkd does not support"
        )
    try:
        layer = DenseLayer(
            config["in_features"],
            config["out_features"],
            bias=config.get("bias", True),
            activation=config.get("activation_function") or _DEFAULT_ACTIVATION,
        )
    except KeyError as e:
        raise ModelError(f"{source}: {_join(path, 'config.json')} lacks {e}") from e
    state = _dense_weights(fetch, path, source)
    try:
        layer.load_state_dict({k: v for k, v in state.items() if k.startswith("linear.")})
    except RuntimeError as e:
        raise ModelError(f"{source}: Dense module '{path}': weights do not fit ({e})") from e
    return layer


def _dense_weights(fetch: Fetch, path: str, source: str) -> dict[str, torch.Tensor]:
    file = fetch(_join(path, "model.safetensors"))
    if file is not None:
        from safetensors.torch import load_file

        return load_file(str(file))
    file = fetch(_join(path, "pytorch_model.bin"))
    if file is not None:
        return torch.load(str(file), map_location="cpu", weights_only=True)
    raise ModelError(
        f"sentence-transformers model '{source}': Dense module '{path}' has no weights "
        "(looked for model.safetensors and pytorch_model.bin)"
    )


# ---------------------------------------------------------------------------------------------
# Writing


def modules_config(modules: list[nn.Module]) -> list[dict[str, Any]]:
    """The sentence modules as JSON records (for ``xkd_config.json``)."""
    out = []
    for module in modules:
        if isinstance(module, DenseLayer):
            out.append({"type": "dense", **module.config()})
        else:
            out.append({"type": "normalize"})
    return out


def modules_from_config(records: list[dict[str, Any]]) -> list[nn.Module]:
    """The inverse of :func:`modules_config` (weights still to be loaded)."""
    modules: list[nn.Module] = []
    for r in records:
        if r.get("type") == "dense":
            modules.append(
                DenseLayer(
                    r["in_features"],
                    r["out_features"],
                    bias=r.get("bias", True),
                    activation=r.get("activation_function") or _DEFAULT_ACTIVATION,
                )
            )
        elif r.get("type") == "normalize":
            modules.append(NormalizeLayer())
        else:
            raise ModelError(f"unknown sentence module {r!r} in xkd_config.json; re-save the model")
    return modules


_ST_MODE = {v: k for k, v in ST_POOLINGS.items()}


def write_st_layout(
    path: Path,
    *,
    pooling: str,
    modules: list[nn.Module],
    normalize: bool,
    hidden_size: int,
    max_seq_length: int | None,
) -> bool:
    """Write ``modules.json``, ``1_Pooling/`` and the Dense/Normalize folders into ``path``.

    Returns False (and writes nothing) for a pooling sentence-transformers cannot rebuild
    (``attention``).
    """
    from safetensors.torch import save_file

    if pooling not in _ST_MODE:
        return False
    st = "sentence_transformers.models."
    entries = [{"idx": 0, "name": "0", "path": "", "type": st + "Transformer"}]
    pool_dir = path / "1_Pooling"
    pool_dir.mkdir(exist_ok=True)
    pool_config = {
        "word_embedding_dimension": int(hidden_size),
        **{key: mode == _ST_MODE[pooling] for key, mode in _LEGACY_MODES.items()},
        "include_prompt": True,
    }
    (pool_dir / "config.json").write_text(json.dumps(pool_config, indent=2) + "\n")
    entries.append({"idx": 1, "name": "1", "path": "1_Pooling", "type": st + "Pooling"})
    for i, module in enumerate(list(modules) + ([NormalizeLayer()] if normalize else []), start=2):
        kind = "Dense" if isinstance(module, DenseLayer) else "Normalize"
        folder = path / f"{i}_{kind}"
        folder.mkdir(exist_ok=True)
        (folder / "config.json").write_text(json.dumps(module.config(), indent=2) + "\n")
        if isinstance(module, DenseLayer):
            tensors = {
                k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()
            }
            save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
        entries.append({"idx": i, "name": str(i), "path": folder.name, "type": st + kind})
    (path / MODULES_FILE).write_text(json.dumps(entries, indent=2) + "\n")
    bert = {
        "max_seq_length": int(max_seq_length) if max_seq_length else 512,
        "do_lower_case": False,
    }
    (path / "sentence_bert_config.json").write_text(json.dumps(bert, indent=2) + "\n")
    return True
