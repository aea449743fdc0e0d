"""Issue 38 item 4: an mri_recon model says what it was trained on, and a mask outside that gets a
warning naming the difference (the reconstruction still runs)."""
import subprocess
import sys
import warnings

import numpy as np
import pytest

import im2im_core
from im2im_core.errors import OutsideTraining
from im2im_core.mri import make_mask
from im2im_core.mri.envelope import departures, describe, mask_geometry


@pytest.fixture(scope="module")
def gauss1d():
    return im2im_core.load("mri_recon_1dgauss", device="cpu")


def test_the_shipped_model_states_its_training_and_tests(gauss1d):
    text = describe(gauss1d.meta["config"], gauss1d.meta["provenance"])
    assert "T1w" in text and "1D gaussian1d masks sampling 10-40%" in text and "phase" in text
    assert "Tested on: gaussian1d 20%" in text


def test_mask_geometry_tells_lines_from_2d_masks():
    assert mask_geometry(make_mask("gaussian1d", (96, 128), ratio=0.25))[0] == "1D"
    assert mask_geometry(make_mask("equispaced_lines", (96, 128), acceleration=4))[0] == "1D"
    geo, frac = mask_geometry(make_mask("poisson2d", (96, 128), ratio=0.25))
    assert geo == "2D" and abs(frac - 0.25) < 0.02


@pytest.mark.parametrize("kind,ratio,words", [("gaussian1d", 0.2, []), ("gaussian1d", 0.3, []),
                                              ("poisson2d", 0.2, ["2D mask", "1D masks"]),
                                              ("gaussian1d", 0.05, ["5% of k-space", "10-40%"]),
                                              ("gaussian1d", 0.6, ["60% of k-space"])])
def test_a_mask_outside_training_is_named(gauss1d, kind, ratio, words):
    diff = departures(gauss1d.meta["config"], make_mask(kind, (128, 128), ratio=ratio))
    assert bool(diff) == bool(words)
    assert all(any(w in d for d in diff) for w in words), diff


def test_translate_and_kspace_reconstruction_warn_outside_training_and_still_run(gauss1d):
    from im2im_core.mri import fft2c_np
    from im2im_core.mri.kspace import reconstruct_kspace

    rng = np.random.default_rng(0)
    img = np.zeros((64, 64), np.float32)
    img[16:48, 12:52] = 0.5 + 0.1 * rng.random((32, 40), dtype=np.float32)
    with pytest.warns(OutsideTraining, match="2D mask, but the model was trained on 1D masks"):
        out = gauss1d.translate(img, mask_kind="poisson2d", ratio=0.2)
    assert np.isfinite(out).all() and out.shape == img.shape
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutsideTraining)
        gauss1d.translate(img, mask_kind="gaussian1d", ratio=0.2)
    k = fft2c_np(img.astype(np.complex64))
    with pytest.warns(OutsideTraining, match="5% of k-space sampled"):
        rec = reconstruct_kspace(gauss1d, k, make_mask("gaussian1d", k.shape, ratio=0.05))
    assert np.isfinite(rec).all()


def test_im2im_info_prints_what_the_model_expects():
    out = subprocess.run([sys.executable, "-m", "im2im_core", "info", "mri_recon_poisson2d"], capture_output=True,
                         text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("expects:"))
    assert "T1w" in line and "2D poisson2d masks sampling 10-40%" in line
