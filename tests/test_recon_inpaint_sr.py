"""MRI reconstruction, inpainting and super-resolution families: behaviour on tiny real images (CPU)."""
import json
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio as psnr

from im2im_core import checkpoint
from im2im_core.config import to_dict
from im2im_core.data.holes import box_mask, free_form_mask, random_hole_mask
from im2im_core.engine.config import OptimConfig, TrainConfig
from im2im_core.errors import ConfigError, InputError
from im2im_core.inference import load
from im2im_core.models import build, config_from_dict
from im2im_core.models.inpaint import InpaintConfig
from im2im_core.models.mri_recon import MRIReconConfig, consistent_image
from im2im_core.mri.consistency import conjugate_completion
from im2im_core.models.super_resolution import SuperResolutionConfig
from im2im_core.mri import fft2c, make_mask
from im2im_core.mri.fft import ORIENTATIONS, ifft2c, orient, unorient
from im2im_core.nets import DiscriminatorConfig, GeneratorConfig


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def mni_slice():
    """One real 64x64 T1w MNI152 slice in [0, 1] (held-out test slab, mid slice)."""
    from im2im_core.data.mni import mri_translation_dataset

    slices = mri_translation_dataset(size=64, split="test")["A"]
    return slices[len(slices) // 2]


@pytest.fixture(scope="module")
def train_slices():
    """Four 64x64 T1w slices from the training groups (disjoint from `mni_slice`), in [-1, 1]."""
    from im2im_core.data.mni import mri_translation_dataset

    slices = mri_translation_dataset(size=64, split="train")["A"]
    pick = np.linspace(len(slices) * 0.3, len(slices) * 0.7, 4).astype(int)
    return torch.from_numpy(slices[pick] * 2 - 1)[:, None].float()


def _tiny_recon_config(**kw):
    """A small DAGAN: 4-level U-Net, 2-layer PatchGAN (CPU-test sized)."""
    return MRIReconConfig(generator=GeneratorConfig(arch="unet", num_downs=4, ngf=8, norm="batch"),
                          discriminator=DiscriminatorConfig(n_layers=2, ndf=8, norm="batch"),
                          mask_kind="gaussian1d", ratio=0.3, **kw)


def _tiny_inpaint_config():
    """A small gated generator and SN-PatchGAN (CPU-test sized)."""
    return InpaintConfig(ngf=8, n_down=2, dilations=(2, 4),
                         discriminator=DiscriminatorConfig(n_layers=2, ndf=8, norm="none", spectral=True))


def _tiny_sr_config(scale=2, **kw):
    """A 2-block, 16-wide SRResNet (CPU-test sized)."""
    return SuperResolutionConfig(scale=scale, n_blocks=2, nf=16, **kw)


def _train(model, batch, steps, lr=1e-3):
    """Run `steps` train_step calls the way the engine does; returns the per-step logs."""
    torch.manual_seed(0)
    model.train()
    model.optimizers = model.configure_optimizers(TrainConfig(optim=OptimConfig(lr=lr)))
    logs = [model.train_step(batch, s) for s in range(steps)]
    return model.eval(), logs


@pytest.fixture(scope="module")
def trained_recon(mni_slice, train_slices):
    """A recon model trained (random mask every step) on four training slices; plus the held-out
    test slice in [-1, 1], which it never saw."""
    torch.manual_seed(0)
    x = torch.from_numpy(mni_slice * 2 - 1)[None, None].float()
    t0 = time.perf_counter()
    model, logs = _train(build(_tiny_recon_config()), {"A": train_slices}, steps=150)
    print(f"recon training: 150 steps in {time.perf_counter() - t0:.1f}s")
    return model, x, logs


def _gray_image(size=64):
    """A real photo (skimage camera, bundled) resized to size x size, in [-1, 1]."""
    from skimage.data import camera
    from skimage.transform import resize

    img = resize(camera().astype(np.float32) / 255.0, (size, size), anti_aliasing=True)
    return torch.from_numpy(img * 2 - 1)[None, None].float()


# ------------------------------------------------------------------------------ MRI recon
def test_recon_beats_zero_filled_on_real_slice(trained_recon, mni_slice):
    """The point of the family: >= 3 dB over zero-filling, on a mask the model never saw."""
    model, x, _ = trained_recon
    with torch.no_grad():
        out = model.inference_forward(x, "AtoB", mask_kind="gaussian1d", ratio=0.3, seed=12345,
                                      return_zero_filled=True)
    recon = (out["image"][0, 0].numpy() + 1) / 2
    zf = out["zero_filled"][0, 0].numpy()
    p_zf, p_rec = psnr(mni_slice, zf, data_range=1.0), psnr(mni_slice, recon, data_range=1.0)
    print(f"PSNR zero-filled {p_zf:.2f} dB, reconstruction {p_rec:.2f} dB")
    assert p_rec >= p_zf + 3.0


def test_recon_return_zero_filled_matches_physics(trained_recon):
    """The zero-filled map and mask shown in napari are exactly |ifft(M F x01)| and the requested mask."""
    model, x, _ = trained_recon
    mask = make_mask("gaussian1d", (64, 64), ratio=0.3, seed=3)
    with torch.no_grad():
        out = model.inference_forward(x, "AtoB", mask=mask, return_zero_filled=True)
    assert set(out) == {"image", "zero_filled", "mask"}
    assert torch.equal(out["mask"][0, 0], torch.from_numpy(mask).float())
    k = fft2c((x + 1) / 2) * torch.from_numpy(mask)
    expected = torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(k, dim=(-2, -1)), norm="ortho"),
                                  dim=(-2, -1)).abs()
    assert torch.allclose(out["zero_filled"], expected.clamp(0, 1), atol=1e-6)
    assert out["image"].shape == x.shape and out["image"].abs().max() <= 1


