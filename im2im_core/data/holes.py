"""Hole masks for inpainting: DeepFill v2 free-form brush strokes, boxes, and area-controlled mixes.

All builders return a boolean numpy array of shape (H, W) with True = hole, and draw every
random number from the `rng` they are given (a numpy Generator or an int seed), so a mask is
reproducible from its seed. Stroke widths follow DeepFill v2's ``brush_stroke_mask`` (Yu et al.,
ICCV 2019: 1-4 strokes of 4-12 vertices, widths 12-40 px, turning angles around 2*pi/5, vertex
spacing ~ image diagonal / 8), specified at 256 px and scaled with min(H, W) / 256.

`random_hole_mask` hits a requested hole-area ratio range (e.g. the 10-20 % and 20-40 % bands
used in inpainting benchmarks) by construction: strokes are added while they do not overshoot
the upper bound, and a final exact top-up grows the holes by boundary pixels if needed.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

HOLE_KINDS = ("free_form", "box", "mixed")


def _rng(rng) -> np.random.Generator:
    """Accept a Generator or a seed, so callers can pass either."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _shape(shape) -> tuple[int, int]:
    """Validate (H, W) once, with the bad value in the message."""
    try:
        h, w = (int(s) for s in shape)
        ok = h >= 1 and w >= 1 and len(tuple(shape)) == 2
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"shape must be a pair (H, W) of positive ints, got {shape!r}")
    return h, w


def _draw_capsule(mask: np.ndarray, p0, p1, radius: float) -> None:
    """Set every pixel within `radius` of segment p0-p1 ((x, y) points): a round-capped brush line."""
    h, w = mask.shape
    r = max(0.5, radius)
    x0, x1 = int(max(0, math.floor(min(p0[0], p1[0]) - r))), int(min(w, math.ceil(max(p0[0], p1[0]) + r) + 1))
    y0, y1 = int(max(0, math.floor(min(p0[1], p1[1]) - r))), int(min(h, math.ceil(max(p0[1], p1[1]) + r) + 1))
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    t = ((xx - p0[0]) * dx + (yy - p0[1]) * dy) / max(dx * dx + dy * dy, 1e-12)
    t = np.clip(t, 0.0, 1.0)
    d2 = (xx - p0[0] - t * dx) ** 2 + (yy - p0[1] - t * dy) ** 2
    mask[y0:y1, x0:x1] |= d2 <= r * r


def free_form_mask(shape, rng=None, *, n_strokes=(1, 4), n_vertices=(4, 12), width=(12.0, 40.0),
                   mean_angle=2 * math.pi / 5, angle_range=2 * math.pi / 15, size_scale=1.0) -> np.ndarray:
    """DeepFill v2 random brush strokes (True = hole); widths in px at 256 px, times `size_scale`."""
    h, w = _shape(shape)
    rng = _rng(rng)
    s = min(h, w) / 256.0 * float(size_scale)
    avg_radius = math.hypot(h, w) / 8.0 * float(size_scale)
    mask = np.zeros((h, w), dtype=bool)
    for _ in range(int(rng.integers(n_strokes[0], n_strokes[1] + 1))):
        nv = int(rng.integers(n_vertices[0], n_vertices[1] + 1))
        brush = rng.uniform(width[0], width[1]) * s
        a_min = mean_angle - rng.uniform(0, angle_range)
        a_max = mean_angle + rng.uniform(0, angle_range)
        pt = (float(rng.integers(0, w)), float(rng.integers(0, h)))
        for i in range(nv):
            angle = rng.uniform(a_min, a_max)
            angle = 2 * math.pi - angle if i % 2 == 0 else angle
            r = float(np.clip(rng.normal(avg_radius, avg_radius / 2), 0, 2 * avg_radius))
            nxt = (float(np.clip(pt[0] + r * math.cos(angle), 0, w - 1)),
                   float(np.clip(pt[1] + r * math.sin(angle), 0, h - 1)))
            _draw_capsule(mask, pt, nxt, brush / 2)
            pt = nxt
    if rng.random() < 0.5:
        mask = mask[:, ::-1]
    if rng.random() < 0.5:
        mask = mask[::-1, :]
    return np.ascontiguousarray(mask)


