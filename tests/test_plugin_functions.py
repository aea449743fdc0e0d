"""The plugin's pure functions, without napari or Qt (this file imports neither).

Each widget is a thin shell over one generator here; these tests drive the generators directly
(progress events, cancellation, layer placement, provenance), plus the NIfTI reader/writer, the
sample data and the manifest.
"""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from im2im_core.errors import Cancelled, InputError
from napari_im2im._layers import Progress, check_image, output_kwargs
from napari_im2im._testing import tiny_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def drain(gen):
    """(events, return value) of a plugin generator."""
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return events, stop.value


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("plugin_ckpts")
    return {
        "generator": tiny_checkpoint(d, "generator"),
        "rgb": tiny_checkpoint(d, "generator", channels=3, name="tiny_rgb"),
        "attention": tiny_checkpoint(d, "attention_cycle_gan"),
        "mri": tiny_checkpoint(d, "mri_recon"),
        "inpaint": tiny_checkpoint(d, "inpaint"),
        "sr": tiny_checkpoint(d, "super_resolution", scale=2),
    }


def smooth(shape, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[-2], : shape[-1]]
    base = np.sin(xx / 5.0) + np.cos(yy / 7.0) + 2.0
    return (base + 0.05 * rng.standard_normal(shape)).astype(np.float32)


META3 = {"name": "vol", "scale": (2.0, 0.5, 0.25), "translate": (1.0, 2.0, 3.0),
         "axis_labels": ("z", "y", "x"), "units": ("mm", "mm", "mm")}


def test_pure_modules_import_no_gui():
    code = ("import napari_im2im, napari_im2im._translate, napari_im2im._attention, napari_im2im._reconstruct, "
            "napari_im2im._train, napari_im2im._io, napari_im2im._sample_data, napari_im2im._testing\n"
            "import sys; print('\\n'.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    banned = {m for m in out.stdout.split() if m.split(".")[0] in ("napari", "qtpy", "PyQt6", "PyQt5", "PySide6",
                                                                     "magicgui", "vispy")}
    assert not banned, sorted(banned)[:5]
    light = subprocess.run([sys.executable, "-c", "import napari_im2im, sys; print('torch' in sys.modules)"],
                           capture_output=True, text=True, check=True, cwd=ROOT)
    assert light.stdout.strip() == "False"  # importing the package (npe2 does) stays cheap


def test_manifest_validates_and_names_resolve():
    import importlib
    import importlib.util

    from npe2 import PluginManifest

    mf = PluginManifest.from_file(ROOT / "napari_im2im" / "napari.yaml")
    assert mf.name == "napari-im2im"
    assert [w.display_name for w in mf.contributions.widgets] == ["Translate", "Attention masks",
                                                                  "Reconstruct / Inpaint", "Train"]
    assert {"napari/layers/filter", "napari/layers/visualize"} <= set(mf.contributions.menus)
    assert [s.key for s in mf.contributions.sample_data] == ["mni152_t1", "mni152_t2", "colin27_head", "astronaut"]
    widget_cmds = {w.command for w in mf.contributions.widgets}
    for cmd in mf.contributions.commands:
        module, attr = cmd.python_name.split(":")
        if cmd.id in widget_cmds:  # Qt modules: checked without importing Qt here
            spec = importlib.util.find_spec(module)
            assert spec and f"class {attr}(" in Path(spec.origin).read_text(), cmd.python_name
        else:
            assert callable(getattr(importlib.import_module(module), attr)), cmd.python_name


@pytest.mark.parametrize("shape,rgb,dtype", [((64, 64), False, np.uint16), ((3, 64, 64), False, np.float32),
                                             ((2, 2, 32, 32), False, np.float32), ((64, 64, 3), True, np.uint8)])
