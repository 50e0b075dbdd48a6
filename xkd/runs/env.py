"""What ``env.json`` records: versions and hardware, never secrets."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import sys
from typing import Any

from xkd.runs.files import utc_now

__all__ = ["environment_info", "redact"]

# "TOKEN" but not "TOKENIZER(S)" (the tokenizers package and TOKENIZERS_PARALLELISM are harmless)
_SECRET_RE = re.compile(r"TOKEN(?!IZER)|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
_ENV_PREFIXES = (
    "XKD_",
    "HF_",
    "HUGGINGFACE_",
    "TRANSFORMERS_",
    "CUDA_",
    "PYTORCH_",
    "TORCH_",
    "OMP_",
    "MKL_",
    "ACCELERATE_",
    "TOKENIZERS_",
)
_PACKAGES = (
    "xkd",
    "torch",
    "transformers",
    "tokenizers",
    "accelerate",
    "datasets",
    "safetensors",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "umap-learn",
)


def redact(obj: Any, secrets: tuple[str, ...] = ()) -> Any:
    """Copy of ``obj`` without secret-looking keys or secret values.

    Mapping keys containing TOKEN (not TOKENIZER), KEY, SECRET, PASSWORD, PASSWD or
    CREDENTIAL (any case) are dropped, and string
    values containing any of ``secrets`` are replaced by ``"<redacted>"``.
    """
    if isinstance(obj, dict):
        return {str(k): redact(v, secrets) for k, v in obj.items() if not _SECRET_RE.search(str(k))}
    if isinstance(obj, (list, tuple)):
        return [redact(v, secrets) for v in obj]
    if isinstance(obj, str) and any(s and s in obj for s in secrets):
        return "<redacted>"
    return obj


def _secret_values() -> tuple[str, ...]:
    return tuple(v for k, v in os.environ.items() if _SECRET_RE.search(k) and len(v) >= 4)


def environment_info(extra: dict | None = None, *, probe_gpu: bool | None = None) -> dict:
    """``env.json``: Python, platform, CPU count, package versions, GPU name.

    Package versions come from ``importlib.metadata`` (nothing is imported). The GPU is
    queried through torch only when ``probe_gpu`` is true, or when it is ``None`` and
    torch is already imported. ``extra`` is merged in. Keys containing TOKEN, KEY,
    SECRET or PASSWORD are dropped and values of such environment variables redacted
    everywhere. Returns what was written.
    """
    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    env = {
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "packages": packages,
        "gpu": _gpu_info(probe_gpu),
        "environment": {
            k: v
            for k, v in sorted(os.environ.items())
            if k.startswith(_ENV_PREFIXES) and not _SECRET_RE.search(k)
        },
        "written": utc_now(),
    }
    if extra:
        env.update(extra)
    env = redact(env, _secret_values())
    return env


def _gpu_info(probe_gpu: bool | None) -> dict | None:
    if probe_gpu is False or (probe_gpu is None and "torch" not in sys.modules):
        return None
    try:
        import torch  # lazy: only when asked or already loaded

        if not torch.cuda.is_available():
            return {"cuda": False}
        return {
            "cuda": True,
            "cuda_version": torch.version.cuda,
            "count": torch.cuda.device_count(),
            "names": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        }
    except Exception as exc:  # noqa: BLE001 - env info must never break a run
        return {"error": f"{type(exc).__name__}: {exc}"}