def test_recon_already_zero_filled_input_gives_same_result(trained_recon):
    """simulate=False on the zero-filled image (use case b) reproduces the simulate=True path."""
    model, x, _ = trained_recon
    mask = make_mask("gaussian1d", (64, 64), ratio=0.3, seed=5)
    with torch.no_grad():
        sim = model.inference_forward(x, "AtoB", mask=mask, return_zero_filled=True)
        zf = sim["zero_filled"] * 2 - 1
        given = model.inference_forward(zf, "AtoB", mask=mask, simulate=False)
        plain = model.inference_forward(zf, "AtoB")  # no mask: x is zero-filled, network only
    assert torch.allclose(given, sim["image"], atol=1e-5)
    assert torch.allclose(plain, sim["image"], atol=1e-5)


def test_recon_data_consistency(trained_recon):
    """Complex DC image: measured samples kept exactly. Magnitude output: within the Parseval bound."""
    model, x, _ = trained_recon
    mask = make_mask("gaussian1d", (64, 64), ratio=0.3, seed=7)
    m = torch.from_numpy(mask)
    x01 = (x + 1) / 2
    k_meas = fft2c(x01) * m
    with torch.no_grad():
        recon = model.inference_forward(x, "AtoB", mask=mask)
        dc = model.inference_forward(x, "AtoB", mask=mask, data_consistency=True)
    c = consistent_image((recon + 1) / 2, k_meas, m)  # hard DC, complex path
    k_c = fft2c(c)
    assert (k_c - k_meas)[..., m].abs().max() <= 1e-5 * k_meas.abs().max()  # exact up to FFT round-off
    assert torch.allclose(k_c[..., ~m], fft2c((recon + 1) / 2)[..., ~m], atol=1e-5)  # unsampled: network's
    # the returned magnitude image is |c| mapped back to [-1, 1] (clipped)
    assert torch.allclose(dc, (c.abs() * 2 - 1).clamp(-1, 1), atol=1e-6)
    # taking |.| breaks exactness; Parseval bounds the sampled-k-space error by || out01 - c ||
    out01 = (dc + 1) / 2
    err = lambda img: (fft2c(img) - k_meas)[..., m].abs().pow(2).sum().sqrt()  # noqa: E731
    assert err(out01) <= (out01 - c).abs().pow(2).sum().sqrt() + 1e-4
    # empirical, on this slice (measured ratio ~0.5): DC brings the sampled k-space closer to the
    # measurement; the rest is the imaginary part |.| drops (this line mask is not conjugate-symmetric)
    assert err(out01) < 0.75 * err((recon + 1) / 2)
    # soft DC: sampled points move to (k_pred + lam k_meas) / (1 + lam)
    c_soft = consistent_image((recon + 1) / 2, k_meas, m, lam=1.0)
    k_pred = fft2c((recon + 1) / 2)
    assert torch.allclose(fft2c(c_soft)[..., m], ((k_pred + k_meas) / 2)[..., m], atol=1e-5)
    with torch.no_grad():
        soft = model.inference_forward(x, "AtoB", mask=mask, data_consistency=True, dc_lambda=1.0)
    assert torch.allclose(soft, (c_soft.abs() * 2 - 1).clamp(-1, 1), atol=1e-6)