def test_translate_layer_shapes_dtypes_and_placement(ckpts, shape, rgb, dtype):
    from napari_im2im._translate import translate_layer

    data = (smooth(shape) * 1000 if dtype == np.uint16 else smooth(shape) * (60 if rgb else 1)).astype(dtype)
    nsp = len(shape) - (1 if rgb else 0)
    meta = {"name": "img", "rgb": rgb, "scale": tuple(np.linspace(0.5, 2.0, nsp)), "translate": (5.0,) * nsp,
            "axis_labels": tuple("tzyx"[-nsp:]), "units": ("um",) * nsp}
    events, layers = drain(translate_layer(data, meta, ckpts["rgb" if rgb else "generator"], tile=512))
    assert all(isinstance(e, Progress) for e in events) and events[-1].message.startswith("done")
    (out, kw, kind), = layers
    assert kind == "image" and out.shape == data.shape and out.dtype == data.dtype
    assert kw["scale"] == meta["scale"] and kw["translate"] == meta["translate"]
    assert kw["axis_labels"] == meta["axis_labels"] and kw["units"] == meta["units"]
    assert kw.get("rgb", False) == rgb
    prov = kw["metadata"]["im2im"]
    assert prov["family"] == "generator" and prov["checkpoint_path"].endswith(".safetensors")
    assert prov["options"]["direction"] == "AtoB" and kw["metadata"]["source_layer"] == "img"


def test_translate_layer_passes_the_layer_spacing_in_mm(tmp_path):
    """A layer in mm (or um) tells the model its pixel size; a layer in pixels does not."""
    from napari_im2im._translate import layer_spacing, translate_layer

    ckpt = tiny_checkpoint(tmp_path, "generator", spacing=(1.0, 1.0), name="spaced")
    assert layer_spacing({"units": ("mm", "mm", "mm"), "scale": (3.0, 2.0, 0.5)}) == (2.0, 0.5)
    assert layer_spacing({"units": ("millimeter",) * 2, "scale": (2.0, 2.0)}) == (2.0, 2.0)
    assert layer_spacing({"units": ("um", "um"), "scale": (500.0, 250.0)}) == (0.5, 0.25)
    assert layer_spacing({"units": ("pixel", "pixel"), "scale": (2.0, 2.0)}) is None
    data = smooth((3, 40, 36))
    _, layers = drain(translate_layer(data, META3, ckpt))
    (out, kw, _), = layers
    assert out.shape == data.shape and kw["scale"] == META3["scale"]
    assert kw["contrast_limits"] == (float(out.min()), float(out.max()))  # computed in the worker (issue 39 item 9)
    assert kw["metadata"]["im2im"]["options"]["spacing"] == [0.5, 0.25]
    _, kept = drain(translate_layer(data, {**META3, "metadata": {"affine": [[1.0]], "source": "scan"}}, ckpt))
    assert kept[0][1]["metadata"]["im2im"]["input_metadata"] == {"affine": [[1.0]], "source": "scan"}
    _, plain = drain(translate_layer(data, {**META3, "scale": (1.0, 1.0, 1.0)}, ckpt))
    assert not np.allclose(plain[0][0], out)  # 0.5 x 0.25 mm pixels went through the 1 mm grid


def test_translate_streams_per_slice_and_cancels_within_a_slice(ckpts):
    from napari_im2im._translate import translate_layer

    stack = smooth((30, 64, 64))
    cancel = threading.Event()
    gen = translate_layer(stack, {"name": "s"}, ckpts["generator"], cancel=cancel)
    seen = []
    with pytest.raises(Cancelled):
        for ev in gen:
            seen.append(ev)
            if ev.total == 30 and ev.done >= 2:
                cancel.set()
    done = max(e.done for e in seen if e.total == 30)
    assert 2 <= done < 30


def test_check_image_refuses_what_cannot_be_translated():
    with pytest.raises(InputError, match="labels layer"):
        check_image(np.zeros((8, 8), np.int32), {"name": "seg", "kind": "labels"})
    with pytest.raises(InputError, match="supported are"):
        check_image(np.zeros((2, 2, 2, 8, 8)), {"name": "5d"})
    with pytest.raises(InputError, match="empty"):
        check_image(np.zeros((0, 16)), {"name": "e"})
    with pytest.raises(InputError, match="no image layer"):
        check_image(None, {"name": "(none)"})
    arr, meta = check_image(np.zeros((2, 2, 8, 8, 3), np.uint8), {"name": "rgb4d", "rgb": True})
    assert meta["scale"] == (1.0,) * 4 and meta["units"] == ("pixel",) * 4


