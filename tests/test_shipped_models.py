"""The checkpoints we ship: small, offline, self-describing, and better than their baselines on
held-out slices they never saw in training."""
import numpy as np
import pytest

import im2im_core
from im2im_core.checkpoint import read_metadata
from im2im_core.inference import shipped_models

EXPECTED = ("mri_recon_1dgauss", "mri_recon_poisson2d", "inpaint_mri", "sr_x2_mri", "sr_x4_mri",
            "pix2pix_t1w_t2w", "pix2pix_t2w_t1w", "cyclegan_t1w_t2w", "unit_t1w_t2w", "attention_t1w_t2w",
            "munit_t1w_t2w", "bicyclegan_t1w_t2w", "bicyclegan_t2w_t1w", "gan_cls_shapes", "sisgan_shapes")


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


#: issue 18's targets on real scans: >= 0.5 dB over tuned TV, its SSIM matched (no slack)
PSNR_MARGIN, SSIM_SLACK = 0.5, 0.0
#: background bounds on [0, 1]: RMS error and stripe amplitude (zero-filling: 0.026-0.037 / 0.020-0.025)
BACKGROUND_RMS, STRIPES = 0.005, 0.005


@pytest.fixture(scope="module")
def real_recon():
    """The shipped 1D model and validation-tuned TV on two held-out real scans of other subjects
    (ANTsPy r30, DIPY's coronal slice) at 20% 1D Gaussian sampling."""
    from im2im_core.data.real_scans import real_slices
    from im2im_core.mri import make_mask
    from im2im_core.mri.cs import tv_reconstruction
    from im2im_core.mri.fft import fft2c_np, ifft2c_np

    name = "mri_recon_1dgauss"
    prov = read_metadata(shipped_models()[name])["provenance"]
    tv_settings = prov["classical_tuned_on_validation_at_20%"]["TV"]  # written by the benchmark
    picked = [s for s in real_slices("test") if s[0] in ("ants_r30slice", "dipy_t1_coronal")]
    gt, heads = np.stack([s[1] for s in picked]), np.stack([s[2] for s in picked])
    mask = make_mask("gaussian1d", gt.shape[-2:], ratio=0.2, seed=1234)
    k = fft2c_np(gt.astype(np.complex64)) * mask
    rec = np.clip(im2im_core.load(name, device="cpu").translate(gt, mask=mask, data_consistency=True,
                                                                out_dtype="float32"), 0, 1)
    tv = np.clip(np.stack([tv_reconstruction(x, mask, **tv_settings) for x in k]), 0, 1)
    return {"gt": gt, "head": heads, "model": rec, "TV": tv, "zero-filled": np.abs(ifft2c_np(k))}


def test_recon_on_real_scans_beats_tuned_tv(real_recon):
    """PSNR and SSIM, whole image and in the head, against TV with the weight and iteration count
    the benchmark chose on the validation subjects."""
    from training.benchmarks.common import mean_metrics, slice_metrics

    r = real_recon
    score = {m: [slice_metrics(p, g, h) for p, g, h in zip(r[m], r["gt"], r["head"])]
             for m in ("model", "TV", "zero-filled")}
    mean = {m: mean_metrics(v) for m, v in score.items()}
    print({m: {k: round(float(x), 3) for k, x in d.items()} for m, d in mean.items()})
    assert mean["model"]["psnr"] > mean["zero-filled"]["psnr"] + 8
    for key in ("psnr", "psnr_mask"):
        assert mean["model"][key] > mean["TV"][key] + PSNR_MARGIN, key
    for key in ("ssim", "ssim_mask"):
        assert mean["model"][key] >= mean["TV"][key] - SSIM_SLACK, key