def test_recon_option_errors(trained_recon):
    """Contradictory or incomplete options fail with messages that say what to pass."""
    model, x, _ = trained_recon
    mask = np.ones((64, 64), bool)
    with pytest.raises(InputError, match="not both"):
        model.inference_forward(x, "AtoB", mask=mask, mask_kind="gaussian2d")
    with pytest.raises(InputError, match="needs the sampling mask"):
        model.inference_forward(x, "AtoB", data_consistency=True)
    with pytest.raises(InputError, match=r"\(32, 32\)"):
        model.inference_forward(x, "AtoB", mask=np.ones((32, 32), bool))
    with pytest.raises(InputError, match="unknown mask kind"):
        model.inference_forward(x, "AtoB", mask_kind="spiral")
    with pytest.raises(InputError, match="dc_lambda"):
        model.inference_forward(x, "AtoB", mask=mask, data_consistency=True, dc_lambda=-1)
    with pytest.raises(InputError, match="ensemble must be True or False"):
        model.inference_forward(x, "AtoB", mask=mask, ensemble="yes")
    with pytest.raises(InputError, match="not supported"):
        model.check_options({"tile_mask": 1})
    assert model.tileable is False and model.size_multiple() == 1


def test_dc_cascade_learns_and_keeps_measured_kspace(mni_slice):
    """The DC-CNN option: every stage re-imposes the measurement, so the sampled k-space of its
    complex output IS the measurement; and it beats zero-filling on a mask it never saw."""
    torch.manual_seed(0)
    x = torch.from_numpy(mni_slice * 2 - 1)[None, None].float()
    model, logs = _train(build(_tiny_recon_config(cascades=3, cascade_width=16, cascade_depth=4)), {"A": x}, steps=80)
    assert np.mean([g["G_nmse"] for g in logs[-10:]]) < 0.5 * np.mean([g["G_nmse"] for g in logs[:5]])
    mask = make_mask("gaussian1d", (64, 64), ratio=0.3, seed=4321)
    m = torch.from_numpy(mask)
    k = fft2c((x + 1) / 2) * m
    kc, mc = conjugate_completion(k, m)  # the image is real: translate completes its measurement
    with torch.no_grad():
        z = model.netG(torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(kc, dim=(-2, -1)), norm="ortho"),
                                          dim=(-2, -1)), kc, mc)
        out = model.inference_forward(x, "AtoB", mask=mask, return_zero_filled=True, ensemble=False)
        with_dc = model.inference_forward(x, "AtoB", mask=mask, data_consistency=True, ensemble=False)
        mean = model.reconstruct_complex(k, m, real=True, ensemble=True)
        oriented = [unorient(model.netG(ifft2c(orient(kc, o)), orient(kc, o), orient(mc, o)), o)
                    for o in ORIENTATIONS if not o[2]]  # a line-mask model: the four flips, no transpose
        default = model.inference_forward(x, "AtoB", mask=mask)
    assert (fft2c(z) - k)[..., m].abs().max() <= 1e-5 * k.abs().max()
    assert torch.allclose(out["image"], (z.abs() * 2 - 1).clamp(-1, 1), atol=1e-5)
    assert torch.equal(with_dc, out["image"])  # already consistent: the flag changes nothing
    # the default ensemble: the mean of the oriented outputs, each (and so the mean) consistent
    assert model.orientations == tuple(o for o in ORIENTATIONS if not o[2])
    assert build(replace(_tiny_recon_config(cascades=1), mask_kind="poisson2d")).orientations == ORIENTATIONS
    assert torch.allclose(mean, sum(oriented) / 4, atol=1e-6) and not torch.allclose(mean, z, atol=1e-3)
    assert (fft2c(mean) - k)[..., m].abs().max() <= 1e-5 * k.abs().max()
    assert torch.allclose(default, (mean.abs() * 2 - 1).clamp(-1, 1), atol=1e-5)
    p_zf = psnr(mni_slice, out["zero_filled"][0, 0].numpy(), data_range=1.0)
    p_rec = psnr(mni_slice, (out["image"][0, 0].numpy() + 1) / 2, data_range=1.0)
    print(f"cascade: PSNR zero-filled {p_zf:.2f} dB, reconstruction {p_rec:.2f} dB")
    assert p_rec >= p_zf + 3.0
    with pytest.raises(InputError, match="cascade and needs the sampling mask"):
        model.inference_forward(x, "AtoB")
    with pytest.raises(ConfigError, match="cascades"):
        build(_tiny_recon_config(cascades=-1))