def test_output_kwargs_with_a_sample_axis():
    _, meta = check_image(np.zeros((4, 8, 8)), dict(META3))
    kw = output_kwargs(meta, "out", {"x": 1}, lead=1)
    assert kw["scale"] == (1.0, 2.0, 0.5, 0.25) and kw["axis_labels"] == ("sample", "z", "y", "x")
    assert kw["units"] == ("pixel", "mm", "mm", "mm") and kw["metadata"]["im2im"] == {"x": 1}


def test_attention_layers_and_composition(ckpts):
    from napari_im2im._attention import attention_layers, compose

    x = smooth((64, 64))
    _, layers = drain(attention_layers(x, {"name": "h", "scale": (0.5, 0.5)}, ckpts["attention"], threshold=0.0))
    names = [kw["name"] for _, kw, _ in layers]
    assert names == ["h [translated]", "h [foreground]", "h [background]", "h [attention]"]
    y, fg, bg, a = (d for d, _, _ in layers)
    assert a.shape == x.shape and 0 <= a.min() and a.max() <= 1
    air = x <= x.min() + 0.02 * (x.max() - x.min())
    np.testing.assert_allclose(bg[~air], ((1 - a) * x)[~air], rtol=1e-5)
    np.testing.assert_allclose(fg + bg, y, rtol=1e-4, atol=1e-4)
    assert all(kw["scale"] == (0.5, 0.5) for _, kw, _ in layers)
    thr = float(np.median(a))
    fg2, bg2 = compose(x, y, a, thr)
    weak = a < thr
    assert (fg2[weak] == 0).all() and np.allclose(bg2[weak], x[weak]) and np.allclose(fg2[~weak], fg[~weak])
    with pytest.raises(InputError, match="no attention"):
        drain(attention_layers(x, {"name": "h"}, ckpts["generator"]))


def test_attention_overlay_leaves_air_dark_and_compositions_keep_the_inputs_black(ckpts):
    """Issue 39 item 8: the overlay showed attention over the air around a head, and the
    foreground composition's zeros read mid-gray; air now shows no attention, and the compositions
    use the input's value range."""
    from napari_im2im._attention import attention_layers

    x = np.zeros((64, 64), np.float32)
    x[12:52, 12:52] = 0.2 + smooth((40, 40)) - smooth((40, 40)).min()  # an object in air
    _, layers = drain(attention_layers(x, {"name": "h"}, ckpts["attention"], threshold=None))
    kw = {k["name"]: k for _, k, _ in layers}
    a = layers[-1][0]
    assert (a[x == 0] == 0).all() and a[x > 0].max() > 0
    for name in ("h [foreground]", "h [background]"):
        lo, hi = kw[name]["contrast_limits"]
        assert lo == 0.0 and hi == pytest.approx(float(x.max()))


def test_mri_zero_filled_metrics_use_explicit_data_range():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from napari_im2im._reconstruct import reconstruct_layer

    gt = smooth((64, 64))
    events, layers = drain(reconstruct_layer(gt, {"name": "b", "scale": (0.8, 0.8)}, None,
                                             mask_kind="equispaced_lines", acceleration=4, seed=1))
    names = [kw["name"] for _, kw, _ in layers]
    assert names == ["b [mask]", "b [zero-filled]", "b [error]", "b [reconstruction]"]
    mask, zf, err, rec = (d for d, _, _ in layers)
    assert mask.shape == (64, 64) and abs(mask.mean() - 0.25) < 0.02
    np.testing.assert_array_equal(rec, zf)  # no model: the zero-filled image is the reconstruction
    np.testing.assert_allclose(err, np.abs(zf - gt))
    m = layers[-1][1]["metadata"]["im2im"]["metrics"]
    dr = float(gt.max() - gt.min())
    assert m["data_range"] == pytest.approx(dr)
    assert m["reconstruction"]["psnr"] == pytest.approx(peak_signal_noise_ratio(gt, zf, data_range=dr), rel=1e-6)
    assert m["reconstruction"]["ssim"] == pytest.approx(structural_similarity(gt, zf, data_range=dr), rel=1e-6)
    _, better = drain(reconstruct_layer(gt, {"name": "b"}, None, mask_kind="equispaced_lines", acceleration=2))
    assert better[-1][1]["metadata"]["im2im"]["metrics"]["reconstruction"]["psnr"] > m["reconstruction"]["psnr"]


