"""A small image in the dock: the Train widget's live preview.

Updating a napari layer repaints the whole canvas (30-300 ms under software OpenGL); a QLabel
pixmap of one slice costs about a millisecond, so previews never make the viewer stutter.
"""
from __future__ import annotations

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QLabel


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A 2D or (H, W, 3|4) array stretched to 0..255 between its 1st and 99th percentiles (finite values)."""
    a = np.asarray(image, np.float32)
    ok = a[np.isfinite(a)]
    lo, hi = (np.percentile(ok, (1, 99)) if ok.size else (0.0, 1.0))
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return np.nan_to_num((a - lo) * scale, nan=0.0).clip(0, 255).astype(np.uint8)


class Thumbnail(QLabel):
    """Shows an array, fitted into `side` pixels; empty until the first image."""

    def __init__(self, side: int = 160, parent=None):
        super().__init__(parent)
        self.side = side
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumHeight(side)
        self.shown_shape: tuple | None = None  # the last array's shape (tests)
        self.clear_image()

    def clear_image(self) -> None:
        self.shown_shape = None
        self.clear()
        self.setText("preview appears here during training")

    def show_array(self, image: np.ndarray) -> None:
        a = to_uint8(image)
        if a.ndim == 3:
            a = np.ascontiguousarray(a[..., :3])
            fmt, stride = QImage.Format.Format_RGB888, 3 * a.shape[1]
        else:
            a = np.ascontiguousarray(a)
            fmt, stride = QImage.Format.Format_Grayscale8, a.shape[1]
        img = QImage(a.data, a.shape[1], a.shape[0], stride, fmt).copy()  # copy: Qt keeps no numpy buffer
        pix = QPixmap.fromImage(img).scaled(self.side, self.side, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation)
        self.setPixmap(pix)
        self.shown_shape = image.shape
