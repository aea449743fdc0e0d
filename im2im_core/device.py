"""Device and precision facts shared by training and inference: which device, and whether it has bf16."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from .errors import InputError


def select_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" picks CUDA when present; asking for CUDA without it is a clear error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"device {device!r} is not a device; use 'auto', 'cpu' or 'cuda[:N]'") from None
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"device {device!r} is not supported; use 'auto', 'cpu' or 'cuda[:N]'")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' requested but no CUDA GPU is available; use device='cpu' or 'auto'")
    return dev


@lru_cache(maxsize=None)
def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and _cpu_has_bf16()
