"""MRIAugment: what each augmentation does to a real slice, reproducibility, and bad settings."""
import numpy as np
import pytest
import torch

from im2im_core.data.mri_augment import MRIAugment
from im2im_core.data.real_scans import real_slices
from im2im_core.errors import InputError

NONE = dict(rotate=0, scale=0, shear=0, elastic=0, bias=0, gamma=0, noise=0, flip=False)


@pytest.fixture(scope="module")
def slice_():
    _, img, head = real_slices("validation")[0]
    return torch.from_numpy(img * 2 - 1)[None], head


def _draw(aug, images, seed):
    torch.manual_seed(seed)
    return aug(images)


def test_nothing_enabled_is_the_identity(slice_):
    x, _ = slice_
    assert torch.equal(_draw(MRIAugment(**NONE), [x], 0)[0], x)


def test_same_seed_same_draw_and_pairs_share_it(slice_):
    x, _ = slice_
    aug = MRIAugment(crop_size=192, p=1.0)
    a, b = _draw(aug, [x, x.clone()], 3)
    assert torch.equal(*_draw(MRIAugment(crop_size=192, p=1.0, noise=0), [x, x.clone()], 3))  # one draw per pair
    assert 0 < (a - b).abs().mean() < 0.15  # ... with its own noise realisation for each image ([-1, 1] scale)
    assert torch.equal(_draw(aug, [x], 3)[0], a)
    assert not torch.equal(_draw(aug, [x], 4)[0], a)
    assert a.shape == (1, 192, 192) and a.min() >= -1 and a.max() <= 1


def test_warp_keeps_the_background_black(slice_):
    """The field a rotation brings in is black (-1), like the background, not mid-grey (0)."""
    x, head = slice_
    out = _draw(MRIAugment(**{**NONE, "rotate": 30.0, "scale": 0.2}, p=1.0), [x], 1)[0][0]
    assert not torch.equal(out, x[0])
    corners = torch.cat([out[:8, :8].ravel(), out[-8:, -8:].ravel(), out[:8, -8:].ravel(), out[-8:, :8].ravel()])
    assert corners.max() < -0.99
    # the brain keeps its area within the scale range
    assert 0.6 < float((out > -0.9).float().mean()) / head.mean() < 1.5


def test_noise_level_matches_its_setting(slice_):
    """Rician noise in the empty background has the Rayleigh mean sigma * sqrt(pi / 2) (on [0, 1])."""
    x, head = slice_
    sigma = 0.05
    means = []
    for seed in range(20):
        out = (_draw(MRIAugment(**{**NONE, "noise": sigma}, p=1.0), [x], seed)[0][0] + 1) / 2
        means.append(float(out[torch.from_numpy(~head)].mean()) / np.sqrt(np.pi / 2))
    # each draw is uniform in [0, sigma]: the mean level is sigma / 2, never above sigma
    assert max(means) <= sigma * 1.05 and 0.3 * sigma < np.mean(means) < 0.7 * sigma


def test_bias_and_gamma_change_contrast_but_not_the_background(slice_):
    x, head = slice_
    out = _draw(MRIAugment(**{**NONE, "bias": 0.5, "gamma": 0.5}, p=1.0), [x], 2)[0][0]
    inside = torch.from_numpy(head)
    assert (out[inside] - x[0][inside]).abs().mean() > 0.02
    black = x[0] == -1
    assert black.float().mean() > 0.5 and torch.equal(out[black], x[0][black])  # zero signal stays zero


def test_contrast_curves_reorder_tissues_and_keep_air_dark(slice_):
    """Random curves must give contrasts a gamma curve cannot: inverted ones (the in-head
    correlation with the input turns negative) and unsorted ones; air stays at zero."""
    x, head = slice_
    inside = torch.from_numpy(head)
    black = x[0] == -1
    corr = []
    for seed in range(12):
        out = _draw(MRIAugment(**NONE, curves=1.0, p=1.0), [x], seed)[0][0]
        assert torch.equal(out[black], x[0][black]) and out.min() >= -1 and out.max() <= 1
        a, b = x[0][inside], out[inside]
        corr.append(float(torch.corrcoef(torch.stack([a, b]))[0, 1]))
    assert min(corr) < -0.3 and max(corr) > 0.3, corr
    gammas = [_draw(MRIAugment(**{**NONE, "gamma": 0.5}, p=1.0), [x], s)[0][0][inside] for s in range(12)]
    assert min(float(torch.corrcoef(torch.stack([x[0][inside], g]))[0, 1]) for g in gammas) > 0.8


def test_transpose_and_lowres(slice_):
    """Transposed draws are the image's transpose; a low-resolution draw removes the highest
    spatial frequencies (less energy in the image's gradients) and keeps the mean level."""
    x, head = slice_
    x = x[:, :, : x.shape[1]]  # square, so a transpose keeps the shape
    outs = [_draw(MRIAugment(**NONE, transpose=True, p=1.0), [x], s)[0] for s in range(8)]
    assert any(torch.equal(o, x.transpose(-1, -2)) for o in outs) and any(torch.equal(o, x) for o in outs)
    def outer(t):  # spectral energy of the [0, 1] image beyond half the Nyquist frequency on either axis
        k = torch.fft.fftshift(torch.fft.fft2((t[0] + 1) / 2)).abs() ** 2
        n = k.shape[-1]
        return float(k.sum() - k[n // 4:3 * n // 4, n // 4:3 * n // 4].sum())

    lows = [_draw(MRIAugment(**NONE, lowres=0.6, p=1.0), [x], s)[0] for s in range(4)]
    assert min(outer(t) for t in lows) < 0.3 * outer(x)
    assert all(abs(float(t.mean() - x.mean())) < 0.05 for t in lows)


def test_zero_outside_leaves_exact_zeros_beside_noise(slice_):
    """Noise everywhere, then exact zeros outside a box whose sides are trimmed by at most a fifth."""
    x, _ = slice_
    outs = [_draw(MRIAugment(**{**NONE, "noise": 0.02}, zero_outside=1.0, p=1.0), [x], s)[0][0] for s in range(6)]
    h, w = x.shape[-2:]
    for o in outs:
        kept = (o > -1).nonzero()
        assert (o == -1).any() and kept.numel()
        top, left = kept.min(0).values.tolist()
        bottom, right = kept.max(0).values.tolist()
        assert top <= 0.2 * h and left <= 0.2 * w and bottom >= 0.8 * h - 1 and right >= 0.8 * w - 1
        assert (o[top:bottom + 1, left:right + 1] > -1).float().mean() > 0.99  # noise inside the box
    noisy = _draw(MRIAugment(**{**NONE, "noise": 0.02}, p=1.0), [x], 0)[0][0]
    assert (noisy == -1).float().mean() < 0.01


@pytest.mark.parametrize("bad", [{"noise": -0.1}, {"rotate": -1}, {"p": 1.5}, {"curves": 2.0}, {"curve_points": 1},
                                 {"lowres": 1.0}, {"zero_outside": 1.5}])
def test_bad_settings_are_clear_errors(bad):
    with pytest.raises(InputError, match=rf"MRIAugment\.{next(iter(bad))}\b"):
        MRIAugment(**bad)