def test_real_fraction_batches_are_real_and_reconstructed_as_real(mni_slice):
    """With real_fraction, a share of the training batches skip the phase; their k-space is the
    conjugate-symmetric one of a real image. Any cascade completes a real image's measurement by
    that symmetry; one trained with real_fraction also projects its stages onto real images."""
    from im2im_core.mri.kspace import is_real_image

    x = torch.from_numpy(mni_slice * 2 - 1)[None, None].float()
    model = build(_tiny_recon_config(cascades=2, cascade_width=8, cascade_depth=3, phase=2.0, real_fraction=0.5)).eval()
    plain = build(_tiny_recon_config(cascades=2, cascade_width=8, cascade_depth=3, phase=2.0)).eval()
    steps = [model.real_step(s) for s in range(40)]
    assert 10 < sum(steps) < 30 and not any(plain.real_step(s) for s in range(40))
    for s in (steps.index(False), steps.index(True)):
        zf, m, k, real = model.degrade(x, s)
        assert real == steps[s] == is_real_image(k[0, 0].numpy(), m[0, 0].numpy())
    kc, mc = conjugate_completion(k, m)
    with torch.no_grad():
        assert torch.equal(plain.reconstruct(zf, k, m, real=True), plain.reconstruct(zf, kc, mc))
        assert not torch.allclose(model.reconstruct(zf, k, m, real=True), model.reconstruct(zf, kc, mc))
    with pytest.raises(ConfigError, match="real_fraction"):
        build(_tiny_recon_config(real_fraction=0.5))  # the U-Net has no stage to constrain
    with pytest.raises(ConfigError, match="real_fraction"):
        build(_tiny_recon_config(cascades=2, real_fraction=1.5))


def test_recon_config_rejects_bad_values():
    """Bad config values fail at build time, naming the field."""
    with pytest.raises(ConfigError, match="mask_kind"):
        build(MRIReconConfig(mask_kind="spiral"))
    with pytest.raises(ConfigError, match="ratio"):
        build(MRIReconConfig(ratio=0.0))
    with pytest.raises(ConfigError, match="ssim_weight"):
        build(MRIReconConfig(ssim_weight=-1.0))


def test_ssim_loss_is_scikit_images_ssim(mni_slice):
    """losses.ssim on [-1, 1] tensors equals skimage's SSIM of the [0, 1] images, and its gradient
    lowers the error; the SSIM term shows up in the training logs when weighted."""
    from skimage.metrics import structural_similarity

    from im2im_core.losses import ssim

    rng = np.random.default_rng(0)
    noisy = np.clip(mni_slice + 0.05 * rng.standard_normal(mni_slice.shape), 0, 1)
    t = lambda a: torch.from_numpy(a * 2 - 1)[None, None].float()  # noqa: E731
    ref = structural_similarity(mni_slice.astype(np.float64), noisy, data_range=1.0)
    assert abs(ssim(t(noisy), t(mni_slice)).item() - ref) < 1e-5
    p = t(noisy).requires_grad_()
    (1 - ssim(p, t(mni_slice))).backward()
    assert ssim(p.detach() - 0.01 * p.grad.sign(), t(mni_slice)).item() > ref
    x = torch.from_numpy(mni_slice * 2 - 1)[None, None].float()
    runs = {}
    for w in (0.0, 2.0):  # same init and batch: the generator loss grows by exactly w * (1 - SSIM)
        torch.manual_seed(0)
        model = build(_tiny_recon_config(cascades=2, cascade_width=8, cascade_depth=3, ssim_weight=w))
        runs[w] = _train(model, {"A": x}, steps=1)[1][0]
    assert 0.05 < runs[2.0]["G_ssim"] < 1 and "G_ssim" not in runs[0.0]
    assert abs(runs[2.0]["G"] - runs[0.0]["G"] - 2.0 * runs[2.0]["G_ssim"]) < 1e-4