def test_mri_with_a_model_and_cancel(ckpts):
    from napari_im2im._reconstruct import reconstruct_layer

    gt = smooth((3, 64, 64))
    _, layers = drain(reconstruct_layer(gt, dict(META3), ckpts["mri"], mask_kind="gaussian2d", acceleration=3))
    prov = layers[-1][1]["metadata"]["im2im"]
    assert prov["family"] == "mri_recon" and prov["method"] == "model"
    assert layers[-1][0].shape == gt.shape and layers[1][0].shape == gt.shape
    assert layers[0][1]["scale"] == (0.5, 0.25)  # the 2D mask lies on the image plane
    with pytest.raises(InputError, match="mri_recon"):
        drain(reconstruct_layer(gt, {"name": "b"}, ckpts["generator"]))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        drain(reconstruct_layer(gt, {"name": "b"}, None, cancel=cancel))


def test_inpaint_keeps_known_pixels(ckpts):
    from napari_im2im._reconstruct import holes_from_labels, inpaint_layer

    img = smooth((64, 64))
    labels = np.zeros((64, 64), np.int32)
    labels[10:20, 10:20] = 1
    labels[40:50, 40:50] = 2
    holes = holes_from_labels(labels, 2, img.shape)
    assert holes.sum() == 100
    for model in (None, ckpts["inpaint"]):
        _, ((out, kw, _),) = drain(inpaint_layer(img, {"name": "c"}, holes, model))
        np.testing.assert_allclose(out[~holes], img[~holes], atol=1e-6)
        assert kw["name"] == "c [inpainted]"
    stack = smooth((2, 64, 64))
    _, ((out, _, _),) = drain(inpaint_layer(stack, {"name": "s"}, holes, None))  # 2D holes on every slice
    assert out.shape == stack.shape
    per_slice = np.stack([holes, np.roll(holes, 20, axis=1)])  # different holes on each slice
    events, ((out, _, _),) = drain(inpaint_layer(stack, {"name": "s"}, per_slice, ckpts["inpaint"]))
    np.testing.assert_allclose(out[~per_slice], stack[~per_slice], atol=1e-6)
    assert any(e.total == 2 for e in events)  # one progress step per slice
    with pytest.raises(InputError, match="empty"):
        drain(inpaint_layer(img, {"name": "c"}, np.zeros_like(holes), None))


def test_super_resolution_overlays_the_input(ckpts):
    from napari_im2im._reconstruct import super_resolve_layer

    img = smooth((2, 32, 32))
    _, ((out, kw, _),) = drain(super_resolve_layer(img, dict(META3), ckpts["sr"]))
    assert out.shape == (2, 64, 64)
    assert kw["scale"] == (2.0, 0.25, 0.125) and kw["name"] == "vol [x2]"
    # first output pixel's left edge coincides with the first input pixel's left edge
    for ax, s_in in ((1, 0.5), (2, 0.25)):
        assert kw["translate"][ax] - kw["scale"][ax] / 2 == pytest.approx(META3["translate"][ax] - s_in / 2)
    assert kw["translate"][0] == META3["translate"][0]
    with pytest.raises(InputError, match="super_resolution"):
        drain(super_resolve_layer(img, dict(META3), ckpts["generator"]))


def _world(data, kw, index):
    """World position (napari axis order) of a data index under a layer's geometry."""
    import napari.layers

    layer = napari.layers.Image(data, **{k: v for k, v in kw.items() if k in ("scale", "translate", "affine")})
    return np.asarray(layer.data_to_world(index))


