"""Render each napari-im2im dock widget, docked in a real napari window, to docs/widget_*.png.

    .venv/bin/python scripts/screenshots.py            # starts its own Xvfb when there is no display
    .venv/bin/python scripts/screenshots.py --iterations 60 --out docs

The models are trained on the spot (tiny capacity, MNI152 T1w/T2w slabs) through the Train
widget, so the pictures show the real train -> load -> translate workflow; a few minutes on a
2-core CPU (pix2pix at "small" capacity, the attention model "tiny"). The MRI panel needs no model (zero-filled baseline with PSNR/SSIM).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ensure_display(width=1366, height=768):
    """Start a virtual X server (pyvirtualdisplay, installed with pytest-xvfb) when none is set."""
    if os.environ.get("DISPLAY"):
        return None
    from pyvirtualdisplay import Display

    disp = Display(visible=False, size=(width, height), color_depth=24)
    disp.start()
    return disp


def wait(app, cond, timeout=900.0, what="job"):
    t0 = time.monotonic()
    while not cond():
        app.processEvents()
        time.sleep(0.02)
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"{what} did not finish within {timeout:.0f} s")
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)


def new_viewer(title):
    import napari

    viewer = napari.Viewer(title=title, show=True)
    viewer.window._qt_window.resize(1366, 768)  # a common laptop screen (issue 39)
    return viewer


def dock(viewer, widget, name):
    viewer.window.add_dock_widget(widget, name=name, area="right")
    return widget


def shot(app, viewer, path):
    wait(app, lambda: True, what="redraw")
    viewer.screenshot(str(path), canvas_only=False, flash=False)
    print(f"wrote {path}")


def mni_slabs():
    """Axial T1w/T2w slabs (z 60..99), 2 mm in-plane: small enough to train on a CPU."""
    import numpy as np

    from im2im_core.data.mni import load_mni_tissues, synthesize_contrast

    tis = load_mni_tissues()
    t1 = np.asarray(tis["t1_template"], np.float32).T[60:100, ::2, ::2]
    t2 = synthesize_contrast(tis, "T2w").T[60:100, ::2, ::2]
    a = tis["affine"]
    kw = dict(scale=(1.0, 2.0, 2.0), translate=(a[2, 3] + 60, a[1, 3], a[0, 3]), axis_labels=("z", "y", "x"),
              units=("mm", "mm", "mm"))
    return t1 / t1.max(), t2, kw


def grid(viewer, shape):
    """Side-by-side view of the visible layers, zoomed to fit."""
    g = viewer.canvas.grid if hasattr(viewer, "canvas") and hasattr(viewer.canvas, "grid") else viewer.grid
    g.shape = shape
    g.enabled = True
    viewer.reset_view()


def train(app, viewer, widget, family, iterations, out_dir, paired, capacity="tiny"):
    widget.domain_a.layers.setCurrentText("T1w")
    widget.domain_b.layers.setCurrentText("T2w")
    widget.family.setCurrentText(family)
    widget.capacity.setCurrentText(capacity)
    widget.size.setValue(64)
    widget.iterations.setValue(iterations)
    widget.preview_every.setValue(max(1, iterations // 10))
    widget.paired.setChecked(paired)
    widget.out_dir.setText(str(out_dir))
    assert widget.run()
    wait(app, lambda: not widget.busy, what=f"training {family}")
    if not widget.checkpoint:
        raise RuntimeError(f"training {family} failed: {widget.messages[-3:]}")
    return widget.checkpoint


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "docs"))
    ap.add_argument("--iterations", type=int, default=300, help="training iterations of the pix2pix model (the attention model gets half)")
    ap.add_argument("--runs", default=str(ROOT / "runs" / "screenshots"))
    ap.add_argument("--only", choices=("all", "reconstruct"), default="all",
                    help="reconstruct: only the Reconstruct panel, which needs no training (seconds)")
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_API", "pyqt6")
    disp = ensure_display()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        from qtpy.QtWidgets import QApplication

        import napari  # noqa: F401  (creates the QApplication on first viewer)
        from napari_im2im._widget_attention import AttentionWidget
        from napari_im2im._widget_reconstruct import ReconstructWidget
        from napari_im2im._widget_train import TrainWidget
        from napari_im2im._widget_translate import TranslateWidget

        t1, t2, kw = mni_slabs()

        if args.only == "all":
            # Train (pix2pix, paired T1w -> T2w) and, in the same widget, an attention model
            viewer = new_viewer("napari-im2im: Train")
            app = QApplication.instance()
            viewer.add_image(t2, name="T2w", colormap="gray", **kw)
            viewer.add_image(t1, name="T1w", colormap="gray", **kw)
            tw = dock(viewer, TrainWidget(viewer), "Train")
            att_ckpt = train(app, viewer, tw, "attention_cycle_gan", max(20, args.iterations // 2), args.runs, False)
            ckpt = train(app, viewer, tw, "pix2pix", args.iterations, args.runs, True, "small")
            viewer.layers["T2w"].visible = False
            viewer.dims.set_current_step(0, 20)
            viewer.reset_view()
            shot(app, viewer, out / "widget_train.png")

            # Translate: the checkpoint just trained, loaded with one click
            translate = tw.load_in_translate()
            wait(app, lambda: not translate.busy, what="loading")
            translate.layer_combo.setCurrentText("T1w")
            assert translate.run()
            wait(app, lambda: not translate.busy, what="translating")
            try:  # show the Translate dock alone
                viewer.window.remove_dock_widget(tw)
            except LookupError:
                pass
            viewer.layers.remove("T1w [training preview]")
            viewer.layers.move(viewer.layers.index("T2w"), len(viewer.layers))  # grid: T1w, output, T2w
            for ly in viewer.layers:
                ly.visible = True
            grid(viewer, (1, 3))
            shot(app, viewer, out / "widget_translate.png")
            viewer.close()

            # Attention masks on a T1w slice
            viewer = new_viewer("napari-im2im: Attention masks")
            viewer.add_image(t1[20], name="T1w slice", colormap="gray", scale=kw["scale"][1:],
                             translate=kw["translate"][1:])
            aw = dock(viewer, AttentionWidget(viewer), "Attention masks")
            aw.set_model(att_ckpt)
            wait(app, lambda: not aw.busy, what="loading")
            assert aw.run()
            wait(app, lambda: not aw.busy, what="attention")
            aw.threshold.setValue(20)
            viewer.reset_view()
            shot(app, viewer, out / "widget_attention.png")
            viewer.close()

        # Reconstruct: 4x undersampled k-space of a T1w slice, zero-filled baseline + metrics
        viewer = new_viewer("napari-im2im: Reconstruct / Inpaint")
        app = QApplication.instance()
        from im2im_core.data.mni import load_mni_tissues

        full = load_mni_tissues()["t1_template"].T[80]
        viewer.add_image(full / full.max(), name="T1w axial", colormap="gray", axis_labels=("y", "x"),
                         units=("mm", "mm"))
        rw = dock(viewer, ReconstructWidget(viewer), "Reconstruct / Inpaint")
        rw.mask_kind.setCurrentText("gaussian1d")
        rw.acceleration.setValue(4.0)
        assert rw.run()
        wait(app, lambda: not rw.busy, what="reconstruction")
        for ly in viewer.layers:
            ly.visible = ly.name in ("T1w axial [reconstruction]", "T1w axial [zero-filled]", "T1w axial [error]",
                                     "T1w axial [mask]")
        viewer.layers["T1w axial [mask]"].opacity = 1.0
        grid(viewer, (2, 2))
        shot(app, viewer, out / "widget_reconstruct.png")
        viewer.close()
    finally:
        if disp is not None:
            disp.stop()


if __name__ == "__main__":
    sys.exit(main())
