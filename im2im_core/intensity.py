"""Intensity windows that map raw pixel values to the network's [-1, 1] range and back.

The window used in training is stored in the checkpoint, so inference on a 16-bit microscope
image or an MRI volume reproduces the training normalisation exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError

_DTYPE_RANGES = {np.dtype(np.uint8): (0.0, 255.0), np.dtype(np.uint16): (0.0, 65535.0),
                 np.dtype(np.int16): (-32768.0, 32767.0)}


@dataclass
class Intensity:
    """`mode`: "percentile" (per image or volume, `low`/`high` are percentiles), "fixed"
    (`low`/`high` are raw values) or "dtype" (the full range of the integer dtype; floats use [0, 1])."""

    mode: str = "percentile"
    low: float = 0.5
    high: float = 99.5

    def __post_init__(self):
        if self.mode not in ("percentile", "fixed", "dtype"):
            raise InputError(f"intensity mode {self.mode!r} unknown; use percentile, fixed or dtype")
        if not self.high > self.low:
            raise InputError(f"intensity window needs high > low, got low={self.low}, high={self.high}")
        if self.mode == "percentile" and not 0 <= self.low < self.high <= 100:
            raise InputError(f"percentile window must lie in [0, 100], got low={self.low}, high={self.high}")

    def window(self, image: np.ndarray) -> tuple[float, float]:
        """Raw values that map to -1 and +1 for this image."""
        if self.mode == "fixed":
            return float(self.low), float(self.high)
        if self.mode == "dtype":
            return _DTYPE_RANGES.get(image.dtype, (0.0, 1.0))
        sample = image.ravel()[:: sample_step(image.size)]
        lo, hi = np.percentile(sample, [self.low, self.high])
        lo, hi = float(lo), float(hi)
        if hi <= lo:  # a constant image: any window that contains it (1.0 wide, or wider for huge values)
            hi = lo + max(1.0, abs(lo) * 1e-6)
        return lo, hi

    @staticmethod
    def normalise(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
        """Raw values -> float32 in [-1, 1], clipped."""
        if _f32_safe(lo, hi):  # one new array, updated in place (large images: no temporaries)
            out = image.astype(np.float32, copy=True)
            out -= np.float32(lo)
            out *= np.float32(2.0 / (hi - lo))
            out -= np.float32(1.0)
        else:  # tiny or huge windows overflow float32 (and near 1e308, float64) arithmetic: scale first
            s = max(abs(lo), abs(hi), 1e-300)
            out = ((image.astype(np.float64) / s - lo / s) * (2.0 / (hi / s - lo / s)) - 1.0).astype(np.float32)
        return np.clip(out, -1.0, 1.0, out=out)

    @staticmethod
    def denormalise(y: np.ndarray, lo: float, hi: float) -> np.ndarray:
        """[-1, 1] -> raw float values in the window."""
        if _f32_safe(lo, hi):
            out = np.array(y, dtype=np.float32, copy=True)
            out += np.float32(1.0)
            out *= np.float32((hi - lo) / 2.0)
            out += np.float32(lo)
            return out
        s = max(abs(lo), abs(hi), 1e-300)
        with np.errstate(over="ignore"):  # a result beyond float64 saturates (cast_like clips it)
            return ((np.asarray(y, dtype=np.float64) + 1.0) * ((hi / s - lo / s) / 2.0) + lo / s) * s


def sample_step(n: int) -> int:
    """Stride of the sample `Intensity.window` takes of n values (C order): percentiles of a strided
    sample of at most 4M values are stable and bound the cost. Out-of-core readers use it too."""
    return n // 4_000_000 + 1 if n > 4_000_000 else 1


def _f32_safe(lo: float, hi: float) -> bool:
    """True when float32 holds the window, its width and its inverse without loss of range."""
    return 1e-30 < hi - lo < 1e30 and max(abs(lo), abs(hi)) < 1e30


def cast_like(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Round and clip to an integer dtype's range, or cast to a float dtype."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        v = np.rint(values)
        return np.clip(v, info.min, info.max, out=v).astype(dtype)
    if dtype == np.bool_:
        return values > 0.5
    info = np.finfo(dtype)  # the input's float range bounds the output (no overflow to inf)
    return np.clip(values, info.min, info.max).astype(dtype, copy=False)
