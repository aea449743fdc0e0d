"""The Train widget's live loss plot, painted with QPainter.

A matplotlib canvas cost ~100 ms of the GUI thread per redraw under software OpenGL, enough to
make napari stutter during training; these polylines cost a few ms. Each curve is decimated to
at most `MAX_POINTS` points, and the legend has its own strip under the axes. Losses spanning
decades get a log axis with a tick per decade; clicking a legend entry hides or shows its curve.
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


def axis(values: np.ndarray) -> tuple[str, float, float, list[float]]:
    """("log" or "linear", low, high, tick values) for finite loss values: log when all are
    positive and they span over a decade (ticks at 1, 2 and 5 times powers of ten when few decades)."""
    v = values[np.isfinite(values)]
    if not v.size:
        return "linear", 0.0, 1.0, [0.0, 0.5, 1.0]
    lo, hi = float(v.min()), float(np.percentile(v, 99))
    if hi <= lo:
        lo, hi = lo - 0.5, lo + 0.5
    if lo > 0 and hi / lo > 10:
        e0, e1 = int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi)))
        steps = (1, 2, 5) if e1 - e0 <= 3 else (1,)
        ticks = [m * 10.0 ** e for e in range(e0, e1 + 1) for m in steps if lo <= m * 10.0 ** e <= hi]
        return "log", lo, hi, ticks or [lo, hi]
    step = 10 ** np.floor(np.log10((hi - lo) / 4))
    step *= next(m for m in (1, 2, 5, 10) if (hi - lo) / (step * m) <= 5)
    ticks = [float(t) for t in np.arange(np.ceil(lo / step) * step, hi + step * 1e-9, step)]
    return "linear", lo, hi, ticks


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
        self.hidden: set[str] = getattr(self, "hidden", set())  # curves the user switched off (kept across runs)
        self._legend_boxes: list[tuple[QRectF, str]] = []
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

    def toggle(self, name: str) -> None:
        """Hide a curve, or show it again."""
        self.hidden ^= {name}
        self.update()

    def mousePressEvent(self, event):  # noqa: N802 - Qt's name
        pos = event.position() if hasattr(event, "position") else event.pos()
        for box, name in self._legend_boxes:
            if box.contains(pos):
                self.toggle(name)
                return
        super().mousePressEvent(event)

    def visible_values(self) -> dict[str, list[float]]:
        return {k: v for k, v in self.values.items() if k not in self.hidden}

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
        shown = [y for k, y in ys.items() if k not in self.hidden]
        scale, y0, y1, ticks = axis(np.concatenate(shown or [np.zeros(0)]))
        f = (lambda v: np.log10(np.maximum(v, 1e-300))) if scale == "log" else (lambda v: v)  # noqa: E731
        f0, f1 = float(f(y0)), float(f(y1))
        x0, x1 = float(x[0]), float(max(x[-1], x[0] + 1))

        def to_px(xv, yv):
            px = plot.left() + (xv - x0) / (x1 - x0) * plot.width()
            py = plot.bottom() - (f(np.clip(yv, y0, y1)) - f0) / (f1 - f0) * plot.height()
            return px, py

        for i, (name, y) in enumerate(ys.items()):
            if name in self.hidden:
                continue
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
        last = None
        for v in ticks:
            yy = float(to_px(np.array([x0]), np.array([v]))[1][0])
            p.drawLine(QPointF(plot.left() - 3, yy), QPointF(plot.left(), yy))
            if last is None or abs(yy - last) >= lh:  # no overlapping labels
                p.drawText(QRectF(0, yy - lh / 2, left - 4, lh), right_align, _tick(v))
                last = yy
        if scale == "log":
            p.drawText(QRectF(plot.left() + 3, plot.top() + 1, 40, lh), Qt.AlignmentFlag.AlignLeft, "log")
        xt = plot.bottom() + 2
        p.drawText(QRectF(plot.left(), xt, 80, lh), Qt.AlignmentFlag.AlignLeft, str(int(x0)))
        p.drawText(QRectF(plot.right() - 80, xt, 80, lh), Qt.AlignmentFlag.AlignRight, f"{int(x[-1])}")
        p.drawText(QRectF(plot.left(), xt, plot.width(), lh), Qt.AlignmentFlag.AlignHCenter, "iteration")
        ly = xt + lh + 4
        self._legend_boxes = []
        for row in rows:
            lx = 4.0
            for name, i in row:
                color = QColor("#bbbbbb" if name in self.hidden else COLORS[i % len(COLORS)])
                p.fillRect(QRectF(lx, ly + lh / 2 - 1.5, 10, 3), color)
                p.setPen(QPen(color if name in self.hidden else QColor("#444444")))
                p.drawText(QRectF(lx + 14, ly, fm.horizontalAdvance(name) + 2, lh), Qt.AlignmentFlag.AlignLeft, name)
                self._legend_boxes.append((QRectF(lx, ly, 14 + fm.horizontalAdvance(name) + 2, lh), name))
                lx += 14 + fm.horizontalAdvance(name) + 10
            ly += lh
