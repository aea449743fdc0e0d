"""The longest stall of napari's event loop when a large output layer is added, with the contrast
limits computed beforehand (what the plugin does, in its worker) and without (napari scans the data
on the GUI thread); with `--train`, around the start and the end of a short run in the Train
widget. A 10 ms QTimer stamps every tick; the largest gap is the stall a user feels.

    python -m training.benchmarks.gui_spikes          # needs a display (xvfb-run -a works)
    python -m training.benchmarks.gui_spikes --train

Same process, alternating, after one warm-up add (the first layer initialises vispy: ~0.9 s).
"""
from __future__ import annotations

import argparse
import gc
import time

import numpy as np


def stall_ms(app, fn, before: float = 0.5, after: float = 1.5) -> float:
    from qtpy.QtCore import QTimer

    stamps: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: stamps.append(time.perf_counter()))
    timer.start()
    for wait, call in ((before, None), (after, fn)):
        if call is not None:
            QTimer.singleShot(0, call)
        end = time.perf_counter() + wait
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.002)
    timer.stop()
    return float(1000 * np.diff(stamps).max())


def ticks(app, until, timeout: float = 120.0) -> list[float]:
    """Timer stamps from now until `until()` is true (and half a second more)."""
    from qtpy.QtCore import QTimer

    stamps: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: stamps.append(time.perf_counter()))
    timer.start()
    end = time.perf_counter() + timeout
    done_at = None
    while time.perf_counter() < (done_at or end):
        app.processEvents()
        time.sleep(0.002)
        if done_at is None and until():
            done_at = time.perf_counter() + 0.5
    timer.stop()
    return stamps


def train_stalls(viewer, app, repeats: int) -> dict:
    """Longest gaps in the first 2 s after Train is pressed, over the whole run, and in the last
    2 s (the end: saving, the hidden result layer, the final plot)."""
    import tempfile

    from napari_im2im._widget_train import TrainWidget

    rng = np.random.default_rng(0)
    viewer.add_image(rng.random((4, 96, 96), dtype=np.float32), name="A")
    viewer.add_image(rng.random((4, 96, 96), dtype=np.float32), name="B")
    w = TrainWidget(viewer)
    viewer.window.add_dock_widget(w, name="Train")
    w.domain_a.layers.set_layer(viewer.layers["A"])
    w.domain_b.layers.set_layer(viewer.layers["B"])
    w.iterations.setValue(30)
    w.preview_every.setValue(10)
    rows = {"start (first 2 s)": [], "whole run": [], "end (last 2 s)": []}
    with tempfile.TemporaryDirectory() as tmp:
        w.out_dir.setText(tmp)
        for _ in range(repeats + 1):  # the first run imports the training stack: a warm-up
            w.checkpoint = None
            t0 = time.perf_counter()
            from qtpy.QtCore import QTimer

            QTimer.singleShot(0, w.run)
            stamps = np.array(ticks(app, lambda: w.checkpoint is not None and not w.busy))
            gaps, mids = 1000 * np.diff(stamps), stamps[1:]
            t_end = stamps[-1] - 0.5
            rows["start (first 2 s)"].append(gaps[mids < t0 + 2].max())
            rows["whole run"].append(gaps.max())
            rows["end (last 2 s)"].append(gaps[mids > t_end - 2].max())
    return {k: v[1:] for k, v in rows.items()}


def table(title: str, first: str, rows: dict) -> None:
    print(f"{title}: longest event-loop stall, ms")
    print(f"| {first} | median | max |\n|---|---|---|")
    for name, v in rows.items():
        print(f"| {name} | {np.median(v):.0f} | {np.max(v):.0f} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--train", action="store_true", help="measure the Train widget's start and end instead")
    args = ap.parse_args(argv)
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_im2im._qt_common import add_or_replace
    from napari_im2im._translate import value_range

    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    if args.train:
        table("Train widget, cycle_gan tiny, 30 iterations on 96 px", "window", train_stalls(viewer, app, args.repeats))
        viewer.close()
        return 0
    rng = np.random.default_rng(0)

    def add(name: str, limits: bool) -> float:
        data = rng.random((181, 217, 181), dtype=np.float32)  # made before the clock runs
        kw = {"name": name, "metadata": {"im2im": {}}, **({"contrast_limits": value_range(data)} if limits else {})}
        return stall_ms(app, lambda: add_or_replace(viewer, [(data, kw, "image")]))

    add("warm-up", False)
    gc.freeze()  # as the plugin does when a job starts (JobWidget.start)
    rows = {"napari computes the contrast limits": [], "limits computed beforehand": []}
    for k in range(args.repeats):
        rows["napari computes the contrast limits"].append(add(f"a{k}", False))
        rows["limits computed beforehand"].append(add(f"b{k}", True))
    table("Adding a 181 x 217 x 181 float32 output layer", "case", rows)
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
