"""Keep triton from crashing napari.

Mesa's software OpenGL (llvmpipe, what napari draws with under Xvfb, in VMs and remote desktops)
and triton each bring their own LLVM; importing triton once napari's GL context exists kills the
process with a segmentation fault. torch imports triton lazily, on the first optimizer step or the
first model built on the meta device, so Train or Load in a dock could bring napari down.
Without an NVIDIA driver triton has nothing to run on, so it is kept out (torch then sees no
triton). With one, it is imported now if no LLVM is loaded yet (safe before GL), else kept out.
"""
from __future__ import annotations

import os
import sys


def _llvm_loaded() -> bool:
    try:
        with open("/proc/self/maps") as f:
            return "libLLVM" in f.read()
    except OSError:
        return False


def guard_triton() -> None:
    if "triton" in sys.modules:
        return
    if os.path.exists("/proc/driver/nvidia/version") and not _llvm_loaded():
        try:
            import triton  # noqa: F401
        except ImportError:
            pass
        return
    sys.modules["triton"] = None  # `import triton` now raises ImportError, which torch handles
