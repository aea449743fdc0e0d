"""Official checkpoints in the napari Translate dock: MUNIT with its YAML and a reference-style
layer, StarGAN with attribute checkboxes (goldens of tests/data/official)."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("QT_API", "pyqt6")
if os.environ.get("IM2IM_SKIP_GUI_TESTS"):
    pytest.skip("IM2IM_SKIP_GUI_TESTS is set", allow_module_level=True)

from foreign_parity import from_image, golden, max_err, to_image  # noqa: E402

WAIT = 60_000


def _wait_idle(qtbot, widget):
    qtbot.waitUntil(lambda: not widget.busy, timeout=WAIT)


def test_munit_with_config_and_style_layer(make_napari_viewer, qtbot):
    from napari_im2im._widget_translate import TranslateWidget

    folder, g, meta = golden("munit")
    viewer = make_napari_viewer()
    viewer.add_image(to_image(g["x_a0"]), name="shoe", rgb=True)
    viewer.add_image(to_image(g["ref_b0"]), name="ref")
    w = TranslateWidget(viewer)
    w.official.config.setText(str(folder / meta["config"]))
    w.set_model(folder / meta["weights"])
    _wait_idle(qtbot, w)
    assert w.translator.family == "munit" and w.translator.model.config.arch == "official"
    for row in (w.official.config, w.official.reference, w.seed, w.samples):
        assert w.form.isRowVisible(row)
    assert not w.form.isRowVisible(w.official.attrs)
    w.layer_combo.setCurrentText("shoe")
    w.official.reference.setCurrentText("ref")
    assert w.run()
    _wait_idle(qtbot, w)
    out = viewer.layers[f"shoe [{w.direction.currentText()}]"]
    assert out.metadata["im2im"]["options"]["style_from"].startswith("reference image")
    assert max_err(from_image(out.data), g["ab_ref0"]) < 0.02  # the dock runs at precision "auto"
    w.official.reference.setCurrentText("(random style)")  # seeded samples again
    w.samples.setValue(2)
    assert w.run()
    _wait_idle(qtbot, w)
    assert viewer.layers[f"shoe [{w.direction.currentText()}]"].data.shape == (2, 32, 32)


def test_stargan_attribute_checkboxes(make_napari_viewer, qtbot):
    from napari_im2im._widget_translate import TranslateWidget

    folder, g, meta = golden("stargan")
    viewer = make_napari_viewer()
    viewer.add_image(to_image(g["x0"][:1]), name="face", rgb=True)
    w = TranslateWidget(viewer)
    w.set_model(folder / meta["weights"])
    _wait_idle(qtbot, w)
    names = [b.text() for b in w.official.boxes]
    assert names == ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]
    assert w.form.isRowVisible(w.official.attrs) and not w.form.isRowVisible(w.target)
    for box, on in zip(w.official.boxes, meta["labels"][0]):
        box.setChecked(bool(on))
    assert w.run()
    _wait_idle(qtbot, w)
    out = viewer.layers["face [-> Black_Hair+Male]"]
    assert out.metadata["im2im"]["options"]["target"] == [1.0, 0.0, 0.0, 1.0, 0.0]
    assert max_err(from_image(out.data), g["y0_0"][:1]) < 0.02
    assert np.isfinite(out.data).all()