def test_nifti_round_trip_keeps_every_voxel_in_place(tmp_path):
    import nibabel as nib

    from napari_im2im._io import get_reader, read_nifti, write_image

    data = smooth((5, 6, 7))
    data[1, 2, 3] = 10.0  # a marked voxel, found again after the round trip
    meta = {"scale": (3.0, 2.0, 0.5), "translate": (-30.0, 12.0, 7.5), "units": ("mm",) * 3, "rgb": False}
    path = tmp_path / "v.nii.gz"
    assert write_image(str(path), data, meta) == [str(path)]
    img = nib.load(str(path))
    assert img.shape == (7, 6, 5) and np.allclose(np.diag(img.affine)[:3], (0.5, 2.0, 3.0))  # stored RAS+
    assert get_reader(str(path)) is read_nifti and get_reader("x.png") is None
    (back, kw, kind), = read_nifti(str(path))
    assert back.shape == data.shape and np.sort(back, None) == pytest.approx(np.sort(data, None))
    np.testing.assert_allclose(back[:, ::-1], data)  # shown with rows anterior first
    marked = np.unravel_index(np.argmax(back), back.shape)
    np.testing.assert_allclose(_world(back, kw, marked), _world(data, meta, (1, 2, 3)), atol=1e-6)
    assert kw["scale"] == pytest.approx(meta["scale"])
    assert kw["axis_labels"] == ("z", "y", "x") and kw["units"] == ("mm",) * 3 and kw["name"] == "v"
    # a flipped (LAS) file comes back in canonical RAS+ orientation with positive spacing
    aff = np.diag([-1.0, 1.0, 2.0, 1.0])
    aff[:3, 3] = (10.0, -5.0, 0.0)
    nib.save(nib.Nifti1Image(data.T.copy(), aff), str(tmp_path / "las.nii"))
    (flip, kw2, _), = read_nifti(str(tmp_path / "las.nii"))
    np.testing.assert_allclose(flip[:, ::-1], data[:, :, ::-1])
    assert kw2["scale"] == (2.0, 1.0, 1.0) and kw2["metadata"]["nifti"]["orientation"] == "LAS"
    marked = np.unravel_index(np.argmax(flip), flip.shape)
    np.testing.assert_allclose(_world(flip, kw2, marked), (aff @ (3, 2, 1, 1.0))[:3][::-1], atol=1e-6)


