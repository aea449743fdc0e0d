"""Tests for the pure-tensor k-space physics package im2im_core.mri (tiny shapes, CPU only)."""
import numpy as np
import pytest
import torch

from im2im_core.mri import (
    MASK_KINDS,
    data_consistency,
    equispaced_lines,
    fft2c,
    fft2c_np,
    ifft2c,
    ifft2c_np,
    make_mask,
    random_lines,
    undersample,
    zero_filled,
)

LINE_KINDS = ("gaussian1d", "random_lines", "equispaced_lines")


def _complex_image(shape=(2, 32, 32), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(shape, generator=g), torch.randn(shape, generator=g))


# ------------------------------------------------------------------------------- FFT
def test_fft_round_trip_and_parseval():
    x = _complex_image()
    k = fft2c(x)
    assert k.shape == x.shape and k.is_complex()
    assert (ifft2c(k) - x).abs().max() < 1e-5
    assert torch.allclose(k.abs().pow(2).sum(), x.abs().pow(2).sum(), rtol=1e-5)


def test_fft_real_input_and_centring():
    x = torch.ones(8, 8)  # constant image -> all energy at the centred DC bin
    k = fft2c(x)
    assert k.is_complex()
    assert abs(k[4, 4].real - 8.0) < 1e-5 and k.abs().sum() - k[4, 4].abs() < 1e-4
    assert (ifft2c(k).real - x).abs().max() < 1e-5


def test_numpy_wrappers_match_torch():
    x = _complex_image((16, 12)).numpy()
    assert np.allclose(fft2c_np(x), fft2c(torch.from_numpy(x)).numpy(), atol=1e-5)
    assert np.allclose(ifft2c_np(fft2c_np(x)), x, atol=1e-5)


# ----------------------------------------------------------------------------- masks
@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("shape", [(64, 64), (96, 128), (256, 256)])
@pytest.mark.parametrize("ratio", [0.1, 0.25, 0.5])
def test_mask_ratio_shape_and_centre(kind, shape, ratio):
    m = make_mask(kind, shape, ratio=ratio, seed=3)
    assert m.shape == shape and m.dtype == np.bool_
    tol = max(0.01, 1.0 / shape[1]) if kind in LINE_KINDS else 0.01
    assert abs(m.mean() - ratio) <= tol
    assert m[shape[0] // 2, shape[1] // 2]  # DC is always sampled


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_mask_determinism(kind):
    a = make_mask(kind, (64, 64), ratio=0.2, seed=7)
    assert np.array_equal(a, make_mask(kind, (64, 64), ratio=0.2, seed=7))
    others = [make_mask(kind, (64, 64), ratio=0.2, seed=s) for s in range(8, 12)]
    assert any(not np.array_equal(a, o) for o in others)


@pytest.mark.parametrize("kind", LINE_KINDS)
def test_line_masks_constant_along_readout(kind):
    m = make_mask(kind, (48, 64), acceleration=4, seed=1)
    assert (m == m[:1]).all()


@pytest.mark.parametrize("acc,cf", [(4, 0.08), (8, 0.04)])
@pytest.mark.parametrize("builder", [random_lines, equispaced_lines])
def test_fastmri_line_masks(builder, acc, cf):
    w = 320
    m = builder((16, w), acc, cf, seed=0)
    cols = m[0]
    n_low = round(cf * w)
    start = w // 2 - n_low // 2
    assert cols[start : start + n_low].all()
    assert cols.sum() == round(w / acc)


def test_equispaced_spacing_is_regular():
    cols = equispaced_lines((8, 256), 4, 0.0, seed=0)[0]
    gaps = np.diff(np.flatnonzero(cols))
    assert set(gaps.tolist()) == {4}


def test_mask_acceleration_equals_inverse_ratio():
    for kind in MASK_KINDS:
        a = make_mask(kind, (64, 64), acceleration=4, seed=0)
        assert np.array_equal(a, make_mask(kind, (64, 64), ratio=0.25, seed=0))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"kind": "poisson2d", "ratio": 0}, r"ratio must be in \(0, 1\], got 0"),
        ({"kind": "gaussian2d", "ratio": 1.5}, r"ratio must be in \(0, 1\], got 1.5"),
        ({"kind": "radial", "ratio": 0.2}, r"unknown mask kind 'radial'; allowed: gaussian1d, .*poisson2d"),
        ({"kind": "random_lines", "acceleration": 0.5}, r"acceleration must be .*>= 1.*got 0.5"),
        ({"kind": "gaussian1d"}, r"ratio .* or an acceleration"),
    ],
)
def test_bad_mask_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_mask(shape=(32, 32), **kwargs)


def test_bad_shape():
    with pytest.raises(ValueError, match=r"shape must be a pair"):
        make_mask("gaussian2d", (32,), ratio=0.2)


# ----------------------------------------------------------------------- consistency
def test_zero_filled_full_mask_reproduces_image():
    x = _complex_image()
    k, zf = undersample(x, np.ones((32, 32), bool))
    assert (zf - x).abs().max() < 1e-5 and (zero_filled(k) - x).abs().max() < 1e-5
    mag = torch.rand(2, 32, 32)
    _, zf_mag = undersample(mag, np.ones((32, 32), bool))
    assert not zf_mag.is_complex() and (zf_mag - mag).abs().max() < 1e-5


def test_undersample_zeroes_unsampled_kspace():
    mask = make_mask("random_lines", (32, 32), acceleration=4, seed=0)
    k, zf = undersample(_complex_image(), mask)
    assert k.shape == (2, 32, 32) and zf.is_complex()
    assert (k[:, ~torch.from_numpy(mask)] == 0).all()