# ------------------------------------------------------------------------------ holes
@pytest.mark.parametrize("ratio_range", [(0.1, 0.2), (0.2, 0.4)])
@pytest.mark.parametrize("kind", ["free_form", "box", "mixed"])
def test_random_hole_mask_hits_ratio_range(ratio_range, kind):
    """The benchmark bands are met by construction, reproducibly from the seed."""
    ratios = [random_hole_mask((48, 64), seed, ratio_range, kind).mean() for seed in range(20)]
    assert all(ratio_range[0] <= r <= ratio_range[1] for r in ratios)
    again = random_hole_mask((48, 64), 3, ratio_range, kind)
    assert np.array_equal(again, random_hole_mask((48, 64), 3, ratio_range, kind))


def test_free_form_and_box_masks():
    """Strokes and boxes are boolean holes of the asked shape and size."""
    m = free_form_mask((64, 64), np.random.default_rng(0))
    assert m.dtype == bool and m.shape == (64, 64) and 0 < m.mean() < 1
    b = box_mask((64, 80), 1, size_range=(0.25, 0.25))
    assert b.sum() == 16 * 20
    with pytest.raises(ValueError, match="ratio_range"):
        random_hole_mask((8, 8), 0, (0.5, 0.2))


# ------------------------------------------------------------------------------ inpainting
@pytest.fixture(scope="module")
def inpaint_model():
    """A briefly trained inpainting model (5 steps: enough for non-trivial hole content)."""
    torch.manual_seed(0)
    model, logs = _train(build(_tiny_inpaint_config()), {"A": _gray_image(32).repeat(2, 1, 1, 1)}, steps=5)
    assert all(np.isfinite(v) for log in logs for v in log.values())
    return model


def test_inpaint_keeps_known_pixels_bit_identical(inpaint_model):
    """Known pixels are copied, not regenerated; the fill never sees what was under the hole
    (two inputs that differ only inside it give the same output)."""
    x = _gray_image(36)  # not a multiple of the generator's stride: padding is internal
    hole = random_hole_mask((36, 36), 0, (0.2, 0.4))
    h = torch.from_numpy(hole)
    other = torch.where(h, -x, x)
    with torch.no_grad():
        y, y2 = (inpaint_model.inference_forward(v, "AtoB", mask=hole) for v in (x, other))
    assert y.shape == x.shape
    assert torch.equal(y[..., ~h], x[..., ~h])
    assert torch.equal(y, y2)


def test_inpaint_label_array_selects_hole(inpaint_model):
    """A napari Labels array works directly: only the chosen label is filled."""
    x = _gray_image(32)
    labels = np.zeros((32, 32), np.uint16)
    labels[4:12, 4:12] = 1
    labels[18:28, 16:30] = 2
    with torch.no_grad():
        y = inpaint_model.inference_forward(x, "AtoB", mask=labels, label=2)
        y_any = inpaint_model.inference_forward(x, "AtoB", mask=labels)
    two = torch.from_numpy(labels == 2)
    assert torch.equal(y[..., ~two], x[..., ~two])
    assert not torch.equal(y[..., two], x[..., two])
    nonzero = torch.from_numpy(labels != 0)
    assert torch.equal(y_any[..., ~nonzero], x[..., ~nonzero]) and not torch.equal(y_any, y)


def test_inpaint_mask_errors(inpaint_model):
    """Bad masks fail with messages naming the shape or the missing label."""
    x = _gray_image(32)
    with pytest.raises(InputError, match=r"\(3, 5\)"):
        inpaint_model.inference_forward(x, "AtoB", mask=np.ones((3, 5), bool))
    with pytest.raises(InputError, match=r"\(2, 2, 32, 32\)"):
        inpaint_model.inference_forward(x, "AtoB", mask=np.ones((2, 2, 32, 32), bool))
    with pytest.raises(InputError, match="needs mask"):
        inpaint_model.inference_forward(x, "AtoB")
    with pytest.raises(InputError, match="label 7"):
        inpaint_model.inference_forward(x, "AtoB", mask=np.ones((32, 32), np.uint8), label=7)
    with torch.no_grad():  # an empty mask leaves the image alone
        assert torch.equal(inpaint_model.inference_forward(x, "AtoB", mask=np.zeros((32, 32), bool)), x)
    assert inpaint_model.tileable is False


