"""BioImage Model Zoo export: one `.zip` that napari (bioimageio plugins), Fiji/deepImageJ, ilastik
and `bioimageio.core` run without napari-im2im.

The package holds TorchScript weights, a test input (a whole slice or image a user would bring)
with the output `translate` gives for it, the axes, pre- and post-processing, a cover, a README
and the family's paper. Pre-processing reproduces the checkpoint's intensity window: a
percentile window becomes `scale_range` + `clip` + `scale_linear` to [-1, 1]; a fixed window
becomes `scale_linear` + `clip`. The output is `scale_linear`d to [0, 1] over the input's window
(multiply by the window's width and add its low end for raw values); its y and x axes are the
input's times the model's scale (2 for x2 super-resolution). A family that needs a mask
(`export.mask_options`: inpainting's holes, a reconstruction cascade's k-space sampling mask) gets
a second input, "mask", of the image's size; a caption-conditioned family does not export.
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np

from .errors import InputError

#: the package's stated reproduction tolerance, in [0, 1] output units
TOLERANCE = 1e-3
#: bioimageio.core's `scale_range` divides by (high - low + 1e-6) whatever `eps` says, so a pixel at
#: the top of the window arrives just below 1.0; an intensity prior's quantile map can step there
#: (the training data's clipped top is a mass point), so the exported network snaps inputs this
#: close to the window's ends onto them
SNAP = 1e-4
CONTRASTS = ("T1w", "T2w", "PD")


def snap_edges(net):
    """`net` behind a snap of inputs within SNAP of -1 or 1 onto -1 or 1."""
    import torch

    class SnapEdges(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.net = inner

        def forward(self, x, *rest):  # rest: a mask input, passed on as is
            x = torch.where(x > 1 - SNAP, torch.ones_like(x), x)
            return self.net(torch.where(x < -1 + SNAP, -torch.ones_like(x), x), *rest)

    return SnapEdges(net)


def sample_image(domain: str, channels: int, multiple: int) -> np.ndarray:
    """A default test image of the source domain: a whole axial 1 mm slice of the MNI152 template
    in that contrast for MRI domains, the astronaut photograph for RGB, else a smooth phantom;
    cropped to a multiple of the model's size multiple."""
    if channels == 3:
        from skimage import data

        img = data.astronaut()[128:384, 128:384]  # uint8: a dtype window reads the dtype
    elif domain in CONTRASTS:
        from .data.mni import load_mni_tissues, synthesize_contrast

        vol = synthesize_contrast(load_mni_tissues(), domain)
        img = np.ascontiguousarray(vol[:, :, vol.shape[2] // 2].T[::-1]).astype(np.float32)
    elif channels == 1:
        from skimage.data import binary_blobs
        from skimage.filters import gaussian

        img = gaussian(binary_blobs(256, 0.05, rng=0).astype(np.float32), 2).astype(np.float32)
    else:
        raise InputError(f"give a test image (sample=) for a {channels}-channel model")
    return img[: img.shape[0] // multiple * multiple, : img.shape[1] // multiple * multiple]


def _channels_first(img: np.ndarray, channels: int) -> np.ndarray:
    """(1, C, H, W) float32 from a 2D image or an (H, W, C) one."""
    arr = img[None] if img.ndim == 2 else np.moveaxis(img, -1, 0)
    if arr.shape[0] != channels:
        raise InputError(f"the test image has {arr.shape[0]} channel(s) but the model takes {channels}")
    return arr[None].astype(np.float32)


def _with_mask(model, image: np.ndarray, mask) -> tuple[np.ndarray, np.ndarray]:
    """(test image, its mask as bool (H, W)) for a family whose export takes a mask. Without `mask`:
    inpainting draws holes as in training; a reconstruction cascade takes `image` as fully sampled
    and returns its zero-filled image under the training mask kind and ratio, with that mask.
    A given mask goes with an image as the model takes it (a zero-filled one for reconstruction)."""
    import torch

    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != image.shape[:2]:
            raise InputError(f"the test mask is {mask.shape} but the test image {image.shape[:2]}: give one of the "
                             "image's size")
        return image, mask != 0
    c = model.config
    if model.family == "inpaint":
        from .data.holes import random_hole_mask

        return image, random_hole_mask(image.shape[:2], 0, tuple(c.hole_ratio), c.hole_kind)
    from .mri import undersample

    x = torch.from_numpy(np.ascontiguousarray(image, np.float32))
    m = model.sampling_mask(x[None, None], mask_kind=c.mask_kind)[0, 0]
    return undersample(x, m)[1].numpy().astype(np.float32), m.numpy()


def _processing(v, intensity, image: np.ndarray):
    """The input's pre-processing steps that reproduce the checkpoint's intensity window."""
    to_pm1 = v.ScaleLinearDescr(kwargs=v.ScaleLinearKwargs(gain=2.0, offset=-1.0))
    if intensity.mode == "percentile":
        axes = [v.AxisId("channel"), v.AxisId("y"), v.AxisId("x")]
        return [v.ScaleRangeDescr(kwargs=v.ScaleRangeKwargs(axes=axes, min_percentile=float(intensity.low),
                                                            max_percentile=float(intensity.high))),
                v.ClipDescr(kwargs=v.ClipKwargs(min=0.0, max=1.0)), to_pm1]
    lo, hi = intensity.window(image)
    gain = 2.0 / (hi - lo)
    return [v.ScaleLinearDescr(kwargs=v.ScaleLinearKwargs(gain=gain, offset=-1.0 - lo * gain)),
            v.ClipDescr(kwargs=v.ClipKwargs(min=-1.0, max=1.0))]


def _readme(tr, direction: str, src: str, paper: tuple, sample_note: str, mask_note: str = "", scale: int = 1) -> str:
    prov = tr.meta.get("provenance") or {}
    size_note = f", {scale} times the input's height and width" if scale != 1 else ""
    lines = [f"# {tr.name}: {tr.family}, {direction}", "",
             f"A {tr.family} generator exported from napari-im2im ({paper[0]}).", "",
             "## Input and output",
             f"- Input: one image of domain {src!r}, axes (batch, channel, y, x), any size that is a multiple "
             f"of the model's size step; intensities are windowed as in training ({tr.intensity}).",
             *([f"- Input \"mask\": {mask_note}, axes (batch, channel, y, x), the image's size."] if mask_note else []),
             f"- Output: the translation, axes as the input{size_note}, in [0, 1] over the input's intensity window.",
             "",
             "## Training", *(f"- {k}: {prov[k]}" for k in ("iterations", "data", "command", "note") if k in prov),
             "", "## Validation",
             f"The test input is {sample_note}. The test output is what `im2im_core.translate` returns for it "
             f"(fp32, whole image); this package reproduces it within {TOLERANCE} (absolute, [0, 1] units).", ""]
    return "\n".join(lines)


def export_bioimageio(checkpoint, output, direction: str | None = None, sample=None, mask=None) -> Path:
    """Write a BioImage Model Zoo package (`.zip`) of `checkpoint` and return its path.
    `sample`: the test image (a path or an array in the input domain); by default one made by
    `sample_image`. `mask`: the test image's mask (path or array) for a family that takes one
    (see `_with_mask`); by default one made as in training."""
    try:
        import bioimageio.spec.model.v0_5 as v
        import torch
        from bioimageio.spec import save_bioimageio_package
        from PIL import Image
    except ImportError:
        raise InputError("BioImage Model Zoo export needs bioimageio.core: pip install 'napari-im2im[bioimageio]'") from None
    from .export import export, export_module, mask_options
    from .inference import load
    from .intensity import Intensity
    from .io import read_image, write_image

    tr = load(checkpoint, device="cpu", precision="fp32")
    model = tr.model
    direction = model.resolve_direction(direction)
    export_module(model, direction, "bioimageio")  # refuses what a package cannot carry, before any work
    cin, cout = model.channels(direction)
    mult = model.size_multiple()
    src = direction.split("->")[0] if "->" in direction else tr.domains[1] if direction == "BtoA" else tr.domains[0]
    if sample is None:
        image, note = sample_image(str(src), cin, mult), f"a whole slice or image of domain {src!r} made offline"
    else:
        image = read_image(sample).data if isinstance(sample, (str, Path)) else np.asarray(sample)
        note = f"the image {Path(sample).name}" if isinstance(sample, (str, Path)) else "an image given at export"
        image = image[: image.shape[0] // mult * mult, : image.shape[1] // mult * mult]
    opts = mask_options(model)
    if opts is not None:
        if isinstance(mask, (str, Path)):
            mask = read_image(mask).data
        image, hole = _with_mask(model, image, mask)
        opts = {**opts, "mask": hole}
    elif mask is not None:
        raise InputError(f"a {model.family} model takes no mask")
    x_in = _channels_first(image, cin)
    lo, hi = tr.intensity.window(image)
    with torch.no_grad():  # what `translate` computes between its normalisation and denormalisation
        y = tr.forward_tensor(torch.from_numpy(Intensity.normalise(x_in, lo, hi)), direction,
                              tile=max(1024, *image.shape[:2]), **(opts or {}))
    y = y[0]["image"].float().numpy()[0]  # (C, H', W'): H' = scale * H (super-resolution)
    scale = y.shape[1] // image.shape[0]
    if y.shape[1:] != (scale * image.shape[0], scale * image.shape[1]):
        raise InputError(f"the model's output {y.shape[1:]} is no integer multiple of its input {image.shape[:2]}")
    y01 = (y + 1) / 2
    y01 = y01[0] if y01.shape[0] == 1 else np.moveaxis(y01, 0, -1)
    output = Path(output)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        weights = export(checkpoint, d / "weights.pt", "torchscript", direction, size=min(image.shape[:2]),
                         wrap=snap_edges)
        y_out = _channels_first(y01, cout)
        np.save(d / "test_input.npy", x_in)
        np.save(d / "test_output.npy", y_out)
        write_image(d / "sample_input.tif", x_in[0])
        write_image(d / "sample_output.tif", y_out[0])
        if opts is not None:
            m_in = opts["mask"].astype(np.float32)[None, None]
            np.save(d / "test_mask.npy", m_in)
            write_image(d / "sample_mask.tif", m_in[0])
        shown = [np.clip((image.astype(np.float32) - lo) / (hi - lo), 0, 1), np.clip(y01, 0, 1)]
        shown[0] = shown[0].repeat(scale, 0).repeat(scale, 1)  # the input at the output's size
        shown = [s if s.ndim == 3 else np.repeat(s[..., None], 3, -1) for s in shown]
        Image.fromarray((np.concatenate(shown, 1) * 255).round().astype(np.uint8)).save(d / "cover.png")
        paper = type(model).paper
        mask_note = "" if opts is None else (
            "the holes to fill, nonzero = hole" if model.family == "inpaint" else
            "the k-space sampling mask of the input (centred k-space, nonzero = sampled); the input is the "
            "zero-filled magnitude image it gives")
        (d / "README.md").write_text(_readme(tr, direction, str(src), paper, note, mask_note, scale))

        size = v.ParameterizedSize(min=mult * 4, step=mult)
        names = ["red", "green", "blue"] if cin == 3 else [f"c{i}" for i in range(cin)]
        axes_in = [v.BatchAxis(), v.ChannelAxis(channel_names=[v.Identifier(n) for n in names]),
                   v.SpaceInputAxis(id=v.AxisId("y"), size=size), v.SpaceInputAxis(id=v.AxisId("x"), size=size)]
        same = {ax: v.SizeReference(tensor_id=v.TensorId("image"), axis_id=v.AxisId(ax)) for ax in ("y", "x")}
        out_names = ["red", "green", "blue"] if cout == 3 else [f"c{i}" for i in range(cout)]
        # output size = input size * input scale (1) / output scale
        axes_out = [v.BatchAxis(), v.ChannelAxis(channel_names=[v.Identifier(n) for n in out_names]),
                    *(v.SpaceOutputAxis(id=v.AxisId(ax), size=same[ax], scale=1 / scale) for ax in ("y", "x"))]
        mask_in = [] if opts is None else [v.InputTensorDescr(
            id=v.TensorId("mask"), description=mask_note.split(";")[0][:128],
            axes=[v.BatchAxis(), v.ChannelAxis(channel_names=[v.Identifier("mask")]),
                  *(v.SpaceInputAxis(id=v.AxisId(ax), size=same[ax]) for ax in ("y", "x"))],
            test_tensor=v.FileDescr(source=d / "test_mask.npy"),
            sample_tensor=v.FileDescr(source=d / "sample_mask.tif"))]
        descr = v.ModelDescr(
            name=re.sub(r"[^\w+\- ()]", " ", f"napari-im2im {tr.name} {direction.replace('->', ' to ')}")[:128],
            description=f"{tr.family} image-to-image translation {direction}, trained with napari-im2im",
            authors=[v.Author(name="napari-im2im developers")],
            cite=[v.CiteEntry(text=paper[0], url=paper[1])],
            license=v.LicenseId("MIT"),
            documentation=v.FileDescr(source=d / "README.md"),
            covers=[v.FileDescr(source=d / "cover.png")],
            inputs=[v.InputTensorDescr(id=v.TensorId("image"), axes=axes_in,
                                       test_tensor=v.FileDescr(source=d / "test_input.npy"),
                                       sample_tensor=v.FileDescr(source=d / "sample_input.tif"),
                                       preprocessing=_processing(v, tr.intensity, image)), *mask_in],
            outputs=[v.OutputTensorDescr(id=v.TensorId("translated"), axes=axes_out,
                                         test_tensor=v.FileDescr(source=d / "test_output.npy"),
                                         sample_tensor=v.FileDescr(source=d / "sample_output.tif"),
                                         postprocessing=[v.ScaleLinearDescr(
                                             kwargs=v.ScaleLinearKwargs(gain=0.5, offset=0.5))])],
            weights=v.WeightsDescr(torchscript=v.TorchscriptWeightsDescr(
                source=weights, pytorch_version=v.Version(torch.__version__.split("+")[0]))),
            tags=["image-to-image", "translation", tr.family.replace("_", "-"), "napari-im2im"],
            config=v.Config(bioimageio=v.BioimageioConfig(reproducibility_tolerance=[
                # the spec caps the tolerance at 1% of the test output's largest value
                v.ReproducibilityTolerance(absolute_tolerance=min(TOLERANCE, 0.01 * float(np.abs(y01).max())),
                                           relative_tolerance=1e-3)])),
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp_zip = output.with_name(f".{output.name}.tmp")
        try:
            save_bioimageio_package(descr, output_path=tmp_zip)
            tmp_zip.replace(output)
        finally:
            tmp_zip.unlink(missing_ok=True)
    return output
