"""The Train widget's live loss plot, painted with QPainter.

A matplotlib canvas cost ~100 ms of the GUI thread per redraw under software OpenGL, enough to
make napari stutter during training; these polylines cost a few ms. Each curve is decimated to
at most `MAX_POINTS` points, and the legend has its own strip under the axes.
"""
from __future__ import annotations

import math

import numpy as np
from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtGui import QColor, QFont, QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QSizePolicy, QWidget

MAX_POINTS = 300
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf")


def decimate(n: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most `max_points` evenly spread samples of n, first and last included."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def _tick(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.2e}"


class LossPlot(QWidget):
    """Losses against the iteration. `add` stores every value; painting is throttled by Qt's
    update coalescing and by `min_interval` seconds between requested repaints."""

    def __init__(self, parent=None, min_interval: float = 0.5):
        super().__init__(parent)
        import time

        self._time, self.min_interval = time.monotonic, min_interval
        self.setMinimumHeight(170)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.paints = 0  # how many times it painted (tests)
        self.reset()

    def reset(self) -> None:
        self.steps: list[int] = []
        self.values: dict[str, list[float]] = {}
        self._last = 0.0
        self.update()

    def add(self, step: int, losses: dict) -> None:
        self.steps.append(int(step))
        for k, v in losses.items():
            self.values.setdefault(k, [math.nan] * (len(self.steps) - 1)).append(float(v))
        for v in self.values.values():
            if len(v) < len(self.steps):
                v.append(math.nan)
        if self._time() - self._last > self.min_interval:
            self.draw_now()

    def draw_now(self) -> None:
        self._last = self._time()
        self.update()

    # ---- painting --------------------------------------------------------------------------------
    def _legend_rows(self, width: int, fm) -> list[list[tuple[str, int]]]:
        rows: list[list[tuple[str, int]]] = [[]]
        x = 0
        for i, name in enumerate(self.values):
            w = 14 + fm.horizontalAdvance(name) + 10
            if rows[-1] and x + w > width:
                rows.append([])
                x = 0
            rows[-1].append((name, i))
            x += w
        return rows if rows[0] else []

    def paintEvent(self, event):  # noqa: N802 - Qt's name
        self.paints += 1
        p = QPainter(self)
        try:
            self._paint(p)
        finally:
            p.end()

    def _paint(self, p: QPainter) -> None:
        p.fillRect(self.rect(), QColor("white"))
        font = QFont(self.font())
        font.setPointSizeF(7.5)
        p.setFont(font)
        fm = p.fontMetrics()
        lh = fm.height()
        rows = self._legend_rows(self.width() - 8, fm)
        left, top, right = 8 + fm.horizontalAdvance("-0.000e+00"), 6, 8
        bottom = lh + 6 + len(rows) * lh + 4  # x tick labels, then the legend strip
        plot = QRectF(left, top, max(self.width() - left - right, 10), max(self.height() - top - bottom, 10))
        p.setPen(QPen(QColor("#444444")))
        p.drawRect(plot)
        if not self.steps:
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, "losses appear here during training")
            return
        idx = decimate(len(self.steps))
        x = np.asarray(self.steps, float)[idx]
        ys = {k: np.asarray(v, float)[idx] for k, v in self.values.items()}
        finite = np.concatenate([y[np.isfinite(y)] for y in ys.values()] or [np.zeros(0)])
        y0, y1 = (float(finite.min()), float(np.percentile(finite, 99))) if finite.size else (0.0, 1.0)
        if y1 <= y0:
            y0, y1 = y0 - 0.5, y0 + 0.5
        x0, x1 = float(x[0]), float(max(x[-1], x[0] + 1))

        def to_px(xv, yv):
            px = plot.left() + (xv - x0) / (x1 - x0) * plot.width()
            py = plot.bottom() - (np.clip(yv, y0, y1) - y0) / (y1 - y0) * plot.height()
            return px, py

        for i, (name, y) in enumerate(ys.items()):
            pen = QPen(QColor(COLORS[i % len(COLORS)]))
            pen.setWidthF(1.2)
            p.setPen(pen)
            ok = np.isfinite(y)
            px, py = to_px(x[ok], y[ok])
            if px.size == 1:
                p.drawEllipse(QPointF(px[0], py[0]), 1.5, 1.5)
            elif px.size:
                p.drawPolyline(QPolygonF([QPointF(a, b) for a, b in zip(px.tolist(), py.tolist())]))
        p.setPen(QPen(QColor("#444444")))
        right_align = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for v, yy in ((y1, plot.top()), (y0, plot.bottom())):
            p.drawText(QRectF(0, yy - lh / 2, left - 4, lh), right_align, _tick(v))
        xt = plot.bottom() + 2
        p.drawText(QRectF(plot.left(), xt, 80, lh), Qt.AlignmentFlag.AlignLeft, str(int(x0)))
        p.drawText(QRectF(plot.right() - 80, xt, 80, lh), Qt.AlignmentFlag.AlignRight, f"{int(x[-1])}")
        p.drawText(QRectF(plot.left(), xt, plot.width(), lh), Qt.AlignmentFlag.AlignHCenter, "iteration")
        ly = xt + lh + 4
        for row in rows:
            lx = 4.0
            for name, i in row:
                color = QColor(COLORS[i % len(COLORS)])
                p.fillRect(QRectF(lx, ly + lh / 2 - 1.5, 10, 3), color)
                p.drawText(QRectF(lx + 14, ly, fm.horizontalAdvance(name) + 2, lh), Qt.AlignmentFlag.AlignLeft, name)
                lx += 14 + fm.horizontalAdvance(name) + 10
            ly += lh
