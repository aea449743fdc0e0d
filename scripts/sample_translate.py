"""What a new user sees: the napari sample "MNI152 T1w" as it opens, translated by the Translate
widget's default model, next to the synthetic T2w sample. Writes docs/translate_mni_sample.png.

    .venv/bin/python scripts/sample_translate.py          # starts its own Xvfb when there is no display
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from screenshots import ensure_display, shot, wait  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT.parent / "docs" / "translate_mni_sample.png"))
    ap.add_argument("--slice", type=int, default=80, help="axial slice shown (80 lies in the held-out test slab)")
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_API", "pyqt6")
    disp = ensure_display()
    try:
        import napari
        from qtpy.QtWidgets import QApplication

        from napari_im2im._widget_translate import TranslateWidget

        viewer = napari.Viewer(title="napari-im2im: Translate on the MNI152 sample", show=True)
        viewer.window._qt_window.resize(1500, 900)
        app = QApplication.instance()
        viewer.open_sample("napari-im2im", "mni152_t2")
        viewer.open_sample("napari-im2im", "mni152_t1")
        w = TranslateWidget(viewer)
        viewer.window.add_dock_widget(w, name="Translate", area="right")
        wait(app, lambda: w.translator is not None and not w.busy, what="model loading")
        w.layer_combo.setCurrentText("MNI152 T1w")
        assert w.run(), "translate did not start"
        wait(app, lambda: not w.busy, what="translation")
        viewer.grid.enabled = True
        viewer.dims.set_current_step(0, args.slice)
        viewer.reset_view()
        shot(app, viewer, Path(args.out))
        print("model:", w.translator.name, "| layers:", [ly.name for ly in viewer.layers])
        viewer.close()
    finally:
        if disp is not None:
            disp.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