def test_poisson_recon_on_real_scans_beats_zero_filling():
    """The 2D Poisson-disc model: far above zero-filling on the real scans, but (docs/benchmarks.md)
    below tuned TV, whose ideal case incoherent 2D sampling is; so the bound is zero-filling's."""
    from im2im_core.data.real_scans import real_slices
    from im2im_core.mri import make_mask
    from im2im_core.mri.fft import fft2c_np, ifft2c_np

    picked = [s for s in real_slices("test") if s[0] in ("ants_r30slice", "dipy_t1_coronal")]
    gt = np.stack([s[1] for s in picked])
    mask = make_mask("poisson2d", gt.shape[-2:], ratio=0.2, seed=1234)
    zf = np.abs(ifft2c_np(fft2c_np(gt.astype(np.complex64)) * mask))
    rec = im2im_core.load("mri_recon_poisson2d", device="cpu").translate(gt, mask=mask, out_dtype="float32")
    print(f"Poisson 20%: zero-filled {_psnr(zf, gt):.2f} dB, model {_psnr(rec, gt):.2f} dB")
    assert _psnr(rec, gt) > _psnr(zf, gt) + 10


def test_recon_background_has_no_structured_artefacts(real_recon):
    """On skull-stripped scans (an empty background) the model's background error and stripes stay
    below TV's and below fixed bounds; zero-filling, the failure case, is far above both."""
    from training.benchmarks.reconstruction import background_error

    r = real_recon
    for i in range(len(r["gt"])):
        rms, stripe = background_error(r["model"][i], r["gt"][i], r["head"][i])
        rms_tv, stripe_tv = background_error(r["TV"][i], r["gt"][i], r["head"][i])
        rms_zf, stripe_zf = background_error(r["zero-filled"][i], r["gt"][i], r["head"][i])
        print(f"slice {i}: background RMS {rms:.4f} (TV {rms_tv:.4f}, zero-filled {rms_zf:.4f}); "
              f"stripes {stripe:.4f} (TV {stripe_tv:.4f}, zero-filled {stripe_zf:.4f})")
        assert rms <= BACKGROUND_RMS and rms <= rms_tv
        assert stripe <= STRIPES and stripe <= stripe_tv
        assert rms_zf > 3 * BACKGROUND_RMS and stripe_zf > 3 * STRIPES  # the check can fail


#: issue 18's inpainting target: >= 1 dB PSNR in the holes over biharmonic, and a lower L1
INPAINT_MARGIN_DB = 1.0


@pytest.mark.parametrize("ratio", [(0.1, 0.2), (0.2, 0.4)])
def test_inpaint_beats_biharmonic_on_real_scans(ratio):
    """On the held-out 256 px real scans of other subjects (never trained on), known pixels come
    back bit-identical and the holes are filled >= 1 dB better than scikit-image's biharmonic
    inpainting, with a lower L1 (the benchmark's nine test slices: +1.6 dB at both ratios)."""
    from skimage.restoration import inpaint_biharmonic

    from im2im_core.data.holes import random_hole_mask
    from im2im_core.data.real_scans import by_size, real_slices

    gt = np.stack([s[1] for s in by_size(real_slices("test"))[(256, 256)]]).astype(np.float32)
    rng = np.random.default_rng(11)
    holes = np.stack([random_hole_mask(gt.shape[-2:], rng, ratio) for _ in gt for _ in range(2)]).astype(bool)
    gt = np.repeat(gt, 2, axis=0)
    holed = np.where(holes, 0, gt).astype(np.float32)
    out = im2im_core.load("inpaint_mri", device="cpu").translate(holed, mask=holes, out_dtype="float32",
                                                                 window="slice")
    assert np.array_equal(out[~holes], holed[~holes])
    bih = np.stack([inpaint_biharmonic(x, h) for x, h in zip(holed, holes)])
    err = {"model": np.clip(out, 0, 1)[holes] - gt[holes], "biharmonic": np.clip(bih, 0, 1)[holes] - gt[holes]}
    psnr = {k: 10 * np.log10(1 / np.mean(e ** 2)) for k, e in err.items()}
    assert psnr["model"] >= psnr["biharmonic"] + INPAINT_MARGIN_DB, psnr
    assert np.abs(err["model"]).mean() < np.abs(err["biharmonic"]).mean()


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
