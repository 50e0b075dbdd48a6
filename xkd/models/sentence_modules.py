"""What a sentence-transformers model (``modules.json``) asks for that xkd does not apply yet.

xkd reads such a model as its Transformer encoder plus ``model.pooling``. When the model's own
pipeline would give embeddings of another direction (another pooling mode, or Dense layers),
:func:`sentence_modules_note` returns one line that says so, so the run never substitutes
quietly. Normalize alone only changes the length of the embeddings, not their direction.
Nothing here touches the network: Hub ids are looked up in the local cache only.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["sentence_modules_note"]

_MODES = (
    "cls_token",
    "mean_tokens",
    "max_tokens",
    "mean_sqrt_len_tokens",
    "weightedmean_tokens",
    "lasttoken",
)


def _file(name: str, filename: str) -> Path | None:
    from xkd.models.hf import looks_like_path, minilm_path

    if name.strip().lower() == "minilm":
        path = minilm_path() / filename
    elif looks_like_path(name) or Path(name).expanduser().is_dir():
        path = Path(name).expanduser() / filename
    else:
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(name, filename)
        except Exception:  # noqa: BLE001 - a malformed id or cache: nothing to report
            return None
        path = Path(found) if isinstance(found, str) else None
    return path if path is not None and path.is_file() else None


def _read(path: Path | None) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path is not None else None
    except (OSError, ValueError):
        return None


def _pooling_mode(name: str, module_path: str) -> str | None:
    config = _read(_file(name, f"{module_path}/config.json".lstrip("/")))
    if not isinstance(config, dict):
        return None
    if isinstance(config.get("pooling_mode"), str):
        return config["pooling_mode"]
    modes = [m for m in _MODES if config.get(f"pooling_mode_{m}")]
    return "+".join(modes) if modes else None


def sentence_modules_note(name: str, pooling: str) -> str | None:
    """One line when ``name``'s own sentence pipeline differs in direction from what xkd computes
    (its encoder's hidden states pooled with ``pooling``); ``None`` otherwise."""
    modules = _read(_file(name, "modules.json"))
    if not isinstance(modules, list):
        return None
    types = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules if isinstance(m, dict)]
    mode = next(
        (
            _pooling_mode(name, str(m.get("path", "")))
            for m in modules
            if isinstance(m, dict) and str(m.get("type", "")).endswith("Pooling")
        ),
        None,
    )
    own = {"cls_token": "cls", "cls": "cls", "mean_tokens": "mean", "mean": "mean"}.get(mode or "")
    dense = "Dense" in types
    if own == pooling and not dense:
        return None
    parts = (
        [f"{mode or 'unknown'} pooling"]
        + (["Dense"] if dense else [])
        + (["Normalize"] if "Normalize" in types else [])
    )
    advice = [f"set model.pooling={own} to match its pooling"] if own and own != pooling else []
    skipped = [t for t in ("Dense", "Normalize") if t in types]
    if skipped:
        advice.append(f"its {' and '.join(skipped)} module(s) are not applied")
    return (
        f"'{name}' is a sentence-transformers model ({' + '.join(parts)}); xkd reads it as its "
        f"encoder with {pooling} pooling, so its sentence embeddings differ from "
        f"SentenceTransformer.encode: {'; '.join(advice)}"
    )