def box_mask(shape, rng=None, *, size_range=(0.1, 0.5)) -> np.ndarray:
    """One random axis-aligned rectangle (True = hole); sides are size_range fractions of H and W."""
    h, w = _shape(shape)
    rng = _rng(rng)
    lo, hi = size_range
    if not 0 < lo <= hi <= 1:
        raise ValueError(f"size_range must satisfy 0 < low <= high <= 1, got {size_range!r}")
    bh = max(1, min(h, int(round(rng.uniform(lo, hi) * h))))
    bw = max(1, min(w, int(round(rng.uniform(lo, hi) * w))))
    y0, x0 = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    mask = np.zeros((h, w), dtype=bool)
    mask[y0:y0 + bh, x0:x0 + bw] = True
    return mask


def _box_with_area(h: int, w: int, rng, lo_count: int, hi_count: int) -> np.ndarray:
    """A single rectangle whose pixel count lies in [lo_count, hi_count] (random aspect and place)."""
    target = rng.uniform(lo_count, hi_count)
    aspect = math.exp(rng.uniform(-math.log(2), math.log(2)))
    bh = int(min(h, max(1, round(math.sqrt(target * aspect)))))
    bw = int(min(w, max(1, round(target / bh))))
    if bh * bw < lo_count:  # clipped by the image side: widen the other side
        bw = min(w, -(-lo_count // bh))
        bh = min(h, max(bh, -(-lo_count // bw)))
    while bh * bw > hi_count and bw > 1:
        bw -= 1
    y0, x0 = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    mask = np.zeros((h, w), dtype=bool)
    mask[y0:y0 + bh, x0:x0 + bw] = True
    return mask


def _top_up(mask: np.ndarray, rng, count: int) -> np.ndarray:
    """Grow the holes by boundary pixels (random among each ring) until exactly `count` are holes."""
    mask = mask.copy()
    if not mask.any():
        mask.flat[int(rng.integers(mask.size))] = True
    while mask.sum() < count:
        ring = ndi.binary_dilation(mask) & ~mask
        need = count - int(mask.sum())
        idx = np.flatnonzero(ring)
        mask.flat[idx if idx.size <= need else rng.choice(idx, size=need, replace=False)] = True
    return mask


def random_hole_mask(shape, rng=None, ratio_range=(0.1, 0.2), kind="free_form", max_pieces=200) -> np.ndarray:
    """A hole mask (True = hole) whose area fraction lies in ratio_range, for training and benchmarks."""
    h, w = _shape(shape)
    rng = _rng(rng)
    if kind not in HOLE_KINDS:
        raise ValueError(f"hole kind {kind!r} unknown; use one of {HOLE_KINDS}")
    a, b = (float(v) for v in ratio_range)
    n = h * w
    lo_count, hi_count = math.ceil(a * n), math.floor(b * n)
    if not (0 <= a <= b <= 1) or lo_count > hi_count:
        raise ValueError(f"ratio_range must satisfy 0 <= low <= high <= 1 and contain a whole pixel count "
                         f"for a {h}x{w} image, got {ratio_range!r}")
    if kind == "box":
        return _box_with_area(h, w, rng, lo_count, hi_count)
    stop = max(lo_count, min(hi_count, math.ceil(rng.uniform(a, b) * n)))  # spread ratios over the range
    mask = np.zeros((h, w), dtype=bool)
    scale = 1.0
    for _ in range(max_pieces):
        if mask.sum() >= stop:
            return mask
        if kind == "mixed" and rng.random() < 0.3:
            piece = box_mask((h, w), rng, size_range=(0.05 * scale, max(0.05, 0.4 * scale)))
        else:
            piece = free_form_mask((h, w), rng, n_strokes=(1, 1), size_scale=scale)
        cand = mask | piece
        if cand.sum() <= hi_count:
            mask = cand
        else:  # this piece overshoots: later pieces are drawn smaller
            scale = max(0.1, scale * 0.8)
    return mask if mask.sum() >= lo_count else _top_up(mask, rng, lo_count)


__all__ = ["HOLE_KINDS", "free_form_mask", "box_mask", "random_hole_mask"]
