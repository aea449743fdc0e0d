"""`python -m napari_im2im`: the `im2im demo` results in napari, with the plugin's widgets docked
(needs a display). The demo itself lives in the napari-free core; only showing it lives here."""
from __future__ import annotations

import argparse


def show(layers: dict, viewer=None):
    """The demo's arrays as layers, and the four dock widgets, in `viewer` (or a new window, run
    until closed)."""
    import napari

    own = viewer is None
    viewer = napari.Viewer(title="napari-im2im demo") if own else viewer
    for name, data in layers.items():
        viewer.add_image(data, name=name, colormap="magma" if name == "attention" else "gray", blending="additive"
                         if name == "attention" else "translucent", visible=name in ("T1w", "attention"))
    for widget in ("Translate", "Attention masks", "Reconstruct / Inpaint", "Train"):  # tabs: fits 1366 x 768
        viewer.window.add_plugin_dock_widget("napari-im2im", widget, tabify=True)
    if own:
        napari.run()
    return viewer


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m napari_im2im", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="im2im_demo_out", help="output folder for the figure and metrics")
    ap.add_argument("--quick", action="store_true", help="fewer slices")
    args = ap.parse_args(argv)
    from im2im_core.demo import run_demo

    show(run_demo(out_dir=args.out, quick=args.quick)["layers"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
