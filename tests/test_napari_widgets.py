"""The four dock widgets end to end in a real napari viewer (pytest-qt + pytest-xvfb).

Tiny random-weight checkpoints and 64x64 images keep the whole file well under a minute or two
on 2 CPU cores: the point is the plumbing (workers, progress, Cancel, notifications, layer
placement and metadata), not image quality.
"""
from __future__ import annotations

import gc
import os

import numpy as np
import pytest

os.environ.setdefault("QT_API", "pyqt6")
if os.environ.get("IM2IM_SKIP_GUI_TESTS"):
    pytest.skip("IM2IM_SKIP_GUI_TESTS is set", allow_module_level=True)

from qtpy.QtCore import Qt  # noqa: E402

from napari_im2im._layers import Progress  # noqa: E402
from napari_im2im._testing import tiny_checkpoint  # noqa: E402

WAIT = 60_000  # ms; generous for a loaded 2-core machine


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("napari_ckpts")
    return {
        "generator": tiny_checkpoint(d, "generator"),
        "rgb": tiny_checkpoint(d, "generator", channels=3, name="tiny_rgb", domains=("day", "night")),
        "attention": tiny_checkpoint(d, "attention_cycle_gan", domains=("horse", "zebra")),
        "mri": tiny_checkpoint(d, "mri_recon"),
        "inpaint": tiny_checkpoint(d, "inpaint"),
        "sr": tiny_checkpoint(d, "super_resolution", scale=2),
    }


@pytest.fixture
def notes(monkeypatch):
    """Every napari notification the plugin sends, as (severity, text)."""
    from napari_im2im import _qt_common

    seen = []
    monkeypatch.setattr(_qt_common, "notify", lambda text, severity="error": seen.append((severity, text)))
    return seen


def _stack(n=3, size=64, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    base = (np.sin(xx / 5.0) + np.cos(yy / 7.0)).astype(np.float32)
    return np.stack([base + 0.1 * rng.standard_normal((size, size)).astype(np.float32) for _ in range(n)])


def _wait_idle(qtbot, widget, timeout=WAIT):
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)


def _load(qtbot, widget, path):
    widget.set_model(path)
    _wait_idle(qtbot, widget)


def test_plugin_is_discovered_and_docks(make_napari_viewer, qtbot):
    import npe2

    from napari_im2im._widget_translate import TranslateWidget

    pm = npe2.PluginManager.instance()
    pm.discover()
    assert "napari-im2im" in pm._manifests or pm.get_manifest("napari-im2im")
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-im2im", "Translate")
    assert isinstance(widget, TranslateWidget)
    _wait_idle(qtbot, widget)  # a shipped model may be loading


def test_translate_3d_keeps_scale_labels_units_and_replaces(make_napari_viewer, qtbot, ckpts, notes):
    from napari_im2im._widget_translate import TranslateWidget

    viewer = make_napari_viewer()
    layer = viewer.add_image(_stack(3), name="vol", scale=(3.0, 0.5, 0.5), translate=(10.0, -5.0, 2.0),
                             axis_labels=("z", "y", "x"), units=("mm", "mm", "mm"))
    w = TranslateWidget(viewer)
    viewer.window.add_dock_widget(w)
    _load(qtbot, w, ckpts["generator"])
    assert w.direction.currentText() == "T1w -> T2w"
    events = []
    assert w.run()
    w.worker.yielded.connect(events.append)
    _wait_idle(qtbot, w)
    out = viewer.layers["vol [T1w -> T2w]"]
    assert out.data.shape == layer.data.shape
    np.testing.assert_allclose(out.scale, layer.scale)
    np.testing.assert_allclose(out.translate, layer.translate)
    assert tuple(out.axis_labels) == ("z", "y", "x")
    assert [str(u) for u in out.units] == [str(u) for u in layer.units]
    prov = out.metadata["im2im"]
    assert prov["checkpoint"] == "tiny_generator" and len(prov["checkpoint_sha256"]) == 64
    assert prov["seconds"] >= 0 and prov["options"]["tile"] == 512
    assert any(isinstance(e, Progress) and e.total == 3 for e in events)  # one event per slice
    n = len(viewer.layers)
    assert w.run()  # re-run: the output layer is replaced, not duplicated
    _wait_idle(qtbot, w)
    assert len(viewer.layers) == n
    assert not [m for m in notes if m[0] == "error"]


def test_translate_multidomain_target_and_multimodal_samples(make_napari_viewer, qtbot, tmp_path, notes):
    """StarGAN shows a target list and names its output by target; MUNIT shows seed and sample
    count and returns the K samples on a new leading axis, still lying over the input."""
    from napari_im2im._widget_translate import TranslateWidget

    viewer = make_napari_viewer()
    layer = viewer.add_image(_stack(1)[0], name="slice", scale=(0.5, 0.25))
    w = TranslateWidget(viewer)
    _load(qtbot, w, tiny_checkpoint(tmp_path, "stargan", domains=("T1w", "T2w", "PD")))
    assert [w.target.itemText(i) for i in range(w.target.count())] == ["T1w", "T2w", "PD"]
    assert w.form.isRowVisible(w.target) and not w.form.isRowVisible(w.samples)
    outs = {}
    for target in ("T2w", "PD"):
        w.target.setCurrentText(target)
        assert w.run()
        _wait_idle(qtbot, w)
        outs[target] = viewer.layers[f"slice [-> {target}]"]
        assert outs[target].metadata["im2im"]["options"]["target"] == target
    assert not np.array_equal(outs["T2w"].data, outs["PD"].data)
    _load(qtbot, w, tiny_checkpoint(tmp_path, "munit", domains=("T1w", "T2w")))
    assert w.form.isRowVisible(w.samples) and w.form.isRowVisible(w.seed) and not w.form.isRowVisible(w.target)
    w.samples.setValue(3)
    w.seed.setValue(5)
    assert w.run()
    _wait_idle(qtbot, w)
    out = viewer.layers[f"slice [{w.direction.currentText()}]"]
    assert out.data.shape == (3, *layer.data.shape)
    np.testing.assert_allclose(out.scale[-2:], layer.scale)
    assert out.metadata["im2im"]["options"]["n_samples"] == 3
    assert not [m for m in notes if m[0] == "error"]


def test_translate_rgb(make_napari_viewer, qtbot, ckpts):
    from napari_im2im._widget_translate import TranslateWidget

    viewer = make_napari_viewer()
    rgb = (np.random.default_rng(1).random((64, 64, 3)) * 255).astype(np.uint8)
    viewer.add_image(rgb, name="photo", rgb=True, scale=(2, 2))
    w = TranslateWidget(viewer)
    _load(qtbot, w, ckpts["rgb"])
    assert w.run()
    _wait_idle(qtbot, w)
    out = viewer.layers["photo [day -> night]"]
    assert out.rgb and out.data.shape == rgb.shape and out.data.dtype == np.uint8
    np.testing.assert_allclose(out.scale, (2, 2))


