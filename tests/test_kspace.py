"""Measured complex k-space in (`im2im_core.mri.kspace`, `im2im reconstruct`): the FFT convention
against a direct DFT, data consistency on complex data, a phase the model never saw, files and
clear errors."""
import numpy as np
import pytest
import torch

import im2im_core
from im2im_core.errors import InputError
from im2im_core.mri import make_mask
from im2im_core.mri.consistency import conjugate_completion
from im2im_core.mri.fft import fft2c_np, ifft2c_np
from im2im_core.mri.kspace import check_kspace, is_real_image, read_kspace, reconstruct_kspace


def centred_dft(x: np.ndarray) -> np.ndarray:
    """k[u, v] = 1/sqrt(HW) sum_{y,x} img[y, x] exp(-2 pi i ((u - H//2)(y - H//2)/H + (v - W//2)(x - W//2)/W)),
    written out as two matrix products (no FFT)."""
    def matrix(n):
        idx = np.arange(n) - n // 2
        return np.exp(-2j * np.pi * np.outer(idx, idx) / n) / np.sqrt(n)
    return matrix(x.shape[0]) @ x @ matrix(x.shape[1]).T


@pytest.mark.parametrize("shape", [(16, 16), (15, 20), (9, 7)])
def test_fft_convention_is_the_centred_orthonormal_dft(shape):
    rng = np.random.default_rng(0)
    img = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    k = fft2c_np(img)
    assert np.allclose(k, centred_dft(img), atol=1e-10)
    assert np.allclose(ifft2c_np(k), img, atol=1e-10)
    assert np.isclose(np.linalg.norm(k), np.linalg.norm(img))  # orthonormal: Parseval
    dc = np.zeros(shape)
    dc[:] = 1.0
    assert np.isclose(abs(fft2c_np(dc)[shape[0] // 2, shape[1] // 2]), np.sqrt(dc.size))  # DC at the centre


@pytest.mark.parametrize("shape", [(16, 16), (15, 20), (9, 7)])
def test_the_eight_orientations_commute_with_the_fft(shape):
    """Flips about the centre pixel and transposes map an image's k-space to the oriented image's
    k-space exactly (what lets the ensemble average data-consistent outputs); each is undone by
    unorient, and the eight are distinct."""
    from im2im_core.mri.fft import ORIENTATIONS, fft2c, orient, unorient

    img = torch.complex(*torch.randn(2, 1, 1, *shape, dtype=torch.float64))
    seen = []
    for o in ORIENTATIONS:
        assert torch.allclose(fft2c(orient(img, o)), orient(fft2c(img), o), atol=1e-10)
        assert torch.equal(unorient(orient(img, o), o), img)
        seen.append(orient(img, o))
    assert len(ORIENTATIONS) == 8 and all(
        a.shape != b.shape or not torch.allclose(a, b) for i, a in enumerate(seen) for b in seen[i + 1:])


@pytest.fixture(scope="module")
def scan():
    """Held-out MNI slices (the shipped models' test slab) with a smooth complex phase and a scale
    of 1e-4, as a raw single-coil acquisition would have them; 20% 1D Gaussian lines."""
    from im2im_core.demo import _slices

    gt, _ = _slices("template", 128, 3)
    yy, xx = np.mgrid[:128, :128] / 128.0
    phase = np.exp(1j * (1.5 * np.sin(2 * np.pi * xx) + 2.0 * yy))
    img = (gt * phase * 1e-4).astype(np.complex64)
    mask = make_mask("gaussian1d", (128, 128), ratio=0.2, seed=99)
    return gt, fft2c_np(img) * mask, mask


def _psnr(pred, gt):
    from skimage.metrics import peak_signal_noise_ratio

    return np.mean([peak_signal_noise_ratio(g.astype(np.float64), np.clip(p, 0, 1), data_range=1.0)
                    for p, g in zip(pred, gt)])


def test_complex_kspace_is_reconstructed_and_consistent(scan):
    gt, k, mask = scan
    tr = im2im_core.load("mri_recon_1dgauss", device="cpu")
    rec = reconstruct_kspace(tr, k, mask, complex_output=True)
    assert rec.shape == k.shape and np.iscomplexobj(rec)
    measured = np.broadcast_to(mask, k.shape)
    assert np.allclose(fft2c_np(rec)[measured], k[measured], rtol=1e-3, atol=1e-9)  # hard DC
    # a phase beyond the training's (a full sine period of 1.5 rad plus a 2 rad ramp; trained up to
    # 2 rad): measured 21.94 dB against zero-filling's 20.16 (earlier models: 20.97 trained without
    # phase, 21.76 up to 1 rad)
    zf, mag = np.abs(ifft2c_np(k)) / 1e-4, np.abs(rec) / 1e-4
    assert _psnr(mag, gt) > _psnr(zf, gt) + 1, (_psnr(mag, gt), _psnr(zf, gt))
    # without a mask, the measured samples are the non-zero ones
    assert np.allclose(reconstruct_kspace(tr, k), np.abs(rec), rtol=1e-4, atol=1e-9)


def test_real_phase_kspace_matches_the_image_path(scan):
    """k-space of a real image (what the model trained on) through the k-space path gives what
    translate(mask=...) gives for the image, and far more than zero-filling."""
    gt, _, mask = scan
    tr = im2im_core.load("mri_recon_1dgauss", device="cpu")
    k = fft2c_np(gt.astype(np.complex64) * 3e-5) * mask
    mag = reconstruct_kspace(tr, k, mask) / 3e-5
    plain = tr.translate(gt, mask=mask, data_consistency=True, out_dtype="float32")
    zf = np.abs(ifft2c_np(k)) / 3e-5
    assert _psnr(mag, gt) > _psnr(zf, gt) + 4, (_psnr(mag, gt), _psnr(zf, gt))
    assert abs(_psnr(mag, gt) - _psnr(plain, gt)) < 0.5, (_psnr(mag, gt), _psnr(plain, gt))


@pytest.mark.parametrize("shape", [(64, 64), (63, 65), (128, 96)])
@pytest.mark.parametrize("kind", ["gaussian1d", "poisson2d"])
def test_real_images_are_told_apart_from_raw_kspace(shape, kind):
    """A magnitude image's k-space is conjugate-symmetric where both halves of a pair are sampled
    (so the symmetry completes what the mask missed); a phase of 0.05 rad, or noise added in
    k-space as a scanner adds it, is not."""
    rng = np.random.default_rng(0)
    img = rng.random(shape)
    mask = make_mask(kind, shape, ratio=0.2, seed=3)
    ramp = np.exp(0.05j * np.linspace(-1, 1, shape[1]))[None]
    noise = 1e-3 * (rng.normal(size=shape) + 1j * rng.normal(size=shape))
    assert is_real_image(fft2c_np(img) * mask, mask)
    k, m = conjugate_completion(torch.from_numpy(fft2c_np(img) * mask), torch.from_numpy(mask))
    m = m.numpy()
    assert 1.3 * mask.sum() < m.sum() <= 2 * mask.sum() and m[mask].all()
    assert np.allclose(k.numpy()[m], fft2c_np(img)[m], atol=1e-9)  # exact: the image is real
    assert not is_real_image(fft2c_np(img * ramp) * mask, mask)
    assert not is_real_image((fft2c_np(img) + noise) * mask, mask)


def test_kspace_files_and_cli(scan, tmp_path, capsys):
    from im2im_core.cli import main

    _, k, mask = scan
    np.save(tmp_path / "k.npy", k[0])
    got, m = read_kspace(tmp_path / "k.npy")
    assert m is None and np.array_equal(got, k[0])
    assert main(["reconstruct", "mri_recon_1dgauss", str(tmp_path / "k.npy"), "-o", str(tmp_path / "r.tif")]) == 0
    import tifffile

    out = tifffile.imread(tmp_path / "r.tif")
    ref = reconstruct_kspace(im2im_core.load("mri_recon_1dgauss", device="cpu"), k[0])
    assert out.dtype == np.float32 and np.allclose(out, ref, rtol=1e-5, atol=1e-12)
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "k.h5", "w") as f:  # fastMRI single-coil layout: (slices, H, W), a 1D mask
        f["kspace"] = np.where(mask, k, 0)
        f["mask"] = mask[0].astype(np.float32) if mask.ndim == 3 else mask[0]
    got, m = read_kspace(tmp_path / "k.h5")
    assert got.shape == k.shape and m.shape == (128,)
    assert main(["reconstruct", "mri_recon_1dgauss", str(tmp_path / "k.h5"), "-o", str(tmp_path / "r.nii.gz")]) == 0


@pytest.mark.parametrize("kspace, mask, message", [
    (np.ones((32, 32), np.float32), None, "must be complex"),
    (np.ones((2, 2, 32, 32), np.complex64), None, r"\(H, W\) or \(slices, H, W\)"),
    (np.full((32, 32), np.nan, np.complex64), None, "NaN/Inf"),
    (np.ones((32, 32), np.complex64), np.ones((32, 16), bool), "does not match"),
    (np.ones((3, 32, 32), np.complex64), np.ones((2, 32, 32), bool), "does not match"),
    (np.ones((32, 32), np.complex64), np.zeros((32, 32), bool), "no measured samples"),
])
def test_bad_kspace_is_a_clear_error(kspace, mask, message):
    with pytest.raises(InputError, match=message):
        check_kspace(kspace, mask)


def test_bad_files_and_models_are_clear(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_kspace(tmp_path / "missing.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(InputError, match="not a plain numpy array"):
        read_kspace(tmp_path / "obj.npy")
    (tmp_path / "k.mat").write_bytes(b"x")
    with pytest.raises(InputError, match=r"\.npy \(complex\) or \.h5"):
        read_kspace(tmp_path / "k.mat")
    with pytest.raises(InputError, match="needs an mri_recon model"):
        reconstruct_kspace(im2im_core.load("sr_x2_mri", device="cpu"), np.ones((32, 32), np.complex64))


@pytest.mark.parametrize("peak", [1e37, 3e38])
def test_finite_but_huge_kspace_is_an_error_not_a_nan_image(scan, tmp_path, capsys, peak):
    """Issue 40, item 3: finite complex128 values that overflow complex64 (or the FFT's sum) gave an
    all-NaN image and exit 0."""
    from im2im_core.cli import main

    _, k, _ = scan
    huge = k[0].astype(np.complex128) / np.abs(k[0]).max() * peak
    with pytest.raises(InputError, match="single precision"):
        reconstruct_kspace(im2im_core.load("mri_recon_1dgauss", device="cpu"), huge)
    np.save(tmp_path / "huge.npy", huge)
    assert main(["reconstruct", "mri_recon_1dgauss", str(tmp_path / "huge.npy"), "-o", str(tmp_path / "r.tif")]) == 2
    assert not (tmp_path / "r.tif").exists()
    assert "single precision" in capsys.readouterr().err


HEADER = """<?xml version="1.0"?><ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD"><encoding><encodedSpace>
<matrixSize><x>{mx}</x><y>{my}</y><z>1</z></matrixSize>
<fieldOfView_mm><x>{fx}</x><y>{fy}</y><z>3.0</z></fieldOfView_mm></encodedSpace></encoding></ismrmrdHeader>"""


def test_fastmri_header_gives_the_pixel_size_in_mm(tmp_path, make_napari_viewer):
    """Issue 39 item 8: a fastMRI file's reconstruction sits in mm beside other scans (no "Inconsistent
    units"); a .npy, which carries no pixel size, stays in pixels."""
    h5py = pytest.importorskip("h5py")
    from im2im_core.mri.kspace import kspace_pixel_size
    from napari_im2im._qt_common import add_or_replace
    from napari_im2im._reconstruct import kspace_layer

    rng = np.random.default_rng(0)
    k = (rng.normal(size=(2, 64, 48)) + 1j * rng.normal(size=(2, 64, 48))).astype(np.complex64)
    path = tmp_path / "knee.h5"
    with h5py.File(path, "w") as f:
        f["kspace"] = k
        f["ismrmrd_header"] = HEADER.format(mx=64, my=48, fx=160.0, fy=96.0).encode()
    assert kspace_pixel_size(path, k.shape) == (3.0, 2.5, 2.0)
    assert kspace_pixel_size(path, k.shape[:1] + (50, 50)) is None  # a header for another grid is not used
    np.save(tmp_path / "k.npy", k)
    assert kspace_pixel_size(tmp_path / "k.npy", k.shape) is None

    def run(p):
        gen = kspace_layer(p)
        try:
            while True:
                next(gen)
        except StopIteration as stop:
            return stop.value

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((2, 64, 48), np.float32), name="scan", scale=(3.0, 2.5, 2.0), units=("mm",) * 3)
    layers = add_or_replace(viewer, run(path))
    np.testing.assert_allclose(layers[-1].scale, (3.0, 2.5, 2.0))
    assert [str(u) for u in viewer.layers.extent.units] == ["millimeter"] * 3
    data, kw, _ = run(tmp_path / "k.npy")[-1]
    assert tuple(kw.get("units", ("pixel",) * 3)) == ("pixel",) * 3
