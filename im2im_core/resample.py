"""Resampling between the pixel size of a user's image and the one a model was trained at.

Why: a translation model learns structures at one pixel size; a 0.5 mm or 3 mm image shows the
same anatomy at other sizes in pixels and is out of distribution. The Translator brings each
slice to the model's spacing, runs the model there and brings the result back to the input grid.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .errors import InputError

TOLERANCE = 0.01  # relative spacing difference below which no resampling is done
MAX_FACTOR = 16.0  # larger spacing ratios are almost surely a unit mix-up (mm vs um)
MAX_PIXELS = 1 << 26  # one resampled slice at most (64 Mpixel), so a bad spacing cannot exhaust memory


def in_plane(spacing, ndim_spatial: int) -> tuple[float, float] | None:
    """The (Y, X) pixel size from a scalar, a (Y, X) pair or a longer tuple ending in Y, X."""
    if spacing is None:
        return None
    try:
        vals = [spacing] * 2 if isinstance(spacing, (int, float)) else list(spacing)
        vals = [float(v) for v in vals]
    except (TypeError, ValueError):
        raise InputError(f"spacing must be a number or a tuple of numbers, got {spacing!r}") from None
    if len(vals) < 2 or len(vals) > max(2, ndim_spatial):
        raise InputError(f"spacing {tuple(vals)} does not match an image with {ndim_spatial} spatial/stack axes; "
                         "give (Y, X) or one value per axis")
    y, x = vals[-2:]
    if not all(math.isfinite(v) and v > 0 for v in (y, x)):
        raise InputError(f"spacing must be positive and finite, got {tuple(vals)}")
    return y, x


def target_shape(shape: tuple[int, int], spacing, model_spacing) -> tuple[int, int] | None:
    """(H, W) on the model's grid, or None when the spacings already agree."""
    if spacing is None or model_spacing is None:
        return None
    ratios = [s / m for s, m in zip(spacing, model_spacing)]
    if all(abs(r - 1.0) <= TOLERANCE for r in ratios):
        return None
    if any(r > MAX_FACTOR or r < 1.0 / MAX_FACTOR for r in ratios):
        raise InputError(f"spacing {tuple(spacing)} differs from the model's {tuple(model_spacing)} by more than "
                         f"{MAX_FACTOR:g}x; check the units (the model's are mm), or pass resample=False")
    out = tuple(max(1, int(round(n * r))) for n, r in zip(shape, ratios))
    if out[0] * out[1] > MAX_PIXELS:
        raise InputError(f"at the model's pixel size a {shape[0]}x{shape[1]} slice becomes {out[0]}x{out[1]} pixels, "
                         f"more than {MAX_PIXELS} per slice; pass resample=False or a smaller image")
    return out


def resize(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Antialiased bilinear resize of an (N, C, H, W) float tensor."""
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    return F.interpolate(x.float(), size=tuple(shape), mode="bilinear", align_corners=False, antialias=True)