@pytest.mark.parametrize("prefill,arch", [("biharmonic", "gated"), ("push_pull", "gated"), ("biharmonic", "unet")])
def test_inpaint_starts_at_its_classical_prefill(prefill, arch):
    """The residual generator's last layer starts at zero, so an untrained model returns the
    classical fill exactly and training only has to learn what that fill gets wrong."""
    from skimage.restoration import inpaint_biharmonic

    from im2im_core.models.inpaint import push_pull_fill

    model = build(InpaintConfig(ngf=8, n_down=2, dilations=(2, 4), prefill=prefill, arch=arch, num_downs=3)).eval()
    x = _gray_image(32)
    hole = torch.from_numpy(random_hole_mask((32, 32), 3, (0.2, 0.4)))
    with torch.no_grad():
        y = model.inference_forward(x, "AtoB", mask=hole.numpy())
    known = torch.where(hole, torch.zeros(()), x)
    if prefill == "biharmonic":
        ref = torch.from_numpy(inpaint_biharmonic(known[0, 0].numpy(), hole.numpy()).astype(np.float32))
    else:
        ref = push_pull_fill(known, (~hole).float()[None, None])[0, 0]
    assert torch.allclose(y[0, 0], ref.clamp(-1, 1), atol=1e-5)
    assert (y[0, 0][hole] - x[0, 0][hole]).abs().mean() < 0.5 * x[0, 0][hole].abs().mean() + 0.1


def test_inpaint_prefill_config_and_export_errors():
    """Unknown prefills fail at build time; the untraceable biharmonic prefill refuses export."""
    with pytest.raises(ConfigError, match="prefill"):
        build(InpaintConfig(prefill="telea"))
    with pytest.raises(ConfigError, match="arch"):
        build(InpaintConfig(arch="partial_conv"))
    with pytest.raises(InputError, match="biharmonic"):
        build(_tiny_inpaint_config()).export_module("AtoB")
    mod = build(InpaintConfig(ngf=8, n_down=2, dilations=(2, 4), prefill="push_pull")).eval().export_module("AtoB")
    x, hole = _gray_image(32), torch.from_numpy(random_hole_mask((32, 32), 0, (0.1, 0.2)))[None, None]
    with torch.no_grad():
        y = mod(x, hole)
    assert torch.equal(y[~hole.expand_as(y)], x[~hole.expand_as(x)])


@pytest.mark.parametrize("arch,lr,l2", [("gated", 1e-3, 0.0), ("unet", 3e-4, 10.0)])
def test_inpaint_learns_beyond_biharmonic(mni_slice, train_slices, arch, lr, l2):
    """A tiny run on four training slices (fresh holes every step) fills holes in a held-out test
    slice better than its starting point, scikit-image's biharmonic fill (it starts exactly there,
    see test_inpaint_starts_at_its_classical_prefill)."""
    from skimage.restoration import inpaint_biharmonic

    x = torch.from_numpy(mni_slice[8:56, 8:56] * 2 - 1)[None, None].float()
    cfg = InpaintConfig(ngf=16, n_down=2, dilations=(2, 4), lambda_gan=0.0, hole_kind="mixed", hole_ratio=(0.2, 0.4),
                        arch=arch, num_downs=4, l2_hole_weight=l2,
                        discriminator=DiscriminatorConfig(n_layers=2, ndf=8, norm="none", spectral=True))
    torch.manual_seed(0)
    model, logs = _train(build(cfg), {"A": train_slices[..., 8:56, 8:56]}, steps=200, lr=lr)
    rng = np.random.default_rng(99)  # holes the run never drew
    errs = {"model": [], "biharmonic": []}
    for _ in range(6):
        hole = random_hole_mask((48, 48), rng, (0.2, 0.4), "mixed")
        known = np.where(hole, 0, x[0, 0].numpy())
        with torch.no_grad():
            y = model.inference_forward(x, "AtoB", mask=hole)[0, 0].numpy()
        errs["model"].append(np.abs(y - x[0, 0].numpy())[hole].mean())
        errs["biharmonic"].append(np.abs(inpaint_biharmonic(known, hole) - x[0, 0].numpy())[hole].mean())
    # the untrained model is the biharmonic fill (ratio 1.0); measured 0.95 (gated) and 0.95 (unet) here
    assert np.mean(errs["model"]) < 0.97 * np.mean(errs["biharmonic"]), errs