def _oblique_affine():
    """A 10 degree rotation about z, a shear and anisotropic voxels (NIfTI x, y, z order)."""
    c, s = np.cos(np.deg2rad(10)), np.sin(np.deg2rad(10))
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    shear = np.array([[1.0, 0.15, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ shear @ np.diag([0.9, 1.1, 2.5])
    aff[:3, 3] = (-40.0, 25.0, -12.0)
    return aff


def test_oblique_nifti_voxels_lie_where_the_affine_puts_them(tmp_path):
    """Every voxel's world position (S, A, R order) equals the NIfTI affine's, rotation and shear included."""
    import nibabel as nib
    import napari.layers

    from napari_im2im._io import read_nifti

    aff = _oblique_affine()
    vol = smooth((7, 6, 5)).T.copy()  # (x, y, z)
    nib.save(nib.Nifti1Image(vol, aff), str(tmp_path / "obl.nii.gz"))
    (data, kw, _), = read_nifti(str(tmp_path / "obl.nii.gz"))
    assert "affine" in kw
    layer = napari.layers.Image(data, **{k: v for k, v in kw.items() if k != "name"})
    img = nib.as_closest_canonical(nib.load(str(tmp_path / "obl.nii.gz")))
    ny = img.shape[1]
    for i, j, k in [(0, 0, 0), (4, 1, 3), (2, 5, 6)]:  # the layer shows rows anterior first
        want = (img.affine @ (i, j, k, 1.0))[:3][::-1]
        np.testing.assert_allclose(layer.data_to_world((k, ny - 1 - j, i)), want, atol=1e-6)
        assert data[k, ny - 1 - j, i] == pytest.approx(np.asarray(img.dataobj)[i, j, k])
    np.testing.assert_allclose(kw["scale"], np.linalg.norm(img.affine[:3, :3], axis=0)[::-1])


def test_tiff_writer_keeps_voxel_size(tmp_path):
    import tifffile

    from napari_im2im._io import write_image

    data = smooth((4, 16, 16))
    path = tmp_path / "v.tif"
    write_image(str(path), data, {"scale": (2.0, 0.5, 0.25), "units": ("mm", "mm", "µm"), "rgb": False})
    with tifffile.TiffFile(str(path)) as tf:
        np.testing.assert_array_equal(tf.asarray(), data)
        assert tf.imagej_metadata["spacing"] == pytest.approx(2.0) and tf.imagej_metadata["unit"] == "mm"
        x_res = tf.pages[0].tags["XResolution"].value
        assert x_res[0] / x_res[1] == pytest.approx(4000.0)  # 1 / 0.25 µm, in pixels per mm
    write_image(str(path), data, {"scale": (1.0, 1.0, 1.0), "units": ("pixel",) * 3, "rgb": False})
    with tifffile.TiffFile(str(path)) as tf:  # pixel units: no physical size is claimed
        assert "unit" not in tf.imagej_metadata and "spacing" not in tf.imagej_metadata
    with pytest.raises(ValueError, match="save as"):
        write_image(str(tmp_path / "v.png"), data, {})


def test_sample_data():
    from napari_im2im._sample_data import mni_t1, mni_t2, photo

    (t1, kw1, _), = mni_t1()
    (t2, kw2, _), = mni_t2()
    assert t1.shape == t2.shape == (189, 233, 197)
    assert kw1["scale"] == (1.0, 1.0, 1.0)
    # MNI millimetres: voxel (0, 0, 0) of the template lies at (-98, -134, -72) (x, y, z); rows run anterior first
    np.testing.assert_allclose(_world(t1, kw1, (0, t1.shape[1] - 1, 0)), (-72.0, -134.0, -98.0))
    assert kw1["axis_labels"] == ("z", "y", "x") and kw1["units"] == ("mm",) * 3
    assert kw2["scale"] == kw1["scale"] and kw2["translate"] == kw1["translate"]
    assert tuple(map(tuple, kw2["affine"])) == tuple(map(tuple, kw1["affine"]))
    brain = t2 > 0
    assert brain.mean() > 0.1 and (t1[brain] > 0).mean() > 0.9  # voxel-aligned volumes
    (rgb, kw, _), = photo()
    assert rgb.shape == (512, 512, 3) and kw["rgb"]


def test_train_job_streams_losses_and_stop_keeps_checkpoint(tmp_path):
    from im2im_core import load
    from napari_im2im._train import model_config, train_job, trainable_families

    assert {"cycle_gan", "pix2pix", "attention_cycle_gan"} <= set(trainable_families())
    assert "generator" not in trainable_families()
    assert not {"inpaint", "mri_recon", "super_resolution"} & set(trainable_families())  # one domain, not two
    a, b = smooth((3, 48, 48)), smooth((3, 48, 48), seed=1)[:, ::-1].copy()
    cancel = threading.Event()
    seen = []
    gen = train_job(a, b, family="cycle_gan", image_size=32, iterations=1000, out_dir=tmp_path, preview_every=2,
                    meta_a={"name": "A", "scale": (1.0, 0.3, 0.3)}, domains=("A", "B"), cancel=cancel)
    while True:
        try:
            ev = next(gen)
        except StopIteration as stop:
            layers = stop.value
            break
        seen.append(ev)
        if ev.done >= 3:
            cancel.set()
    losses = [e.extra["losses"] for e in seen if "losses" in e.extra]
    assert len(losses) >= 3 and "cycle_A" in losses[0]
    assert any("preview" in e.extra for e in seen)
    (prev, kw, _), = layers
    prov = kw["metadata"]["im2im"]
    assert prov["status"] == "stopped" and 3 <= prov["iterations_done"] < 20
    assert prev.shape == (48, 48) and kw["scale"] == (0.3, 0.3)
    tr = load(prov["checkpoint_path"], device="cpu")
    assert tr.family == "cycle_gan" and tr.meta["provenance"]["iterations"] == prov["iterations_done"]
    assert tr.spacing is None  # pixel units: the pixel size is unknown
    tiny = model_config("cycle_gan", "tiny", 64)
    assert tiny.generator.ngf == 8 and tiny.generator.n_blocks == 1 and tiny.discriminator.ndf == 8


def _trainable():
    from napari_im2im._train import trainable_families

    return trainable_families()


@pytest.mark.parametrize("family", _trainable())
def test_every_family_the_train_widget_offers_trains_and_exports(tmp_path, family):
    """Two iterations at tiny capacity, then the exported checkpoint translates an A slice."""
    from im2im_core import load
    from napari_im2im._train import train_job
    from im2im_core.models import family_class

    paired = family in ("pix2pix", "bicycle_gan", "mri_recon", "inpaint", "super_resolution")
    a, b = smooth((2, 64, 64)), smooth((2, 64, 64), seed=1)
    gen = train_job(a, b, family=family, image_size=64, iterations=2, out_dir=tmp_path, paired=paired,
                    domains=("A", "B"), preview_every=1)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            layers = stop.value
            break
    prov = layers[0][1]["metadata"]["im2im"]
    assert prov["status"] == "completed" and prov["iterations_done"] == 2
    tr = load(prov["checkpoint_path"], device="cpu")
    assert tr.family == family == family_class(family).family


@pytest.mark.parametrize("units_b, scale_b, want", [
    (("mm", "mm", "mm"), (1.0, 0.5, 0.5), (0.5, 0.5)),
    (None, None, (0.5, 0.5)),  # B a folder: A's pixel size holds
    (("mm", "mm", "mm"), (1.0, 0.8, 0.8), None),  # the domains disagree: unknown
    (("pixel", "pixel", "pixel"), (1.0, 1.0, 1.0), None)])
def test_train_job_records_the_layers_pixel_size(tmp_path, units_b, scale_b, want):
    """The checkpoint keeps the training layers' pixel size (mm), so translation resamples to it."""
    from im2im_core import load
    from napari_im2im._train import train_job

    a, b = smooth((2, 48, 48)), smooth((2, 48, 48), seed=1)
    meta_a = {"name": "T1", "scale": (1.0, 0.5, 0.5), "units": ("mm", "mm", "mm")}
    meta_b = None if units_b is None else {"name": "T2", "scale": scale_b, "units": units_b}
    gen = train_job(a, b, family="cycle_gan", image_size=32, iterations=1, out_dir=tmp_path, preview_every=0,
                    meta_a=meta_a, meta_b=meta_b, domains=("T1", "T2"))
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            (_, kw, _), = stop.value
            break
    tr = load(kw["metadata"]["im2im"]["checkpoint_path"], device="cpu")
    assert (tr.spacing is None) if want is None else tuple(tr.spacing) == pytest.approx(want)


def test_volume_metrics_score_the_slices_with_signal_and_never_print_inf():
    """Issue 39 item 5: empty slices scored PSNR inf and lifted the mean; now only slices with
    signal count, PSNR comes from their mean squared error, and an exact match reads 'identical'."""
    from skimage.metrics import peak_signal_noise_ratio

    from napari_im2im._reconstruct import describe_scores, metrics, reconstruct_layer

    vol = np.zeros((5, 64, 64), np.float32)
    vol[2] = smooth((64, 64)) - smooth((64, 64)).min()
    _, layers = drain(reconstruct_layer(vol, dict(META3), None, mask_kind="equispaced_lines", acceleration=4, seed=1))
    m = layers[-1][1]["metadata"]["im2im"]["metrics"]["reconstruction"]
    zf = layers[1][0]
    dr = float(vol.max() - vol.min())
    assert m["slices_scored"] == 1 and np.isfinite(m["psnr"])
    assert m["psnr"] == pytest.approx(peak_signal_noise_ratio(vol[2], zf[2], data_range=dr), rel=1e-6)
    same = metrics(vol, vol, dr)
    assert same["psnr"] == float("inf") and "inf" not in describe_scores(same)
    with pytest.raises(InputError, match="empty"):
        metrics(np.zeros((2, 16, 16)), np.zeros((2, 16, 16)), 1.0)


@pytest.mark.parametrize("call", ["translate", "reconstruct", "attention"])
def test_a_trailing_channel_axis_is_named_not_misread(ckpts, call):
    """Issue 39 item 5: (128, 128, 2) is not a stack of 128 x 2 images: the error names the axis and
    says how to split the channels; nothing reaches skimage's win_size error."""
    from napari_im2im._attention import attention_layers
    from napari_im2im._reconstruct import reconstruct_layer
    from napari_im2im._translate import translate_layer

    x = np.random.default_rng(0).random((128, 128, 2)).astype(np.float32)
    run = {"translate": lambda: translate_layer(x, {"name": "two"}, ckpts["generator"]),
           "reconstruct": lambda: reconstruct_layer(x, {"name": "two"}, None, mask_kind="gaussian2d"),
           "attention": lambda: attention_layers(x, {"name": "two"}, ckpts["attention"])}[call]
    with pytest.raises(InputError, match="last axis .2 entries. looks like channels.*Split Stack"):
        drain(run())
