"""The checkpoints we ship: small, offline, self-describing, and better than their baselines on
held-out slices they never saw in training."""
import numpy as np
import pytest

import im2im_core
from im2im_core.checkpoint import read_metadata
from im2im_core.inference import shipped_models

EXPECTED = ("mri_recon_1dgauss", "mri_recon_poisson2d", "inpaint_mri", "sr_x2_mri", "sr_x4_mri",
            "pix2pix_t1w_t2w", "pix2pix_t2w_t1w", "cyclegan_t1w_t2w", "unit_t1w_t2w", "attention_t1w_t2w",
            "munit_t1w_t2w", "bicyclegan_t1w_t2w", "bicyclegan_t2w_t1w")


@pytest.fixture(scope="module")
def heldout():
    from im2im_core.demo import _slices

    return {"template": _slices("template", 128, 3), "T1w": _slices("T1w", 64, 3)[0], "T2w": _slices("T2w", 64, 3)[0]}


def _psnr(a, b):
    from skimage.metrics import peak_signal_noise_ratio

    return np.mean([peak_signal_noise_ratio(g.astype(np.float64), np.clip(p, 0, 1).astype(np.float64), data_range=1.0)
                    for p, g in zip(a, b)])


def _ssim(a, b):
    from skimage.metrics import structural_similarity

    return np.mean([structural_similarity(g.astype(np.float64), np.clip(p, 0, 1).astype(np.float64), data_range=1.0)
                    for p, g in zip(a, b)])


@pytest.mark.parametrize("name", EXPECTED)
def test_shipped_checkpoint_is_small_and_documented(name):
    path = shipped_models().get(name)
    assert path is not None, f"{name} is not shipped in im2im_core/weights"
    assert path.stat().st_size <= 10 * 1024 * 1024
    prov = read_metadata(path)["provenance"]
    assert prov["metrics"] and prov["command"].startswith("python -m training.benchmarks.")
    assert prov["iterations"] > 0


#: TV settings tuned on validation slices per mask at 20% (docs/benchmarks.md, CS-MRI table)
TUNED_TV = {"gaussian1d": {"weight": 0.001, "iterations": 200}, "poisson2d": {"weight": 0.0005, "iterations": 100}}


def test_recon_against_zero_filling_and_tuned_tv(heldout):
    """At 20% sampling on held-out slices: >= 5 dB over zero-filling; the 1D Gaussian model beats
    validation-tuned TV, the Poisson model does not and must stay within 2 dB of it. Measured on
    these three slices (ZF / TV / model): 1D Gaussian 19.55 / 25.41 / 26.31 dB, Poisson 27.24 /
    38.26 / 37.85 dB; on the benchmark's 31: 17.72 / 24.61 / 24.92 and 25.08 / 38.79 / 37.35 dB."""
    from im2im_core.mri import make_mask
    from im2im_core.mri.cs import tv_reconstruction
    from im2im_core.mri.fft import fft2c_np, ifft2c_np

    gt, _ = heldout["template"]
    for name, kind in (("mri_recon_1dgauss", "gaussian1d"), ("mri_recon_poisson2d", "poisson2d")):
        mask = make_mask(kind, gt.shape[-2:], ratio=0.2, seed=99)
        k = fft2c_np(gt.astype(np.complex64)) * mask
        zf = np.abs(ifft2c_np(k))
        tv = np.stack([tv_reconstruction(x, mask, **TUNED_TV[kind]) for x in k])
        rec = im2im_core.load(name, device="cpu").translate(gt, mask=mask, data_consistency=True, out_dtype="float32")
        ours, classical = _psnr(rec, gt), _psnr(tv, gt)
        print(f"{name}: zero-filled {_psnr(zf, gt):.2f}, tuned TV {classical:.2f}, model {ours:.2f} dB")
        assert ours > _psnr(zf, gt) + 5, name
        assert ours > classical if kind == "gaussian1d" else ours > classical - 2.0, (name, ours, classical)


def test_inpaint_beats_biharmonic_in_the_holes(heldout):
    """Known pixels come back bit-identical, and the holes are filled better than by
    scikit-image's biharmonic inpainting, the classical fill the model starts from (11% lower
    L1 on these held-out slices when this test was written; the bound leaves room for
    platform float differences)."""
    from skimage.restoration import inpaint_biharmonic

    from im2im_core.data.holes import random_hole_mask

    gt, _ = heldout["template"]
    rng = np.random.default_rng(11)
    holes = np.stack([random_hole_mask(gt.shape[-2:], rng, (0.2, 0.4)) for _ in gt]).astype(bool)
    holed = np.where(holes, 0, gt).astype(np.float32)
    out = im2im_core.load("inpaint_mri", device="cpu").translate(holed, mask=holes, out_dtype="float32")
    assert np.array_equal(out[~holes], holed[~holes])
    bih = np.stack([inpaint_biharmonic(x, h) for x, h in zip(holed, holes)])
    model_err = np.abs(np.clip(out, 0, 1) - gt)[holes].mean()
    assert model_err < 0.95 * np.abs(np.clip(bih, 0, 1) - gt)[holes].mean()
    mean_fill = np.stack([np.where(h, x[~h & (x > 0)].mean(), x) for x, h in zip(holed, holes)])
    assert model_err < 0.6 * np.abs(mean_fill - gt)[holes].mean()


def test_super_resolution_beats_bicubic(heldout):
    from skimage.transform import resize

    gt, _ = heldout["template"]
    low = np.stack([resize(g, (64, 64), order=3, anti_aliasing=True) for g in gt]).astype(np.float32)
    bic = np.stack([resize(x, (128, 128), order=3) for x in low])
    sr = im2im_core.load("sr_x2_mri", device="cpu").translate(low, out_dtype="float32")
    assert sr.shape == gt.shape
    assert _psnr(sr, gt) > _psnr(bic, gt) + 1


def test_attention_model_returns_masks(heldout):
    res = im2im_core.load("attention_t1w_t2w", device="cpu").translate(heldout["T1w"], return_attention=True)
    att = res["attention"]
    assert att.shape == heldout["T1w"].shape and 0 <= att.min() and att.max() <= 1
    assert att.std() > 0.01  # a real mask, not a constant
