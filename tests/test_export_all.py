"""Every export of every shipped architecture (issue 35): one shipped model per family in each format,
TorchScript, ONNX (run by onnxruntime) and a BioImage Model Zoo package (bioimageio.core's
`test_model`), reproduces our own `forward_tensor` on the same input; where a format cannot carry a
model, the export raises InputError saying why, before writing anything."""
import numpy as np
import pytest
import torch

import im2im_core
from im2im_core.bmz import _with_mask, export_bioimageio, sample_image
from im2im_core.checkpoint import read_metadata
from im2im_core.errors import InputError
from im2im_core.export import export, mask_options
from im2im_core.inference import shipped_models
from im2im_core.intensity import Intensity


def _one_per_family() -> dict[str, str]:
    """{family: the first shipped checkpoint of that family, by name}."""
    chosen = {}
    for name, path in sorted(shipped_models().items()):
        chosen.setdefault(read_metadata(path)["family"], name)
    return chosen


MODELS = _one_per_family()
FORMATS = ("torchscript", "onnx", "bioimageio")
#: (family, format) -> what the InputError says, for the exports that cannot carry the model
CANNOT = {
    # the caption is text: a traced graph of image tensors has no input for it
    **{(f, fmt): "caption" for f in ("gan_cls", "sisgan") for fmt in FORMATS},
    # the shipped inpainting model pre-fills holes with scikit-image's (untraceable) biharmonic solver
    **{("inpaint", fmt): "biharmonic" for fmt in FORMATS},
    # the data-consistency cascade's centred FFTs (fftshift) have no ONNX opset 17 operator
    ("mri_recon", "onnx"): "does not export to ONNX",
}
#: max |exported - forward_tensor| on [-1, 1]; ONNX has the intensity priors' mapping as a lookup
#: table (nets/prior._table_map), which blurs the mapping's jumps (see test_inference)
TOLERANCE = {"torchscript": 1e-4, "onnx": 1e-2}


def test_every_shipped_family_is_covered():
    assert {"super_resolution", "mri_recon", "inpaint", "gan_cls", "sisgan", "cycle_gan", "stargan"} <= set(MODELS)
    assert MODELS["super_resolution"] == "sr_x2_mri" and MODELS["mri_recon"] == "mri_recon_1dgauss"


def _test_image(tr, h: int, w: int) -> np.ndarray:
    """A crop of the package's default test image of the source domain (bmz.sample_image)."""
    model = tr.model
    direction = model.resolve_direction(None)
    src = direction.split("->")[0] if "->" in direction else tr.domains[0]
    img = sample_image(str(src), model.channels(direction)[0], model.size_multiple())
    top, left = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
    return np.ascontiguousarray(img[top:top + h, left:left + w])


def _inputs(tr):
    """(x (2, C, H, W) normalised to [-1, 1], mask (2, 1, H, W) 0/1 float or None, forward_tensor's
    options): the test image and its mirror, at another size than the export traced (64 x 64)."""
    model = tr.model
    img = _test_image(tr, 64, 96)
    opts = mask_options(model)
    mask = None
    if opts is not None:  # the image as the model takes it (zero-filled for a cascade) with its mask
        img, hole = _with_mask(model, img, None)
        mask = np.stack([hole, hole[:, ::-1]])[:, None].astype(np.float32)
        opts = {**opts, "mask": torch.from_numpy(mask)}
    lo, hi = tr.intensity.window(img)
    x = Intensity.normalise(img[None] if img.ndim == 2 else np.moveaxis(img, -1, 0), lo, hi).astype(np.float32)
    x = np.ascontiguousarray(np.stack([x, x[..., ::-1]]))
    return x, mask, opts or {}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("family", sorted(MODELS))
def test_export(tmp_path, family, fmt):
    name = MODELS[family]
    out = tmp_path / f"{name}.{fmt}"
    if (family, fmt) in CANNOT:
        with pytest.raises(InputError, match=CANNOT[family, fmt]):
            if fmt == "bioimageio":
                export_bioimageio(name, out)
            else:
                export(name, out, fmt, size=64)
        assert not list(tmp_path.iterdir())  # nothing written, not even a temporary file
        return
    tr = im2im_core.load(name, device="cpu", precision="fp32")
    if fmt == "bioimageio":
        from test_bmz import check_package

        mult = tr.model.size_multiple()
        side = max(64, 4 * mult)  # the package's smallest size is 4 size steps
        assert export_bioimageio(name, out, sample=_test_image(tr, side, side)) == out
        check_package(out)
        return
    x, mask, opts = _inputs(tr)
    assert export(name, out, fmt, size=64) == out
    with torch.no_grad():
        ref = tr.forward_tensor(torch.from_numpy(x), tile=4096, **opts)[0]["image"].numpy()
    feeds = [x] if mask is None else [x, mask]
    if fmt == "torchscript":
        with torch.no_grad():
            got = torch.jit.load(str(out))(*map(torch.from_numpy, feeds)).numpy()
    else:
        ort = pytest.importorskip("onnxruntime")
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = session.run(None, dict(zip(["image", "mask"], feeds)))[0]
    scale = 2 if family == "super_resolution" else 1
    assert ref.shape == (2, tr.model.channels(tr.model.resolve_direction(None))[1], 64 * scale, 96 * scale)
    assert got.shape == ref.shape and np.abs(got - ref).max() < TOLERANCE[fmt], np.abs(got - ref).max()


def test_super_resolution_package_is_upscaled_and_predicts_like_translate(tmp_path):
    """The x2 package's output is twice the input's size, declared so, and bioimageio.core's own
    prediction on another image matches `translate` (it once reshaped the output to the input's size)."""
    from test_bmz import predict

    from im2im_core.bmz import TOLERANCE as BMZ_TOLERANCE

    out = export_bioimageio("sr_x2_mri", tmp_path / "sr.zip", sample=sample_image("T1w", 1, 1)[:64, :64])
    tr = im2im_core.load("sr_x2_mri", device="cpu", precision="fp32")
    img = sample_image("T2w", 1, 1)[40:88, 30:86] * 1000  # another contrast, size and scale
    lo, hi = tr.intensity.window(img)
    ref = (tr.translate(img, tile=1024) - lo) / (hi - lo)
    got = predict(out, img)
    assert ref.shape == (96, 112) and got.shape == ref.shape and np.abs(got - ref).max() < BMZ_TOLERANCE


def test_reconstruction_package_takes_its_mask(tmp_path):
    """A cascade's package has a second input, the k-space mask, and its test pair is a zero-filled
    image with the mask that made it."""
    import zipfile

    out = export_bioimageio("mri_recon_1dgauss", tmp_path / "recon.zip", sample=sample_image("T1w", 1, 1)[:64, :64])
    with zipfile.ZipFile(out) as z:
        mask = np.load(z.open("test_mask.npy"))
        assert "test_mask.npy" in z.read("rdf.yaml").decode()
    assert mask.shape == (1, 1, 64, 64) and set(np.unique(mask)) == {0.0, 1.0} and 0 < mask.mean() < 0.5
    with pytest.raises(InputError, match="takes no mask"):
        export_bioimageio("sr_x2_mri", tmp_path / "sr.zip", mask=np.ones((64, 64)))
