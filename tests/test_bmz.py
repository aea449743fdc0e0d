"""`im2im export --format bioimageio`: the package passes bioimageio.spec's validation and
bioimageio.core's model test, offline, and runs like `translate` on an image it was not made from."""
import zipfile

import numpy as np
import pytest

import im2im_core
from im2im_core.cli import main

pytest.importorskip("bioimageio.core")


def predict(package, image: np.ndarray) -> np.ndarray:
    """bioimageio.core's own prediction (pre-processing, weights, post-processing) for one image."""
    from bioimageio.core import Sample, Tensor, load_description, predict as bmz_predict

    descr = load_description(package)
    x = image[None, None] if image.ndim == 2 else np.moveaxis(image, -1, 0)[None]
    sample = Sample(members={"image": Tensor(x.astype(np.float32), dims=("batch", "channel", "y", "x"))},
                    stat={}, id="t")
    out = bmz_predict(model=descr, inputs=sample)
    y = out.members["translated"].data.values[0]
    return y[0] if y.shape[0] == 1 else np.moveaxis(y, 0, -1)


def check_package(path) -> None:
    from bioimageio.core import test_model
    from bioimageio.spec import load_description

    descr = load_description(path, perform_io_checks=False)
    assert type(descr).__name__ == "ModelDescr", getattr(descr, "validation_summary", descr)
    summary = test_model(path)
    failed = [(d.name, [e.msg[:200] for e in d.errors]) for d in summary.details if d.status == "failed"]
    assert summary.status == "passed", failed


def test_shipped_model_package_validates_tests_and_matches_translate(tmp_path):
    from im2im_core.bmz import TOLERANCE
    from im2im_core.data.mni import load_mni_tissues, synthesize_contrast

    out = tmp_path / "model.zip"
    assert main(["export", "cyclegan_t1w_t2w", "--format", "bioimageio", "-o", str(out)]) == 0
    check_package(out)
    names = set(zipfile.ZipFile(out).namelist())
    assert {"rdf.yaml", "weights.pt", "test_input.npy", "test_output.npy", "cover.png", "README.md"} <= names
    rdf = zipfile.ZipFile(out).read("rdf.yaml").decode()
    assert "arxiv.org/abs/1703.10593" in rdf and "reproducibility_tolerance" in rdf  # CycleGAN's paper
    # another image than the package's test input: a coronal slice, whole, raw scale x 1000
    vol = synthesize_contrast(load_mni_tissues(), "T1w")
    img = np.ascontiguousarray(vol[:, vol.shape[1] // 2, :].T[::-1])[:188, :196].astype(np.float32) * 1000
    tr = im2im_core.load("cyclegan_t1w_t2w", device="cpu", precision="fp32")
    lo, hi = tr.intensity.window(img)
    ref = (tr.translate(img, tile=1024) - lo) / (hi - lo)
    got = predict(out, img)
    assert got.shape == ref.shape and np.abs(got - ref).max() < TOLERANCE, np.abs(got - ref).max()
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically


def test_rgb_fixed_window_package(tmp_path, tiny_rgb_ckpt):
    """A 3-channel model with a dtype window (scale_linear, not scale_range) on 8-bit values."""
    from im2im_core.bmz import export_bioimageio

    out = export_bioimageio(tiny_rgb_ckpt, tmp_path / "rgb.zip")
    check_package(out)
    img = np.random.default_rng(3).integers(0, 256, (64, 80, 3)).astype(np.uint8)
    tr = im2im_core.load(tiny_rgb_ckpt, device="cpu", precision="fp32")
    ref = tr.translate(img, out_dtype=np.float32) / 255.0
    got = predict(out, img.astype(np.float32))
    assert got.shape == ref.shape and np.abs(got - ref).max() < 1e-3


def test_without_the_edge_snap_the_model_test_fails(tmp_path, monkeypatch):
    """The snap is what makes the shipped prior models reproduce: bioimageio.core's scale_range puts
    the window's top 1e-6 below 1.0, where the quantile map steps."""
    from bioimageio.core import test_model

    from im2im_core import bmz

    monkeypatch.setattr(bmz, "snap_edges", lambda net: net)
    out = bmz.export_bioimageio("cyclegan_t1w_t2w", tmp_path / "nosnap.zip")
    assert test_model(out).status != "passed"


def test_missing_sample_and_bad_channels_are_clear(tmp_path, tiny_rgb_ckpt):
    from im2im_core.bmz import export_bioimageio
    from im2im_core.errors import InputError

    with pytest.raises(InputError, match="does not exist"):
        export_bioimageio(tiny_rgb_ckpt, tmp_path / "x.zip", sample=tmp_path / "missing.png")
    with pytest.raises(InputError, match="1 channel"):
        export_bioimageio(tiny_rgb_ckpt, tmp_path / "x.zip", sample=np.zeros((64, 64), np.float32))
    assert not (tmp_path / "x.zip").exists()
