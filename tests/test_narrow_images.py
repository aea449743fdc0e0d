"""Issue 40 item 2: on thin and tiny images the default precision is deterministic, finite and
equals fp32 (bf16 kernels on feature maps a few pixels wide were not reproducible), for one
shipped model of every architecture; larger images keep bf16."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import im2im_core
from im2im_core.inference import narrow, shipped_models

SKIP = {"gan_cls"}  # draws from text; it takes no image


def _one_per_family() -> list[str]:
    from im2im_core.checkpoint import read_metadata

    seen: dict[str, str] = {}
    for name, path in sorted(shipped_models().items()):
        seen.setdefault(read_metadata(path)["family"], name)
    return [n for f, n in sorted(seen.items()) if f not in SKIP]


def _inputs(tr, shape):
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    opts = {}
    if tr.family == "sisgan":
        x = np.random.default_rng(0).random((*shape, 3)).astype(np.float32)
        opts = {"text": "a red circle"}
    if tr.family == "inpaint":
        mask = np.zeros(shape, bool)
        mask[shape[0] // 3: shape[0] // 3 + 2, shape[1] // 3: shape[1] // 3 + 2] = True
        opts = {"mask": mask}
    return x, opts


@pytest.mark.parametrize("name", _one_per_family())
def test_thin_and_tiny_images_are_deterministic_finite_and_fp32(name):
    tr = im2im_core.load(name, device="cpu")
    for shape in [(150, 20), (7, 300), (3, 3)]:
        x, opts = _inputs(tr, shape)
        if tr.family == "mri_recon":
            opts = {"mask_kind": "gaussian1d", "seed": 0}
        runs = [tr.translate(x, out_dtype="float32", **opts) for _ in range(2)]
        fp32 = tr.translate(x, out_dtype="float32", precision="fp32", **opts)
        for y in runs:
            assert y.shape == fp32.shape and np.isfinite(y).all(), (name, shape)
            np.testing.assert_array_equal(y, runs[0])
            np.testing.assert_allclose(y, fp32, atol=1e-5, err_msg=f"{name} {shape}")


def test_the_narrow_rule():
    assert narrow(20, 32) and narrow(3, 4) and narrow(60, 4) and narrow(90, 32)
    assert not narrow(64, 4) and not narrow(181, 32) and not narrow(256, 64)
    if not im2im_core.inference.bf16_supported(torch.device("cpu")):
        pytest.skip("no bf16 on this CPU: auto is fp32 everywhere")
    tr = im2im_core.load("pix2pix_t1w_t2w", device="cpu")
    x = np.random.default_rng(1).random((192, 192)).astype(np.float32)
    auto, fp32 = (tr.translate(x, out_dtype="float32", precision=p) for p in ("auto", "fp32"))
    assert np.abs(auto - fp32).max() > 1e-4  # a normal image keeps bf16