def test_cancel_stops_a_stack_within_a_slice(make_napari_viewer, qtbot, ckpts, notes):
    from napari_im2im._widget_translate import TranslateWidget

    viewer = make_napari_viewer()
    viewer.add_image(_stack(40), name="long")
    w = TranslateWidget(viewer)
    _load(qtbot, w, ckpts["generator"])
    seen = []

    def cancel_on_first_slice(ev):  # runs in the worker thread: deterministic
        seen.append(ev)
        if ev.done >= 1 and ev.total == 40:
            w._cancel.set()

    assert w.run()
    w.worker.yielded.connect(cancel_on_first_slice, Qt.ConnectionType.DirectConnection)
    _wait_idle(qtbot, w)
    assert "long [T1w -> T2w]" not in viewer.layers
    done = max(e.done for e in seen if e.total == 40)
    assert done < 40, f"ran {done} of 40 slices after Cancel"
    assert w.messages[-1] == ("info", "cancelled: no output was added")
    assert w.run_button.isEnabled() and not w.cancel_button.isEnabled()


def test_cancel_on_the_last_slice_adds_nothing_and_the_bar_says_so(make_napari_viewer, qtbot, ckpts, notes):
    from napari_im2im._widget_translate import TranslateWidget

    viewer = make_napari_viewer()
    viewer.add_image(_stack(3), name="short")
    w = TranslateWidget(viewer)
    _load(qtbot, w, ckpts["generator"])

    def cancel_on_last(ev):  # the worker thread, after the last slice was computed
        if ev.total == 3 and ev.done == 3:
            w._cancel.set()

    assert w.run()
    w.worker.yielded.connect(cancel_on_last, Qt.ConnectionType.DirectConnection)
    _wait_idle(qtbot, w)
    assert "short [T1w -> T2w]" not in viewer.layers
    assert w.messages[-1] == ("info", "cancelled: no output was added")
    assert w.progress.text().startswith("cancelled at")
    w.run(layer=viewer.add_image(np.zeros((2, 2, 2, 16, 16), np.float32), name="5d"))
    _wait_idle(qtbot, w)
    assert w.progress.text() == "failed" and notes[-1][0] == "error"
    assert w.run()  # a good run afterwards shows percent again
    _wait_idle(qtbot, w)
    assert w.progress.text() == "100%" and "short [T1w -> T2w]" in viewer.layers


def test_invalid_layers_give_notifications_not_exceptions(make_napari_viewer, qtbot, ckpts, notes):
    from napari_im2im._widget_reconstruct import ReconstructWidget
    from napari_im2im._widget_translate import TranslateWidget

    viewer = make_napari_viewer()
    labels = viewer.add_labels(np.zeros((64, 64), np.int32), name="seg")
    w = TranslateWidget(viewer)
    _load(qtbot, w, ckpts["generator"])
    assert w.layer_combo.count() == 0
    w.run()  # no image layer at all (napari refuses zero-size image layers; see test_plugin_functions)
    _wait_idle(qtbot, w)
    assert notes[-1] == ("error", "no image layer selected")
    five = viewer.add_image(np.zeros((2, 2, 2, 16, 16), np.float32), name="5d")
    for bad, words in ((labels, "labels layer"), (five, "supported are")):
        w.run(layer=bad)
        _wait_idle(qtbot, w)
        assert notes and notes[-1][0] == "error" and words in notes[-1][1], notes[-1:]
    r = ReconstructWidget(viewer)
    r.run(layer=labels)
    _wait_idle(qtbot, r)
    assert "labels layer" in notes[-1][1]
    w.model.combo.setCurrentIndex(-1)  # no model chosen
    w.run(layer=five)
    assert "choose a model" in notes[-1][1]
    assert len(viewer.layers) == 2  # nothing added


def test_attention_overlay_threshold_and_compositions(make_napari_viewer, qtbot, ckpts, notes):
    from napari_im2im._widget_attention import AttentionWidget

    viewer = make_napari_viewer()
    x = _stack(1)[0]
    viewer.add_image(x, name="horse", scale=(0.5, 0.5))
    w = AttentionWidget(viewer)
    _load(qtbot, w, ckpts["attention"])
    assert w.direction.currentText() == "horse -> zebra" and w.run_button.isEnabled()
    assert w.run()
    _wait_idle(qtbot, w)
    names = ["horse [translated]", "horse [attention]", "horse [foreground]", "horse [background]"]
    assert all(n in viewer.layers for n in names)
    att = viewer.layers["horse [attention]"]
    assert att.colormap.name == "inferno" and 0 < att.opacity < 1 and att.blending == "additive"
    np.testing.assert_allclose(att.scale, (0.5, 0.5))
    a = att.data
    assert a.min() >= 0 and a.max() <= 1
    y = viewer.layers["horse [translated]"].data
    fg, bg = viewer.layers["horse [foreground]"].data, viewer.layers["horse [background]"].data
    from skimage.filters import threshold_otsu

    keep = a >= w.threshold_value
    assert 0 < keep.mean() < 1
    np.testing.assert_allclose((fg + bg)[keep], y[keep], rtol=1e-4, atol=1e-4)  # a*G(x) + (1-a)*x = y
    assert (fg[~keep] == 0).all() and np.allclose(bg[~keep], x[~keep], atol=1e-5)  # weak attention counts as 0

    assert w.auto.isChecked() and w.threshold_value == pytest.approx(round(100 * threshold_otsu(a)) / 100)
    assert att.contrast_limits[0] == pytest.approx(w.threshold_value)  # the run's own threshold, on the slider
    w.threshold.setValue(int(round(float(np.percentile(a, 90)) * 100)))  # live: no re-run
    assert att.contrast_limits[0] == pytest.approx(w.threshold_value)
    assert (viewer.layers["horse [foreground]"].data == 0).sum() > (fg == 0).sum()
    w.opacity.setValue(30)
    assert att.opacity == pytest.approx(0.3)
    # a model without attention is refused with a notification
    _load(qtbot, w, ckpts["generator"])
    assert not w.run_button.isEnabled() and notes[-1][0] == "warning"
    assert not [m for m in notes if m[0] == "error"]


