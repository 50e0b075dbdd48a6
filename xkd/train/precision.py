"""Which arithmetic a training run uses: ``train.mixed_precision`` resolved for a device.

``auto`` means bf16 autocast on a GPU that supports it (fp16 on one that does not), and on a CPU
with native bf16 matrix instructions (AVX512-BF16 or AMX, read from ``/proc/cpuinfo``); plain
fp32 on other CPUs, where bf16 is emulated and slower. Weights, gradients and the optimizer stay
fp32; only the matrix products of the forward and backward passes run in bf16. Profiled on a
2-core Zen 4 CPU: a bf16 matrix product runs 5.4 times as fast as an fp32 one, a parallel-KD
step on SIB-200 sentences 2.1 times, and the demo's numbers are the same (docs/speed.md).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

__all__ = [
    "MIXED_PRECISION",
    "cpu_has_native_bf16",
    "resolve_mixed_precision",
    "run_precision",
    "trains_on_cpu",
]

MIXED_PRECISION = ("auto", "no", "bf16", "fp16")
#: /proc/cpuinfo flags of CPUs that multiply bf16 matrices natively
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU has native bf16 matrix instructions (False where it cannot be read)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[-1].split())
            return any(flag in flags for flag in NATIVE_BF16_FLAGS)
    return False


def resolve_mixed_precision(setting: str, *, cpu: bool) -> str:
    """``no``, ``bf16`` or ``fp16`` for ``train.mixed_precision = setting`` on a CPU or a GPU."""
    if setting != "auto":
        return setting
    if cpu:
        return "bf16" if cpu_has_native_bf16() else "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def trains_on_cpu(device: str) -> bool:
    """Whether ``train.device = device`` trains on the CPU."""
    return device == "cpu" or (device == "auto" and not torch.cuda.is_available())


def run_precision(cfg) -> str:
    """The arithmetic a run with training settings ``cfg`` (a ``TrainConfig``) uses."""
    return resolve_mixed_precision(cfg.mixed_precision, cpu=trains_on_cpu(cfg.device))