def test_inpaint_without_adversarial_weight_skips_the_discriminator():
    """lambda_gan = 0: D cannot change G's loss, so it is neither run nor stepped; G still learns,
    identically to a run that steps D alongside (G's loss never involves D's weights)."""
    x = _gray_image(32).repeat(2, 1, 1, 1)
    runs = {}
    for w in (0.0, 1e-12):
        torch.manual_seed(0)
        model = build(replace(_tiny_inpaint_config(), lambda_gan=w))
        d0, g0 = ({k: v.clone() for k, v in net.state_dict().items()} for net in (model.netD, model.netG))
        model, logs = _train(model, {"A": x}, steps=3)
        d_moved = any(not torch.equal(v, model.netD.state_dict()[k]) for k, v in d0.items())
        g_moved = any(not torch.equal(v, model.netG.state_dict()[k]) for k, v in g0.items())
        runs[w] = (d_moved, g_moved, [log["G_l1_hole"] for log in logs], logs[-1]["D"])
    assert runs[0.0][:2] == (False, True) and runs[0.0][3] == 0.0
    assert runs[1e-12][:2] == (True, True) and runs[1e-12][3] > 0
    np.testing.assert_allclose(runs[0.0][2], runs[1e-12][2], rtol=1e-4)


@pytest.mark.parametrize("activation", ["elu", "lrelu"])
def test_gated_generator_keeps_signal_through_depth(activation):
    """With PyTorch's default init the signal shrank ~4x per gated layer until the random biases
    drowned it: 16 layers deep, two different inputs gave the same features to 1e-8 (the shipped
    inpainting model learned ~nothing in 1,200 steps). Our init keeps the deepest gated features
    input-driven and alive."""
    from im2im_core.nets.gated import GatedConv2d, GatedGenerator

    torch.manual_seed(0)
    net = GatedGenerator(2, 1, 16, 2, (2, 4, 8, 16), activation=activation)
    x, x2 = torch.randn(2, 2, 64, 64), torch.randn(2, 2, 64, 64)
    gated = [m for m in net.model if not isinstance(m, (torch.nn.Conv2d, torch.nn.Tanh))]
    with torch.no_grad():
        for layer in gated:
            x, x2 = layer(x), layer(x2)
    assert isinstance(gated[-1], GatedConv2d) and len(gated) >= 15
    assert x.std().item() > 1e-3  # measured 0.014 (elu) and 0.0034 (lrelu)
    assert (x - x2).std().item() > 0.5 * x.std().item()  # different inputs, different deep features


# ------------------------------------------------------------------------------ super-resolution
@pytest.mark.parametrize("scale", [2, 4])
def test_sr_output_is_scale_times_input(scale):
    """Output sides are scale x the input's for every supported scale."""
    model = build(_tiny_sr_config(scale)).eval()
    with torch.no_grad():
        y = model.inference_forward(torch.zeros(2, 1, 12, 20), "AtoB")
    assert y.shape == (2, 1, 12 * scale, 20 * scale) and model.scale_factor == scale


