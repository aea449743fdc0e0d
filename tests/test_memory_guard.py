"""Issue 40 item 6: memory stays flat over images of ever-new sizes. oneDNN's primitive cache is
capped (each new shape compiles new primitives) and the heap is trimmed after each CPU call;
training/benchmarks/memory.py measures the effect over 1,000 calls (docs/performance.md)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import im2im_core
from im2im_core import device


def test_importing_the_library_caps_onednn_cache_but_keeps_the_users_value():
    code = "import os, im2im_core; print(os.environ['ONEDNN_PRIMITIVE_CACHE_CAPACITY'])"
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "64"
    out = subprocess.run([sys.executable, "-c", code], env={**env, "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "7"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "7"


def test_every_cpu_translate_hands_freed_memory_back(monkeypatch, tiny_generator_ckpt):
    from im2im_core import inference

    calls = []
    monkeypatch.setattr(inference, "release_memory", lambda: calls.append(1))
    tr = im2im_core.load(tiny_generator_ckpt, device="cpu")
    for size in (40, 52, 64):
        tr.translate(np.random.default_rng(size).random((size, size + 3)).astype(np.float32))
    assert len(calls) == 3


def test_the_heap_trim_finds_glibc_here_and_can_be_turned_off(monkeypatch):
    import platform

    if not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"):
        pytest.skip("malloc_trim is glibc's")
    monkeypatch.delenv("IM2IM_KEEP_MALLOC", raising=False)
    device._libc.cache_clear()
    assert device._libc() is not None
    device.release_memory()
    monkeypatch.setenv("IM2IM_KEEP_MALLOC", "1")
    device._libc.cache_clear()
    assert device._libc() is None
    device._libc.cache_clear()