def test_reconstruct_mri_zero_filled_and_model(make_napari_viewer, qtbot, ckpts, notes):
    from napari_im2im._widget_reconstruct import ReconstructWidget

    viewer = make_napari_viewer()
    gt = _stack(2)
    gt -= gt.min()
    viewer.add_image(gt, name="brain", scale=(2.0, 0.8, 0.8), axis_labels=("z", "y", "x"))
    w = ReconstructWidget(viewer)
    w.mask_kind.setCurrentText("random_lines")
    w.acceleration.setValue(4.0)
    assert w.run()  # no model: the zero-filled path
    _wait_idle(qtbot, w)
    for k in ("mask", "zero-filled", "reconstruction", "error"):
        assert f"brain [{k}]" in viewer.layers
    mask = viewer.layers["brain [mask]"]
    assert mask.data.shape == (64, 64) and abs(mask.data.mean() - 0.25) < 0.02
    np.testing.assert_allclose(mask.scale, (0.8, 0.8))
    rec = viewer.layers["brain [reconstruction]"]
    np.testing.assert_allclose(rec.scale, (2.0, 0.8, 0.8))
    m = rec.metadata["im2im"]["metrics"]
    assert m["data_range"] == pytest.approx(float(gt.max() - gt.min()))
    assert "PSNR" in w.metrics.text() and "SSIM" in w.metrics.text()
    w.mri_model.add_path(ckpts["mri"])  # with a model: the reconstruction comes from it
    assert w.run()
    _wait_idle(qtbot, w)
    prov = viewer.layers["brain [reconstruction]"].metadata["im2im"]
    assert prov["family"] == "mri_recon" and prov["method"] == "model"
    assert len([ly for ly in viewer.layers if ly.name.startswith("brain [")]) == 4
    assert not [n for n in notes if n[0] == "error"]


def test_reconstruct_a_kspace_file(make_napari_viewer, qtbot, tmp_path, notes):
    """Measured complex k-space from a file: zero-filled and reconstructed layers from the shipped
    1D Gaussian model, the reconstruction consistent with the measured samples."""
    from im2im_core.mri import fft2c_np, make_mask
    from napari_im2im._widget_reconstruct import ReconstructWidget

    gt = _stack(2)[0].astype(np.float32)
    mask = make_mask("gaussian1d", gt.shape, ratio=0.3, seed=1)
    np.save(tmp_path / "scan.npy", (fft2c_np(gt.astype(np.complex64)) * mask).astype(np.complex64))
    viewer = make_napari_viewer(show=True)
    w = ReconstructWidget(viewer)
    from im2im_core.inference import shipped_models

    w.mri_model.add_path(shipped_models()["mri_recon_1dgauss"])
    assert w.run_kspace(str(tmp_path / "scan.npy"))
    _wait_idle(qtbot, w)
    rec, zf = viewer.layers["scan.npy [reconstruction]"], viewer.layers["scan.npy [zero-filled]"]
    assert rec.data.shape == zf.data.shape == gt.shape
    assert rec.metadata["im2im"]["family"] == "mri_recon" and rec.metadata["im2im"]["mode"] == "kspace"
    err_rec, err_zf = np.abs(rec.data - gt).mean(), np.abs(zf.data - gt).mean()
    assert err_rec < err_zf, (err_rec, err_zf)
    assert tuple(rec.axis_labels) == ("y", "x")  # named axes, not "-2, -1"
    assert w.metrics.text() == "scan.npy [reconstruction]: with mri_recon_1dgauss"  # what was done, with what
    # the orientation ensemble is on by default; unticked, one pass (what reconstruct_kspace gives), recorded
    import im2im_core
    from im2im_core.mri.kspace import reconstruct_kspace

    tr = im2im_core.load("mri_recon_1dgauss", device="cpu")
    k = np.load(tmp_path / "scan.npy")
    assert rec.metadata["im2im"]["options"]["ensemble"] is True
    first = np.array(rec.data)
    np.testing.assert_allclose(first, reconstruct_kspace(tr, k, mask), atol=1e-5)
    w.ensemble.setChecked(False)
    assert w.run_kspace(str(tmp_path / "scan.npy"))
    _wait_idle(qtbot, w)
    one = viewer.layers["scan.npy [reconstruction]"]
    assert one.metadata["im2im"]["options"]["ensemble"] is False
    np.testing.assert_allclose(one.data, reconstruct_kspace(tr, k, mask, ensemble=False), atol=1e-5)
    assert not np.allclose(one.data, first, atol=1e-4)
    assert not [n for n in notes if n[0] == "error"]


def test_inpaint_from_shapes_and_labels_and_super_resolution(make_napari_viewer, qtbot, ckpts, notes):
    from napari_im2im._widget_reconstruct import ReconstructWidget

    viewer = make_napari_viewer()
    img = _stack(1)[0]
    viewer.add_image(img, name="cells", scale=(0.5, 0.5), translate=(4.0, 4.0))
    # a rectangle drawn in world coordinates: pixels 20..30 of the image
    shapes = viewer.add_shapes([np.array([[14.0, 14.0], [14.0, 19.0], [19.0, 19.0], [19.0, 14.0]])],
                               shape_type="rectangle", name="holes")
    w = ReconstructWidget(viewer)
    w.set_mode("Inpaint")
    w.layer_combo.setCurrentText("cells")
    w.holes_combo.setCurrentText("holes")
    assert w.inpaint_model.spec() == "inpaint_mri"  # the shipped model is the default
    w.inpaint_model.combo.setCurrentIndex(0)
    holes = w.holes(viewer.layers["cells"])
    assert holes.shape == (64, 64) and holes[20:30, 20:30].all() and holes.sum() < 150
    assert w.run()  # no model: biharmonic
    _wait_idle(qtbot, w)
    out = viewer.layers["cells [inpainted]"]
    np.testing.assert_allclose(out.translate, (4.0, 4.0))
    keep = ~holes
    np.testing.assert_allclose(out.data[keep], img[keep], atol=1e-6)
    viewer.layers.remove(shapes)
    lab = np.zeros((64, 64), np.int32)
    lab[5:15, 40:50] = 2
    viewer.add_labels(lab, name="marks", scale=(0.5, 0.5), translate=(4.0, 4.0))
    w.holes_combo.setCurrentText("marks")
    w.label.setValue(2)
    w.inpaint_model.add_path(ckpts["inpaint"])
    assert w.run()
    _wait_idle(qtbot, w)
    out = viewer.layers["cells [inpainted]"]
    assert out.metadata["im2im"]["family"] == "inpaint"
    np.testing.assert_allclose(out.data[lab == 0], img[lab == 0], atol=1e-6)  # known pixels kept
    w.set_mode("Super-resolution")
    w.sr_model.add_path(ckpts["sr"])
    assert w.run()
    _wait_idle(qtbot, w)
    sr = viewer.layers["cells [x2]"]
    assert sr.data.shape == (128, 128)
    np.testing.assert_allclose(sr.scale, (0.25, 0.25))
    # pixel centres tile the input pixels: the SR extent equals the input extent in world space
    np.testing.assert_allclose(sr.translate - sr.scale / 2, np.array((4.0, 4.0)) - 0.25)
    assert not [n for n in notes if n[0] == "error"]


