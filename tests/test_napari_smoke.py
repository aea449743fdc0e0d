"""Smoke test of the GUI stack: Xvfb (pytest-xvfb) + PyQt6 + OpenGL + napari.

If this fails, every other napari/plugin test will too: check that Xvfb and
the Qt xcb / Mesa libraries are installed (``bash scripts/setup_env.sh`` does
it as root) and that PyQt6 is the only Qt binding in ``.venv``.
"""

import os

import numpy as np
import pytest

os.environ.setdefault("QT_API", "pyqt6")

if os.environ.get("IM2IM_SKIP_GUI_TESTS"):
    pytest.skip("IM2IM_SKIP_GUI_TESTS is set", allow_module_level=True)


def test_qt_binding_is_pyqt6():
    import qtpy

    assert qtpy.API_NAME == "PyQt6"


def test_napari_viewer_image_layer_with_scale(make_napari_viewer):
    import qtpy

    assert qtpy.API_NAME == "PyQt6"
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        pytest.fail(
            "no X display: pytest-xvfb needs Xvfb "
            "(apt-get install xvfb, or run bash scripts/setup_env.sh as root)"
        )

    # show=True: a hidden canvas is never drawn (screenshot would be black);
    # the fixture waits until the window is exposed on the Xvfb display.
    viewer = make_napari_viewer(show=True)
    data = np.random.default_rng(0).random((32, 48)).astype(np.float32)
    layer = viewer.add_image(data, scale=(2, 3), name="smoke")

    assert len(viewer.layers) == 1
    assert layer in viewer.layers
    assert viewer.layers["smoke"] is layer
    np.testing.assert_allclose(layer.scale, (2.0, 3.0))
    np.testing.assert_array_equal(layer.data, data)

    # Render through the real OpenGL canvas (Mesa llvmpipe under Xvfb): the
    # random image must come out as a non-flat RGBA picture.
    shot = viewer.screenshot(canvas_only=True, flash=False)
    assert shot.ndim == 3 and shot.shape[-1] == 4
    assert shot.shape[0] > 0 and shot.shape[1] > 0
    assert shot[..., :3].std() > 10, "canvas rendered a flat image (no OpenGL?)"