def test_data_consistency_hard_preserves_measurements():
    mask = make_mask("poisson2d", (32, 32), ratio=0.3, seed=0)
    k_meas, _ = undersample(_complex_image(seed=1), mask)
    pred = _complex_image(seed=2)
    out = data_consistency(pred, k_meas, mask)
    k_out, m = fft2c(out), torch.from_numpy(mask)
    assert (k_out[:, m] - k_meas[:, m]).abs().max() < 1e-5
    assert (k_out[:, ~m] - fft2c(pred)[:, ~m]).abs().max() < 1e-5  # unsampled: prediction kept


def test_data_consistency_soft_moves_halfway():
    mask = make_mask("gaussian2d", (32, 32), ratio=0.3, seed=0)
    k_meas, _ = undersample(_complex_image(seed=1), mask)
    pred = _complex_image(seed=2)
    k_pred, m = fft2c(pred), torch.from_numpy(mask)
    k_out = fft2c(data_consistency(pred, k_meas, mask, lam=1.0))
    assert (k_out[:, m] - 0.5 * (k_pred[:, m] + k_meas[:, m])).abs().max() < 1e-5
    assert (fft2c(data_consistency(pred, k_meas, mask, lam=0.0)) - k_pred).abs().max() < 1e-5
    with pytest.raises(ValueError, match=r"lam must be .*got -1"):
        data_consistency(pred, k_meas, mask, lam=-1)


def test_data_consistency_magnitude_in_magnitude_out_and_batch_broadcast():
    mask = torch.from_numpy(make_mask("gaussian1d", (32, 32), ratio=0.25, seed=0))
    img = torch.rand(3, 1, 32, 32)
    k_meas, zf = undersample(img, mask)
    assert not zf.is_complex() and zf.shape == img.shape
    out = data_consistency(zf, k_meas, mask)
    assert not out.is_complex() and out.shape == img.shape and (out >= 0).all()
    full = data_consistency(torch.rand(3, 1, 32, 32), fft2c(img), torch.ones(32, 32, dtype=torch.bool))
    assert (full - img).abs().max() < 1e-5  # fully sampled hard DC returns the measured image


def test_classical_baselines_are_tuned_on_validation_and_beat_zero_filling():
    """`cs.tune` picks a (weight, iterations) from its grid on validation slices; the tuned TV and
    L1-wavelet reconstructions then keep the measured samples closer than zero-filling's real part
    and TV beats zero-filling on a held-out slice. With weight 0 the wavelet prox is the identity,
    so FISTA only fits the data: a real image closer to the measured samples than the real part of
    the zero-filled image (a mask without conjugate symmetry makes that part inconsistent)."""
    from skimage.metrics import peak_signal_noise_ratio as psnr

    from im2im_core.demo import _slices
    from im2im_core.mri import fft2c_np, ifft2c_np, make_mask
    from im2im_core.mri import cs

    gt, _ = _slices("template", 64, 3)
    val, test = gt[:2], gt[2]
    mask = make_mask("gaussian1d", (64, 64), ratio=0.3, seed=5)
    grid = {"weight": (0.0005, 0.002, 0.01), "iterations": (50, 150)}
    settings, score = cs.tune("TV", fft2c_np(val.astype(np.complex64)) * mask, val, mask,
                              lambda p, g: psnr(g, np.clip(p, 0, 1), data_range=1.0), grid)
    assert settings["weight"] in grid["weight"] and settings["iterations"] in grid["iterations"]
    k = fft2c_np(test.astype(np.complex64)) * mask
    zf = np.real(ifft2c_np(k))
    tv = cs.tv_reconstruction(k, mask, **settings)
    assert psnr(test, np.clip(tv, 0, 1), data_range=1.0) > psnr(test, np.clip(np.abs(ifft2c_np(k)), 0, 1), data_range=1.0) + 3
    def misfit(x):
        return np.linalg.norm(mask * (fft2c_np(x) - k))

    assert misfit(cs.wavelet_reconstruction(k, mask, weight=0.0, iterations=50)) < 0.5 * misfit(zf)


def test_complex_tv_reconstructs_an_image_with_phase():
    """Raw k-space has phase: the real-valued TV throws the imaginary part away, the complex one
    (real and imaginary parts regularised) must recover the magnitude better than zero-filling."""
    from skimage.metrics import peak_signal_noise_ratio as psnr

    from im2im_core.demo import _slices
    from im2im_core.mri import cs, fft2c_np, ifft2c_np, make_mask

    gt = _slices("template", 64, 3)[0][2]
    yy, xx = np.mgrid[-1:1:64j, -1:1:64j]
    k_phased = fft2c_np((gt * np.exp(1j * (1.5 * xx + yy))).astype(np.complex64))
    mask = make_mask("gaussian1d", (64, 64), ratio=0.3, seed=5)
    k = k_phased * mask
    score = lambda x: psnr(gt, np.clip(x, 0, 1), data_range=1.0)  # noqa: E731
    zf = score(np.abs(ifft2c_np(k)))
    real_tv = score(cs.tv_reconstruction(k, mask, weight=0.002, iterations=150))
    complex_tv = score(cs.tv_reconstruction(k, mask, weight=0.002, iterations=150, complex_image=True))
    assert complex_tv > zf + 2 and complex_tv > real_tv + 3, (zf, real_tv, complex_tv)