def test_holes_layers_match_the_image_and_pages_fit_their_mode(make_napari_viewer, qtbot, notes):
    from napari_im2im._widget_reconstruct import MODES, ReconstructWidget

    viewer = make_napari_viewer()
    viewer.add_image(_stack(3), name="scan", scale=(2.0, 0.5, 0.5), translate=(1.0, 2.0, 3.0),
                     units=("mm", "mm", "mm"), axis_labels=("z", "y", "x"))
    w = ReconstructWidget(viewer)
    viewer.window.add_dock_widget(w)
    heights = {}
    for mode in MODES:
        w.set_mode(mode)
        heights[mode] = w.pages.sizeHint().height()
    assert heights["Inpaint"] < heights["MRI reconstruction"] and heights["Super-resolution"] < heights["Inpaint"]
    w.set_mode("Inpaint")
    for kind in ("labels", "shapes"):
        layer = w.new_holes_layer(kind)
        assert w.holes_combo.layer() is layer and layer.name.startswith("scan holes")
        np.testing.assert_allclose(layer.scale, (2.0, 0.5, 0.5))
        np.testing.assert_allclose(layer.translate, (1.0, 2.0, 3.0))
        assert [str(u) for u in layer.units] == ["millimeter"] * 3 and tuple(layer.axis_labels) == ("z", "y", "x")
    # napari draws with units only when all layers agree (else: "Inconsistent units across layers")
    assert [str(u) for u in viewer.layers.extent.units] == ["millimeter"] * 3
    assert viewer.layers["scan holes"].data.shape == (3, 64, 64)
    viewer.add_labels(np.zeros((3, 64, 64), np.uint8), name="plain")  # napari's own default: pixel units
    assert viewer.layers.extent.units is None


def test_train_then_load_then_translate(make_napari_viewer, qtbot, tmp_path, notes):
    from napari_im2im._testing import train_widget

    viewer = make_napari_viewer(show=True)
    viewer.add_image(_stack(4, seed=1), name="T1", scale=(1.0, 0.7, 0.7))
    viewer.add_image(-_stack(4, seed=2), name="T2")
    w = train_widget(viewer, "T1", "T2", tmp_path, iterations=12, preview_every=4)
    gc.unfreeze()
    assert w.run()
    # napari's and torch's objects leave the cyclic GC: its full collections stalled the viewer
    # 130-345 ms at the end of training (issue 39 item 9, docs/performance.md)
    assert gc.get_freeze_count() > 10_000
    _wait_idle(qtbot, w, 120_000)
    assert w.checkpoint and os.path.isfile(w.checkpoint), w.messages[-3:]
    assert len(w.plot.steps) == 12 and "cycle_A" in w.plot.values
    prev = viewer.layers["T1 [training preview]"]
    assert not prev.visible  # the dock shows the preview; the layer does not cover the user's images
    np.testing.assert_allclose(prev.scale, (0.7, 0.7))
    assert prev.metadata["im2im"]["iterations_done"] == 12
    assert w.load_button.isEnabled()
    tw = w.load_in_translate()
    _wait_idle(qtbot, tw)
    assert tw.translator is not None and tw.translator.family == "cycle_gan"
    assert tw.direction.currentText() == "T1 -> T2"
    assert tw.layer_combo.currentText() == "T1"
    assert tw.run()
    _wait_idle(qtbot, tw)
    assert "T1 [T1 -> T2]" in viewer.layers, (tw.messages, notes)
    out = viewer.layers["T1 [T1 -> T2]"]
    assert out.data.shape == (4, 64, 64)
    assert out.metadata["im2im"]["checkpoint_path"] == w.checkpoint
    run_name = os.path.basename(os.path.dirname(w.checkpoint))  # cycle_gan-<date>, not "model"
    assert tw.translator.name == run_name and tw.messages[-1][1].endswith(f"with {run_name}")
    assert not [n for n in notes if n[0] == "error"]


def test_train_folder_field_shows_only_for_folders_and_fits_its_text(make_napari_viewer, qtbot):
    from napari_im2im._widget_train import FOLDER, TrainWidget

    viewer = make_napari_viewer(show=True)
    viewer.add_image(_stack(2), name="A")
    w = TrainWidget(viewer)
    viewer.window.add_dock_widget(w)
    pick = w.domain_a
    assert pick.layers.currentText() == "A" and not pick.folder_row.isVisible()
    pick.layers.setCurrentText(FOLDER)
    qtbot.waitUntil(pick.folder.isVisible)
    text = pick.folder.placeholderText()
    assert pick.folder.width() > pick.folder.fontMetrics().horizontalAdvance(text), (pick.folder.width(), text)


def test_train_stop_keeps_the_last_checkpoint(make_napari_viewer, qtbot, tmp_path, notes):
    from napari_im2im._testing import train_widget

    viewer = make_napari_viewer()
    viewer.add_image(_stack(2)[0], name="A")
    viewer.add_image(_stack(2, seed=3)[1], name="B")
    w = train_widget(viewer, "A", "B", tmp_path, iterations=100_000, preview_every=25)
    assert w.run()

    def stop_after_two(ev):
        if ev.done >= 2:
            w._cancel.set()

    w.worker.yielded.connect(stop_after_two, Qt.ConnectionType.DirectConnection)
    _wait_idle(qtbot, w)
    prov = viewer.layers["A [training preview]"].metadata["im2im"]
    assert prov["status"] == "stopped" and 2 <= prov["iterations_done"] < 10
    assert os.path.isfile(w.checkpoint)
    from im2im_core import load

    assert load(w.checkpoint, device="cpu").meta["provenance"]["iterations"] == prov["iterations_done"]


