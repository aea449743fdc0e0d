"""The longest stall of napari's event loop when a large output layer is added, with the contrast
limits computed beforehand (what the plugin does, in its worker) and without (napari scans the data
on the GUI thread). A 10 ms QTimer stamps every tick; the largest gap is the stall a user feels.

    python -m training.benchmarks.gui_spikes          # needs a display (xvfb-run -a works)

Same process, alternating, after one warm-up add (the first layer initialises vispy: ~0.9 s).
"""
from __future__ import annotations

import argparse
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_im2im._qt_common import add_or_replace
    from napari_im2im._translate import value_range

    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    rng = np.random.default_rng(0)

    def add(name: str, limits: bool) -> float:
        data = rng.random((181, 217, 181), dtype=np.float32)  # made before the clock runs
        kw = {"name": name, "metadata": {"im2im": {}}, **({"contrast_limits": value_range(data)} if limits else {})}
        return stall_ms(app, lambda: add_or_replace(viewer, [(data, kw, "image")]))

    add("warm-up", False)
    rows = {"napari computes the contrast limits": [], "limits computed beforehand": []}
    for k in range(args.repeats):
        rows["napari computes the contrast limits"].append(add(f"a{k}", False))
        rows["limits computed beforehand"].append(add(f"b{k}", True))
    print("Adding a 181 x 217 x 181 float32 output layer: longest event-loop stall, ms")
    print("| case | median | max |\n|---|---|---|")
    for name, v in rows.items():
        print(f"| {name} | {np.median(v):.0f} | {np.max(v):.0f} |")
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