def test_sr_short_run_beats_bicubic(mni_slice, train_slices):
    """Starts exactly at bicubic (zero-initialised residual) and training on four slices adds
    measurable detail to a held-out one."""
    hr = torch.from_numpy(mni_slice * 2 - 1)[None, None].float()
    model = build(_tiny_sr_config(2))
    lr_img, hr_c = model.degrade(hr)
    bicubic = F.interpolate(lr_img, scale_factor=2, mode="bicubic", align_corners=False).clamp(-1, 1)
    with torch.no_grad():
        assert torch.allclose(model.eval().inference_forward(lr_img, "AtoB"), bicubic, atol=1e-6)
    model, logs = _train(model, {"A": train_slices}, steps=120)
    with torch.no_grad():
        sr = model.inference_forward(lr_img, "AtoB")
    to01 = lambda t: (t[0, 0].numpy() + 1) / 2  # noqa: E731
    p_bic, p_sr = psnr(to01(hr_c), to01(bicubic), data_range=1.0), psnr(to01(hr_c), to01(sr), data_range=1.0)
    l1_first, l1_last = logs[0]["G_content"], logs[-1]["G_content"]
    print(f"PSNR bicubic {p_bic:.2f} dB, SR {p_sr:.2f} dB; L1 {l1_first:.4f} -> {l1_last:.4f}")
    assert p_sr >= p_bic + 0.5
    assert np.mean([g["G_content"] for g in logs[-10:]]) < 0.9 * logs[0]["G_content"]


def test_sr_adversarial_variant_trains():
    """lambda_gan > 0 builds a D and trains it (SRGAN mode)."""
    model, logs = _train(build(_tiny_sr_config(2, lambda_gan=1e-3)), {"A": _gray_image(32)}, steps=2)
    assert set(model.optimizers) == {"G", "D"} and all(np.isfinite(v) for v in logs[-1].values())
    with pytest.raises(ConfigError, match="scale"):
        build(SuperResolutionConfig(scale=3))


# ------------------------------------------------------------------------------ configs and checkpoints
FAMILIES = {
    "mri_recon": _tiny_recon_config,
    "mri_recon_cascade": lambda: _tiny_recon_config(cascades=2, cascade_width=8),
    "inpaint": _tiny_inpaint_config,
    "super_resolution": _tiny_sr_config,
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_config_json_round_trip(family):
    """Configs survive JSON (what checkpoints store) unchanged."""
    cfg = FAMILIES[family]()
    again = config_from_dict(family.removesuffix("_cascade"), json.loads(json.dumps(to_dict(cfg))))
    assert again == cfg and type(again) is type(cfg)


def _uint8_image(size=40):
    """The camera photo as a uint8 array, as a user would load it."""
    return ((_gray_image(size)[0, 0].numpy() + 1) * 127.5).round().astype(np.uint8)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_checkpoint_round_trip_through_translator(family, tmp_path):
    """save -> load gives the same outputs, and the Translator runs each family's options."""
    torch.manual_seed(1)
    model = build(FAMILIES[family]())
    family = family.removesuffix("_cascade")
    _train(model, {"A": _gray_image(32)}, steps=2)  # non-trivial weights and BN statistics
    path = checkpoint.save(tmp_path / f"{family}.safetensors", model)
    tr = load(path, device="cpu", precision="fp32")
    assert tr.family == family
    x = _gray_image(32)
    opts = {"mri_recon": {"mask_kind": "gaussian1d", "ratio": 0.3, "seed": 2},
            "inpaint": {"mask": random_hole_mask((32, 32), 0, (0.1, 0.2))}, "super_resolution": {}}[family]
    with torch.no_grad():
        expected = model.eval().inference_forward(x, "AtoB", **opts)
    got = tr.forward_tensor(x, **opts)[0]["image"]
    assert torch.allclose(got, expected, atol=1e-5)
    img = _uint8_image(40)
    if family == "mri_recon":
        out = tr.translate(img, mask_kind="gaussian1d", ratio=0.3, return_zero_filled=True, data_consistency=True)
        assert out["image"].shape == img.shape and out["image"].dtype == np.uint8
        assert out["zero_filled"].shape == img.shape and set(np.unique(out["mask"])) <= {0.0, 1.0}
    elif family == "inpaint":
        hole = np.zeros(img.shape, bool)
        hole[10:20, 5:30] = True
        out = tr.translate(img, mask=hole)
        assert out.shape == img.shape and out.dtype == np.uint8
        got = tr.forward_tensor(x, mask=hole[:32, :32])[0]["image"]  # tensor path: bit-identical
        assert torch.equal(got[..., ~torch.from_numpy(hole[:32, :32])], x[..., ~torch.from_numpy(hole[:32, :32])])
    else:
        assert tr.translate(img).shape == (80, 80)
        tiled = tr.translate(img, tile=16, overlap=4, out_dtype="float32")  # 40 > 16: the tiler runs
        assert tiled.shape == (80, 80) and np.isfinite(tiled).all()