def test_sample_data_reader_and_writer(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-im2im", "astronaut")
    assert viewer.layers["astronaut"].rgb
    data = _stack(5)
    path = tmp_path / "vol.nii.gz"
    layer = viewer.add_image(data, name="vol", scale=(2.0, 1.0, 0.5), translate=(-10.0, 3.0, 7.0))
    layer.save(str(path), plugin="napari-im2im")
    back = viewer.open(str(path), plugin="napari-im2im")[0]
    np.testing.assert_allclose(back.data[:, ::-1], data)  # shown rows anterior first
    np.testing.assert_allclose(back.scale, layer.scale)
    for z, y, x in [(0, 0, 0), (4, 10, 60)]:  # every voxel where it was
        np.testing.assert_allclose(back.data_to_world((z, 63 - y, x)), layer.data_to_world((z, y, x)), atol=1e-6)
    assert tuple(back.axis_labels) == ("z", "y", "x")
    assert all(str(u) == "millimeter" for u in back.units)


def test_menus_and_shipped_models(make_napari_viewer, qtbot, ckpts, notes):
    from napari._app_model import get_app_model

    from im2im_core.checkpoint import read_metadata
    from im2im_core.inference import shipped_models
    from napari_im2im._widget_attention import AttentionWidget
    from napari_im2im._widget_translate import TranslateWidget

    viewer = make_napari_viewer()
    menus = get_app_model().menus

    def ids(menu):
        return {getattr(getattr(i, "command", None), "id", None) for i in menus.get_menu(menu)}

    assert {"napari-im2im.translate", "napari-im2im.attention", "napari-im2im.reconstruct",
            "napari-im2im.train"} <= ids("napari/plugins/napari-im2im")  # the Plugins menu
    assert {"napari-im2im.translate", "napari-im2im.reconstruct"} <= ids("napari/layers/filter")
    assert "napari-im2im.attention" in ids("napari/layers/visualize")
    shipped = shipped_models()
    w = TranslateWidget(viewer)
    names = [w.model.combo.itemText(i) for i in range(w.model.combo.count())]
    # shipped weights are offered by name, nothing downloaded; only models Translate can run
    runnable = [n for n in shipped if read_metadata(shipped[n])["family"] not in ("mri_recon", "inpaint")]
    assert names == runnable and len(runnable) < len(shipped)
    from napari_im2im._models import DEFAULT_TRANSLATE_MODEL

    if DEFAULT_TRANSLATE_MODEL in names:  # the best T1w -> T2w model is preselected, not the first by name
        assert w.model.combo.currentText() == DEFAULT_TRANSLATE_MODEL
    a = AttentionWidget(viewer)  # only attention-capable shipped models are offered there
    offered = [a.model.combo.itemData(i) for i in range(a.model.combo.count())]
    assert all(read_metadata(shipped[n])["family"] == "attention_cycle_gan" for n in offered)
    _wait_idle(qtbot, w)
    _wait_idle(qtbot, a)
    w.set_model(ckpts["rgb"])  # queued loads: the last request wins, no "busy" refusal
    w.set_model(ckpts["generator"])
    _wait_idle(qtbot, w)
    assert w.translator.name == "tiny_generator"
    assert not [n for n in notes if n[0] in ("error", "warning")]
    plain = [n for n in names if read_metadata(shipped[n])["family"] in ("cycle_gan", "unit", "pix2pix", "generator")]
    if not plain:
        return
    w.model.combo.setCurrentIndex(names.index(plain[0]))
    _wait_idle(qtbot, w)
    assert w.translator.name == plain[0]
    viewer.add_image(_stack(1)[0], name="slice")
    assert w.run()
    _wait_idle(qtbot, w)
    out = [ly for ly in viewer.layers if ly.name.startswith("slice [")]
    assert len(out) == 1 and out[0].metadata["im2im"]["checkpoint"] == plain[0]


def test_translate_on_the_mni_sample_as_it_opens_gives_t2_contrast(make_napari_viewer, qtbot):
    """What a new user sees: the sample "MNI152 T1w", Translate with its default model, no
    settings touched. The output has T2w contrast in the brain: CSF brighter than GM, GM brighter
    than WM (the T1w input has them the other way round), and it lies where the input lies."""
    from im2im_core.data import mni
    from napari_im2im._models import DEFAULT_TRANSLATE_MODEL
    from napari_im2im._widget_translate import TranslateWidget

    viewer = make_napari_viewer()
    viewer.open_sample("napari-im2im", "mni152_t1")
    w = TranslateWidget(viewer)
    _wait_idle(qtbot, w, 180_000)
    assert w.translator is not None and w.translator.name == DEFAULT_TRANSLATE_MODEL
    assert "1 × 1 mm" in w.info.text()  # the model's pixel size is shown
    assert w.run()
    _wait_idle(qtbot, w, 300_000)
    src = viewer.layers["MNI152 T1w"]
    out = next(ly for ly in viewer.layers if ly.name.startswith("MNI152 T1w ["))
    assert out.data.shape == src.data.shape and np.allclose(out.scale, src.scale)
    tis = mni.load_mni_tissues()
    pure = {t: (tis[t] > 0.9).T[:, ::-1] for t in ("csf", "gm", "wm")}  # (z, y, x), rows anterior first, as the layer
    mean = {t: float(out.data[m].mean()) for t, m in pure.items()}
    assert mean["csf"] > mean["gm"] > mean["wm"], mean
    before = {t: float(src.data[m].mean()) for t, m in pure.items()}
    assert before["csf"] < before["gm"] < before["wm"]


def test_council_member_in_translate_and_both_mask_families_in_attention(make_napari_viewer, qtbot, tmp_path, notes):
    """Translate offers a council member for Council-GAN and runs the chosen member; the Attention
    widget lists Council-GAN and ACL-GAN models and shows their masks."""
    from im2im_core import load
    from napari_im2im._widget_attention import AttentionWidget
    from napari_im2im._widget_translate import TranslateWidget

    viewer = make_napari_viewer()
    x = _stack(1)[0]
    viewer.add_image(x, name="slice")
    council = tiny_checkpoint(tmp_path, "council_gan", domains=("lesions", "clean"))
    w = TranslateWidget(viewer)
    _load(qtbot, w, council)
    assert w.form.isRowVisible(w.member) and w.member.maximum() == 3
    w.member.setValue(2)
    assert w.run()
    _wait_idle(qtbot, w)
    out = viewer.layers[f"slice [{w.direction.currentText()}]"]
    assert out.metadata["im2im"]["options"]["member"] == 2
    want = load(council, device="cpu").translate(x, member=2, seed=w.seed.value())
    np.testing.assert_allclose(out.data, want, atol=1e-3)
    _load(qtbot, w, tiny_checkpoint(tmp_path, "munit", domains=("T1w", "T2w")))
    assert not w.form.isRowVisible(w.member)
    from napari_im2im._attention import attention_families

    assert {"council_gan", "acl_gan", "attention_cycle_gan"} <= attention_families()
    a = AttentionWidget(viewer)
    assert "acl_gan" in a.hint and "council_gan" in a.hint
    _load(qtbot, a, tiny_checkpoint(tmp_path, "acl_gan", domains=("lesions", "clean")))
    assert a.run_button.isEnabled() and a.run(viewer.layers["slice"])
    _wait_idle(qtbot, a)
    mask = viewer.layers["slice [attention]"].data
    assert mask.shape == x.shape and 0 <= mask.min() and mask.max() <= 1
    assert not [m for m in notes if m[0] == "error"]


def test_the_demo_opens_in_napari_with_the_widgets_docked(make_napari_viewer, qtbot, tmp_path):
    from im2im_core.demo import run_demo
    from napari_im2im.__main__ import show

    layers = run_demo(out_dir=tmp_path, quick=True)["layers"]
    viewer = show(layers, make_napari_viewer())
    assert [ly.name for ly in viewer.layers] == list(layers) and "T1w" in layers
    docked = set(viewer.window.dock_widgets)
    assert {"Translate", "Attention masks", "Reconstruct / Inpaint", "Train"} <= {n.split(" (")[0] for n in docked}, docked
    for w in viewer.window.dock_widgets.values():  # the widgets load their default models: let them finish
        if hasattr(w, "busy"):
            _wait_idle(qtbot, w)


def test_text_models_caption_box_and_generate(make_napari_viewer, qtbot, tmp_path, notes):
    """GAN-CLS gets a Generate button that makes a layer of K samples from the caption (the same
    images as the library call); SisGAN gets a caption box whose text edits the selected layer;
    an empty caption is a clear error, not a traceback."""
    import im2im_core
    from napari_im2im._widget_translate import TranslateWidget

    vocab = ("<pad>", "<unk>", "a", "red", "circle", "blue", "square")
    viewer = make_napari_viewer(show=True)
    w = TranslateWidget(viewer)
    gan = tiny_checkpoint(tmp_path, "gan_cls", channels=3, vocabulary=vocab)
    _load(qtbot, w, gan)
    assert not w.generate_button.isHidden() and w.form.isRowVisible(w.text) and w.form.isRowVisible(w.samples)
    # issue 39 item 7: only the rows that apply; Translate is not offered for a text-to-image model
    assert w.run_button.isHidden() and not w.run() and "Generate" in notes[-1][1]
    notes.clear()
    assert not any(w.form.isRowVisible(r) for r in (w.layer_combo, w.direction, w.tile))
    assert w.form.labelForField(w.seed).text() == "noise seed"
    w.text.setText("a red circle")
    w.samples.setValue(2)
    w.seed.setValue(3)
    assert w.generate()
    _wait_idle(qtbot, w)
    out = viewer.layers["generated: a red circle"]
    assert out.rgb and out.data.shape == (2, 64, 64, 3) and tuple(out.axis_labels)[0] == "sample"
    assert out.metadata["im2im"]["options"]["text"] == "a red circle"
    lib = im2im_core.load(gan)  # sample k comes from seed + k, as in the library
    for k in range(2):
        np.testing.assert_allclose(out.data[k], lib.generate("a red circle", 1, 3 + k)[0], atol=1e-5)
    assert np.abs(out.data[0] - out.data[1]).max() > 5e-5  # random init: samples differ by ~1e-4
    rgb = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    viewer.add_image(rgb, name="scene", rgb=True, scale=(0.5, 0.5))
    _load(qtbot, w, tiny_checkpoint(tmp_path, "sisgan", channels=3, vocabulary=vocab))
    assert w.generate_button.isHidden() and w.form.isRowVisible(w.text) and not w.run_button.isHidden()
    assert w.form.isRowVisible(w.layer_combo)
    w.layer_combo.setCurrentText("scene")
    w.text.setText("a blue square")
    assert w.run()
    _wait_idle(qtbot, w)
    edited = viewer.layers["scene [edited: a blue square]"]  # named by what happened
    assert edited.data.shape == rgb.shape and tuple(edited.scale) == (0.5, 0.5)
    assert edited.metadata["im2im"]["options"]["text"] == "a blue square"
    assert not [m for m in notes if m[0] == "error"]
    w.text.setText("")
    w.run()
    _wait_idle(qtbot, w)
    assert any(m[0] == "error" and "empty" in m[1] for m in notes)


def test_attention_on_the_colin27_sample_shows_the_brain(make_napari_viewer, qtbot, notes):
    """Issue 36: open the Colin27 head sample, keep a few held-out axial slices, run the Attention
    widget with the shipped skull_attention: the attention covers skull and scalp, so what it leaves
    (the background composition) is the brain, and the outputs lie where the input lies."""
    from im2im_core.data import skull
    from im2im_core.inference import shipped_models
    from napari_im2im._widget_attention import AttentionWidget

    viewer = make_napari_viewer()
    viewer.open_sample("napari-im2im", "colin27_head")
    head = viewer.layers["Colin27 T1 head"]
    z = skull.split()["test"][[2, 10, 17]]
    brain = skull.colin27_head()["brain"].T[:, ::-1, :][z]  # as the sample shows it: (z, y, x), anterior up
    layer = viewer.add_image(head.data[z], name="head slab", affine=head.affine.affine_matrix)
    w = AttentionWidget(viewer)
    _load(qtbot, w, shipped_models()["skull_attention"])
    assert w.run(layer)
    _wait_idle(qtbot, w, 300_000)
    att = viewer.layers["head slab [attention]"].data
    kept = att < 0.5
    dice = 2 * (kept & brain).sum() / (kept.sum() + brain.sum())
    assert dice > 0.7, dice  # measured 0.84 on the whole test block
    out = viewer.layers["head slab [translated]"]
    np.testing.assert_allclose(out.affine.affine_matrix, layer.affine.affine_matrix)
    outside = ~brain & (head.data[z] > 0.05)
    assert out.data[outside].mean() < 0.5 * head.data[z][outside].mean()  # skull and scalp mostly removed
    assert not [m for m in notes if m[0] == "error"]


def test_rerun_from_the_plugin_dock_keeps_the_users_display_settings(make_napari_viewer, qtbot, ckpts, notes):
    """The dock napari builds gets a proxy viewer; a re-run must still find its output layer and
    update it in place: colormap, contrast, opacity, blending and visibility stay as the user set them."""
    viewer = make_napari_viewer(show=True)
    viewer.add_image(_stack(1)[0], name="slice")
    _, w = viewer.window.add_plugin_dock_widget("napari-im2im", "Translate")
    _wait_idle(qtbot, w)
    _load(qtbot, w, ckpts["generator"])
    assert w.run()
    _wait_idle(qtbot, w)
    out = viewer.layers["slice [T1w -> T2w]"]
    auto = tuple(out.contrast_limits)
    out.colormap, out.contrast_limits, out.opacity, out.blending = "magma", (-0.3, 0.2), 0.5, "additive"
    out.visible = False
    n = len(viewer.layers)
    viewer.layers["slice"].data = viewer.layers["slice"].data * 2  # new input, new output data
    assert w.run()
    _wait_idle(qtbot, w)
    assert len(viewer.layers) == n and viewer.layers["slice [T1w -> T2w]"] is out
    assert out.colormap.name == "magma" and out.opacity == 0.5 and out.blending == "additive"
    assert not out.visible and tuple(out.contrast_limits) == pytest.approx((-0.3, 0.2))
    assert tuple(out.contrast_limits) != pytest.approx(auto)
    assert not [m for m in notes if m[0] == "error"]


def test_rerun_follows_new_data_while_the_contrast_is_ours(make_napari_viewer, qtbot, ckpts, notes):
    """Contrast limits the user never touched follow the new output; a layer of the same name that
    the plugin did not make is replaced, not overwritten."""
    from napari_im2im._widget_translate import TranslateWidget

    viewer = make_napari_viewer(show=True)
    viewer.add_image(_stack(1)[0], name="slice")
    w = TranslateWidget(viewer)
    viewer.window.add_dock_widget(w)
    _load(qtbot, w, ckpts["generator"])
    assert w.run()
    _wait_idle(qtbot, w)
    out = viewer.layers["slice [T1w -> T2w]"]
    first = np.asarray(out.data).copy()
    viewer.layers["slice"].data = viewer.layers["slice"].data * 3 + 1
    assert w.run()
    _wait_idle(qtbot, w)
    assert viewer.layers["slice [T1w -> T2w]"] is out and not np.allclose(out.data, first)
    lo, hi = float(np.min(out.data)), float(np.max(out.data))
    assert tuple(out.contrast_limits) == pytest.approx((lo, hi), rel=1e-3, abs=1e-3)
    viewer.layers.remove(out)
    mine = viewer.add_image(np.zeros((64, 64), np.float32), name="slice [T1w -> T2w]")  # the user's own
    assert w.run()
    _wait_idle(qtbot, w)
    new = viewer.layers["slice [T1w -> T2w]"]
    assert new is not mine and np.abs(np.asarray(new.data)).max() > 0


def test_a_warning_in_the_worker_reaches_the_user(make_napari_viewer, qtbot, tmp_path, notes):
    """The library warns about caption words it does not know; that warning is raised in the worker
    thread and must reach a notification and the status line, not only the log."""
    from napari_im2im._widget_translate import TranslateWidget

    vocab = ("<pad>", "<unk>", "a", "red", "circle")
    viewer = make_napari_viewer(show=True)
    w = TranslateWidget(viewer)
    _load(qtbot, w, tiny_checkpoint(tmp_path, "gan_cls", channels=3, vocabulary=vocab))
    w.text.setText("a purple elephant dancing")
    assert w.generate()
    _wait_idle(qtbot, w)
    warned = [text for severity, text in notes if severity == "warning"]
    assert any("elephant" in text and "unknown" in text for text in warned), notes
    assert ("warning", warned[0]) in w.messages
    assert any(layer.name.startswith("generated:") for layer in viewer.layers)


def test_reconstruct_starts_on_the_shipped_model_for_its_mask_and_pages_forget_old_metrics(
        make_napari_viewer, qtbot, notes):
    """The MRI page selects the shipped model trained with the chosen mask kind (zero-filled where
    none is) until the user picks one by hand; switching modes clears the last mode's metrics."""
    from im2im_core.checkpoint import read_metadata
    from napari_im2im._widget_reconstruct import ReconstructWidget

    viewer = make_napari_viewer(show=True)
    w = ReconstructWidget(viewer)
    for kind in ("gaussian1d", "poisson2d", "random_lines"):
        w.mask_kind.setCurrentText(kind)
        spec = w.mri_model.spec()
        if kind == "random_lines":
            assert spec is None
        else:
            path = w.mri_model.combo.itemData(w.mri_model.combo.currentIndex(), 3)
            assert read_metadata(path)["config"]["mask_kind"] == kind, spec
    w.mask_kind.setCurrentText("gaussian1d")
    w.mri_model.combo.setCurrentIndex(0)
    w.mri_model.combo.activated.emit(0)  # the user chooses zero-filled
    w.mask_kind.setCurrentText("poisson2d")
    assert w.mri_model.spec() is None
    w.metrics.setText("reconstruction: PSNR 30 dB")
    w.say("hole mask is empty", "error")
    w.set_mode("Super-resolution")
    assert w.metrics.text() == "" and "hole" not in w.status.text()


def test_train_domains_default_to_the_selected_then_first_opened_layer(make_napari_viewer, qtbot):
    """Domain A is the selected image layer, else the first one opened; B the next one opened."""
    from napari_im2im._widget_train import TrainWidget

    viewer = make_napari_viewer(show=True)
    viewer.add_image(_stack(1)[0], name="T1w")
    viewer.add_image(_stack(1)[0], name="T2w")
    viewer.add_labels(np.zeros((64, 64), np.uint8), name="marks")  # selected, but not an image
    w = TrainWidget(viewer)
    assert (w.domain_a.layers.currentText(), w.domain_b.layers.currentText()) == ("T1w", "T2w")
    viewer.layers.selection.active = viewer.layers["T2w"]
    w = TrainWidget(viewer)
    assert (w.domain_a.layers.currentText(), w.domain_b.layers.currentText()) == ("T2w", "T1w")


def test_oblique_nifti_open_translate_save_reopen_keeps_the_affine(make_napari_viewer, qtbot, tmp_path, ckpts, notes):
    """Issue 39: an oblique NIfTI (rotated and sheared) opens in its true geometry, anterior up; the
    translated output saved by our writer carries exactly the input's affine (1e-6)."""
    import nibabel as nib

    from napari_im2im._widget_translate import TranslateWidget
    from tests.test_plugin_functions import _oblique_affine

    aff = _oblique_affine()
    src = tmp_path / "oblique.nii.gz"
    nib.save(nib.Nifti1Image(_stack(4).T.copy(), aff), str(src))
    viewer = make_napari_viewer(show=True)
    layer, = viewer.open(str(src), plugin="napari-im2im")
    assert tuple(viewer.scene.camera.orientation2d) == ("up", "right")
    canonical = nib.as_closest_canonical(nib.load(str(src))).affine
    corner = np.array([3, 10, 20])  # (z, row, x) index; rows run anterior first, against NIfTI's j
    ijk = (corner[2], layer.data.shape[1] - 1 - corner[1], corner[0])
    np.testing.assert_allclose(layer.data_to_world(corner), (canonical @ (*ijk, 1.0))[:3][::-1], atol=1e-6)
    w = TranslateWidget(viewer)
    _load(qtbot, w, ckpts["generator"])
    w.layer_combo.set_layer(layer)
    assert w.run()
    _wait_idle(qtbot, w)
    out = viewer.layers[f"{layer.name} [T1w -> T2w]"]
    np.testing.assert_allclose(out.data_to_world(corner), layer.data_to_world(corner), atol=1e-6)
    saved = tmp_path / "translated.nii.gz"
    out.save(str(saved), plugin="napari-im2im")
    np.testing.assert_allclose(nib.load(str(saved)).affine, canonical, atol=1e-6)
    again, = viewer.open(str(saved), plugin="napari-im2im")
    np.testing.assert_allclose(again.data_to_world(corner), layer.data_to_world(corner), atol=1e-6)
    assert not [m for m in notes if m[0] == "error"]


def _inside_window(viewer, widget) -> bool:
    """The widget is shown and lies wholly inside the main window."""
    win = viewer.window._qt_window
    top_left = widget.mapTo(win, widget.rect().topLeft())
    return (widget.isVisible() and top_left.y() >= 0
            and top_left.y() + widget.height() <= win.height() and top_left.x() + widget.width() <= win.width())


@pytest.mark.parametrize("tabify", [True, False], ids=["four docks as tabs", "Train and Translate stacked"])
def test_docks_fit_a_1366x768_screen(make_napari_viewer, qtbot, tabify):
    """Issue 39 item 1: the window stays 1366 x 768 with the docks open, and each dock's Run and
    Cancel buttons, progress bar and status line are on screen (the form scrolls above them)."""
    viewer = make_napari_viewer(show=True)
    win = viewer.window._qt_window
    win.resize(1366, 768)
    names = ("Translate", "Attention masks", "Reconstruct / Inpaint", "Train") if tabify else ("Train", "Translate")
    docks = [viewer.window.add_plugin_dock_widget("napari-im2im", n, tabify=tabify) for n in names]
    for dock, w in docks:
        _wait_idle(qtbot, w, 180_000)
    for dock, w in docks:
        dock.raise_()
        qtbot.wait(50)
        assert win.height() <= 768 and win.width() <= 1366, (win.width(), win.height())
        for part in (w.run_button, w.cancel_button, w.progress, w.status):
            assert _inside_window(viewer, part), (dock.name, part)
        assert w.scroll.height() >= 100


def test_after_first_use_a_nifti_opens_without_naming_the_plugin(make_napari_viewer, tmp_path):
    """Issue 39 item 5: napari's built-in reader cannot open .nii.gz; once any part of the plugin
    was used, napari prefers our reader for NIfTI when the user opens a file, and a user's own
    preference is kept."""
    import nibabel as nib
    from napari.settings import get_settings

    path = tmp_path / "head.nii.gz"
    nib.save(nib.Nifti1Image(_stack(3).T.copy(), np.diag([1.0, 1.0, 2.0, 1.0])), str(path))
    settings = get_settings().plugins
    saved = dict(settings.extension2reader)
    try:
        settings.extension2reader = {"*.nii": "some-other-reader"}
        viewer = make_napari_viewer(show=True)
        import npe2

        npe2.PluginManager.instance().deactivate("napari-im2im")  # earlier tests in this process used it
        viewer.window.add_plugin_dock_widget("napari-im2im", "Translate")  # first use activates the plugin
        # File > Open and drag-and-drop open with plugin=None, which follows the preferences (a script's
        # viewer.open(path) means napari's built-in reader unless it names plugin=)
        layer, = viewer.open(str(path), plugin=None)
        assert layer.data.shape == (3, 64, 64) and layer.metadata["nifti"]["path"] == str(path)
        assert settings.extension2reader["*.nii"] == "some-other-reader"  # the user's choice stays
    finally:
        settings.extension2reader = saved


def test_loss_plot_uses_a_log_axis_with_readable_ticks_and_curves_can_be_hidden(qtbot, tmp_path):
    """Issue 39 item 6: eight curves from 0.0018 to 10 get a log axis with a tick per decade; a
    click on a legend entry hides its curve (and the axis follows the curves shown)."""
    from qtpy.QtCore import Qt

    from napari_im2im._loss_plot import LossPlot, axis

    scale, lo, hi, ticks = axis(np.array([0.0018, 0.05, 1.0, 10.0]))
    assert scale == "log" and ticks == pytest.approx([0.01, 0.1, 1.0])  # a tick per decade inside the data
    assert axis(np.array([0.2, 0.5, 0.9]))[0] == "linear" and len(axis(np.array([0.2, 0.5, 0.9]))[3]) >= 3
    assert axis(np.array([-1.0, 3.0]))[0] == "linear"  # not all positive: linear
    plot = LossPlot(min_interval=0.0)
    qtbot.addWidget(plot)
    plot.resize(360, 220)
    plot.show()
    rng = np.random.default_rng(0)
    for step in range(1, 60):
        plot.add(step, {f"loss_{k}": float(10 ** (1 - k * 0.5) * (1 + 0.1 * rng.random())) for k in range(8)})
    plot.grab().save(str(tmp_path / "plot.png"))  # paints, which lays the legend out
    box, name = plot._legend_boxes[0]
    qtbot.mouseClick(plot, Qt.MouseButton.LeftButton, pos=box.center().toPoint())
    assert name in plot.hidden and name not in plot.visible_values()
    qtbot.mouseClick(plot, Qt.MouseButton.LeftButton, pos=box.center().toPoint())
    assert name not in plot.hidden


def test_a_two_channel_layer_is_named_in_the_dock_not_misread(make_napari_viewer, qtbot, ckpts, notes):
    """Issue 39 item 5 in the window: a (128, 128, 2) layer gets a notification naming its channel
    axis and how to split it; no output layer appears."""
    from napari_im2im._widget_translate import TranslateWidget

    viewer = make_napari_viewer(show=True)
    viewer.add_image(np.random.default_rng(0).random((128, 128, 2)).astype(np.float32), name="two")
    w = TranslateWidget(viewer)
    viewer.window.add_dock_widget(w)
    _load(qtbot, w, ckpts["generator"])
    w.run()
    _wait_idle(qtbot, w)
    assert any(sev == "error" and "channels" in text and "Split Stack" in text for sev, text in notes), notes
    assert [ly.name for ly in viewer.layers] == ["two"]


def test_reconstruct_states_what_the_model_expects_and_flags_the_mask_outside_it(make_napari_viewer, qtbot, notes):
    """Issue 38 item 4: the MRI page shows the chosen model's training contrasts, masks and sampling,
    and a warning line when the mask kind or acceleration lies outside them."""
    from napari_im2im._widget_reconstruct import ReconstructWidget

    viewer = make_napari_viewer(show=True)
    w = ReconstructWidget(viewer)
    w.mask_kind.setCurrentText("gaussian1d")
    w.acceleration.setValue(4.0)
    assert "T1w" in w.expects.text() and "1D gaussian1d" in w.expects.text() and "⚠" not in w.expects.text()
    idx = w.mri_model.combo.currentIndex()
    w.mri_model.combo.activated.emit(idx)  # the user keeps this model by hand
    w.mask_kind.setCurrentText("poisson2d")
    assert "⚠ a 2D mask, but the model was trained on 1D masks" in w.expects.text()
    w.mask_kind.setCurrentText("gaussian1d")
    w.acceleration.setValue(16.0)
    assert "⚠ 6% of k-space sampled" in w.expects.text()
    w.mri_model.combo.setCurrentIndex(0)  # zero-filled: nothing to expect
    assert w.expects.text() == ""
