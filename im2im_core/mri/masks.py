"""Undersampling masks for centred k-space (DC at (H//2, W//2), matching ``fft2c``).

Every builder returns a boolean ``numpy`` array of shape ``(H, W)``, is deterministic
for a given ``seed`` and hits the requested sampling ratio *by construction*: it selects
exactly ``round(ratio * N)`` samples (N = H*W points for 2D masks, N = W lines for line
masks), so ``|mask.mean() - ratio| <= 0.5 / N``.  Line masks select columns (phase-encode
lines) and are constant along axis 0, the readout axis.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = [
    "MASK_KINDS",
    "LINE_KINDS",
    "gaussian1d",
    "gaussian2d",
    "poisson2d",
    "random_lines",
    "equispaced_lines",
    "make_mask",
]

MASK_KINDS = ("gaussian1d", "gaussian2d", "poisson2d", "random_lines", "equispaced_lines")
#: the kinds that sample whole lines (constant along axis 0): transposed, they sample the other axis
LINE_KINDS = ("gaussian1d", "random_lines", "equispaced_lines")
_CENTER_1D = 0.04  # fraction of lines always sampled around DC (gaussian1d)
_CENTER_2D = 0.05  # diameter of the always-sampled DC disc, as a fraction of H and W


# ----------------------------------------------------------------------------- checks
def _check_shape(shape) -> tuple[int, int]:
    """Validate (H, W) once so the builders can index freely."""
    try:
        h, w = shape
        ok = int(h) == h and int(w) == w and h >= 1 and w >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"shape must be a pair (H, W) of positive ints, got {shape!r}")
    return int(h), int(w)


def _resolve_ratio(ratio, acceleration) -> float:
    """Turn ratio-or-acceleration into one ratio in (0, 1], naming bad values in the error."""
    if ratio is None and acceleration is None:
        raise ValueError("give a sampling ratio in (0, 1] or an acceleration >= 1")
    if ratio is not None and acceleration is not None:
        raise ValueError(f"give ratio or acceleration, not both (got ratio={ratio!r}, acceleration={acceleration!r})")
    if acceleration is not None:
        acc = float(acceleration)
        if not (math.isfinite(acc) and acc >= 1):
            raise ValueError(f"acceleration must be a finite number >= 1 (ratio = 1/acceleration in (0, 1]), got {acceleration!r}")
        return 1.0 / acc
    r = float(ratio)
    if not 0.0 < r <= 1.0:
        raise ValueError(f"ratio must be in (0, 1], got {ratio!r}")
    return r


def _check_fraction(name: str, value: float) -> float:
    """Reject centre fractions outside [0, 1] early, with the offending value."""
    v = float(value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return v


def _check_positive(name: str, value: float) -> float:
    """Reject non-positive shape parameters (sigma, slope...) that would break the density."""
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


# ---------------------------------------------------------------------------- helpers
def _count(ratio: float, total: int) -> int:
    """Exact number of samples for a ratio: the nearest integer, at least one."""
    return max(1, min(total, int(round(ratio * total))))


def _weighted_pick(rng: np.random.Generator, logw: np.ndarray, k: int) -> np.ndarray:
    """Draw k distinct indices with probability proportional to exp(logw) (Gumbel top-k).

    Equivalent to successive sampling without replacement (Generator.choice with p),
    but one-shot and immune to weight underflow because it works in log space.
    """
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    keys = logw + rng.gumbel(size=logw.shape)
    return np.argpartition(-keys, k - 1)[:k]


def _center_block(n: int, length: int) -> np.ndarray:
    """Indices of `length` contiguous lines centred on the DC index n//2."""
    start = n // 2 - length // 2
    return np.arange(start, start + length)


def _norm_dist2(h: int, w: int) -> np.ndarray:
    """Squared distance to DC in normalised units (each axis spans [-0.5, 0.5)), flattened."""
    u = (np.arange(h) - h // 2) / h
    v = (np.arange(w) - w // 2) / w
    return (u[:, None] ** 2 + v[None, :] ** 2).ravel()


def _center_pixels(h: int, w: int, center_fraction: float, n: int) -> np.ndarray:
    """Flat indices of the always-sampled DC disc (diameter center_fraction * size, <= n points)."""
    count = int(round(math.pi / 4 * (center_fraction * h) * (center_fraction * w)))
    count = min(n, max(1, count))
    return np.argsort(_norm_dist2(h, w), kind="stable")[:count]


def _lines_mask(h: int, w: int, n: int, n_low: int, rng, pick) -> np.ndarray:
    """Shared line-mask skeleton: centre block + `pick(rng, outer_cols, k)` extra columns."""
    n_low = min(n, n_low)
    cols = np.zeros(w, dtype=bool)
    cols[_center_block(w, n_low)] = True
    outer = np.flatnonzero(~cols)
    cols[outer[pick(rng, outer, n - n_low)]] = True
    return np.broadcast_to(cols, (h, w)).copy()


def _default_center_fraction(acceleration: float) -> float:
    """fastMRI defaults: 0.08 at 4x, 0.04 at 8x (centre lines ~ 0.32 / acceleration)."""
    return min(1.0, 0.32 / acceleration)


# ------------------------------------------------------------------------ line masks
def gaussian1d(shape, ratio=None, seed=0, *, acceleration=None, sigma=0.25, center_fraction=_CENTER_1D):
    """1D variable-density Gaussian line mask (DAGAN): low-frequency lines carry most energy.

    Columns are drawn without replacement with density exp(-x^2 / 2 sigma^2), x the column
    offset from DC in units of W; ``round(center_fraction * W)`` centre lines are always kept.
    """
    h, w = _check_shape(shape)
    r = _resolve_ratio(ratio, acceleration)
    sigma = _check_positive("sigma", sigma)
    cf = _check_fraction("center_fraction", center_fraction)
    n_low = max(1, int(round(cf * w)))

    def pick(rng, outer, k):
        return _weighted_pick(rng, -(((outer - w // 2) / w) ** 2) / (2 * sigma**2), k)

    return _lines_mask(h, w, _count(r, w), n_low, np.random.default_rng(seed), pick)


def random_lines(shape, acceleration=None, center_fraction=None, seed=0, *, ratio=None):
    """fastMRI random line mask: fully sampled centre plus uniformly random outer lines.

    Unlike fastMRI's Bernoulli draw, exactly ``round(W / acceleration)`` lines are kept, so the
    ratio is exact; ``center_fraction`` defaults to 0.32 / acceleration (0.08 at 4x, 0.04 at 8x).
    """
    h, w = _check_shape(shape)
    r = _resolve_ratio(ratio, acceleration)
    cf = _default_center_fraction(1 / r) if center_fraction is None else _check_fraction("center_fraction", center_fraction)

    def pick(rng, outer, k):
        return rng.choice(outer.size, size=k, replace=False)

    return _lines_mask(h, w, _count(r, w), int(round(cf * w)), np.random.default_rng(seed), pick)


def equispaced_lines(shape, acceleration=None, center_fraction=None, seed=0, *, ratio=None):
    """fastMRI equispaced line mask: fully sampled centre plus evenly spaced outer lines.

    The outer lines are spread with a (possibly fractional) step over the non-centre columns
    starting at a seed-dependent random offset, so exactly ``round(W / acceleration)`` lines result.
    """
    h, w = _check_shape(shape)
    r = _resolve_ratio(ratio, acceleration)
    cf = _default_center_fraction(1 / r) if center_fraction is None else _check_fraction("center_fraction", center_fraction)

    def pick(rng, outer, k):
        if k <= 0:
            return np.zeros(0, dtype=np.int64)
        step = outer.size / k
        idx = np.floor(rng.uniform(0, step) + step * np.arange(k)).astype(np.int64)
        return np.minimum(idx, outer.size - 1)

    return _lines_mask(h, w, _count(r, w), int(round(cf * w)), np.random.default_rng(seed), pick)


# -------------------------------------------------------------------------- 2D masks
def gaussian2d(shape, ratio=None, seed=0, *, acceleration=None, sigma=0.25, center_fraction=_CENTER_2D):
    """2D variable-density Gaussian point mask (DAGAN): dense near DC, sparse at high frequency.

    Points are drawn without replacement with density exp(-d^2 / 2 sigma^2), d the normalised
    distance to DC; a small DC disc (diameter ``center_fraction`` * size) is always sampled.
    """
    h, w = _check_shape(shape)
    r = _resolve_ratio(ratio, acceleration)
    sigma = _check_positive("sigma", sigma)
    cf = _check_fraction("center_fraction", center_fraction)
    n = _count(r, h * w)
    rng = np.random.default_rng(seed)
    mask = np.zeros(h * w, dtype=bool)
    mask[_center_pixels(h, w, cf, n)] = True
    rest = np.flatnonzero(~mask)
    logw = -_norm_dist2(h, w)[rest] / (2 * sigma**2)
    mask[rest[_weighted_pick(rng, logw, n - mask.sum())]] = True
    return mask.reshape(h, w)


def _target_density(rho: np.ndarray, slope: float, n: int) -> np.ndarray:
    """Per-pixel sampling probability q = min(1, s / (1 + slope*rho)^2) scaled so sum(q) = n."""
    f = 1.0 / (1.0 + slope * rho) ** 2
    lo, hi = 0.0, n / f.min() + 1.0
    for _ in range(60):  # bisection on the scale; sum(min(1, s f)) is monotone in s
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if np.minimum(1.0, mid * f).sum() < n else (lo, mid)
    return np.minimum(1.0, hi * f)


def _disc(radius: float) -> np.ndarray:
    """Boolean footprint of points strictly closer than `radius` to the middle cell."""
    half = max(0, math.ceil(radius) - 1)
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    return yy**2 + xx**2 < radius**2


def _dart_throw(rng, radius: np.ndarray, blocked: np.ndarray) -> np.ndarray:
    """Variable-radius Poisson-disc dart throwing over every pixel in random order (saturating).

    A visited pixel is accepted unless it lies within the exclusion radius of an earlier
    accepted point; each accepted point then blocks the disc of its own local radius.
    """
    h, w = radius.shape
    rq = np.round(radius.ravel() * 4).astype(np.int64)  # radius quantised to 1/4 pixel
    discs = {k: _disc(k / 4) for k in np.unique(rq).tolist()}
    blocked = blocked.reshape(h, w).copy()
    flat = blocked.ravel()  # view: checks see the discs stamped into `blocked`
    accepted = []
    for f in rng.permutation(h * w).tolist():
        if flat[f]:
            continue
        accepted.append(f)
        disc = discs[rq[f]]
        half = disc.shape[0] // 2
        y, x = divmod(f, w)
        y0, y1, x0, x1 = max(y - half, 0), min(y + half + 1, h), max(x - half, 0), min(x + half + 1, w)
        blocked[y0:y1, x0:x1] |= disc[y0 - y + half : y1 - y + half, x0 - x + half : x1 - x + half]
    return np.asarray(accepted, dtype=np.int64)


def poisson2d(shape, ratio=None, seed=0, *, acceleration=None, slope=4.0, center_fraction=_CENTER_2D, alpha=0.76):
    """2D variable-density Poisson-disc mask: blue-noise spread (no clumps) with VD weighting.

    Target density q ~ 1 / (1 + slope*rho)^2 (rho = 2 * normalised distance to DC, 1 at the
    edges) sets a local exclusion radius alpha / sqrt(q); saturating dart throwing then places
    samples, and the count is made exact by dropping random surplus points (keeps the spacing)
    or adding density-weighted ones.  A small DC disc is always fully sampled.
    """
    h, w = _check_shape(shape)
    r = _resolve_ratio(ratio, acceleration)
    slope = _check_positive("slope", slope)
    alpha = _check_positive("alpha", alpha)
    cf = _check_fraction("center_fraction", center_fraction)
    n = _count(r, h * w)
    rng = np.random.default_rng(seed)
    mask = np.zeros(h * w, dtype=bool)
    mask[_center_pixels(h, w, cf, n)] = True
    n_center = int(mask.sum())
    q = _target_density(2.0 * np.sqrt(_norm_dist2(h, w)), slope, n)
    radius = np.minimum(alpha / np.sqrt(q), max(h, w) / 2)
    darts = _dart_throw(rng, radius.reshape(h, w), mask)
    need = n - n_center
    if darts.size >= need:  # drop surplus uniformly: density shape and minimum spacing survive
        mask[rng.permutation(darts)[:need]] = True
    else:  # top up with density-weighted points among the unsampled pixels
        mask[darts] = True
        rest = np.flatnonzero(~mask)
        mask[rest[_weighted_pick(rng, np.log(q[rest]), need - darts.size)]] = True
    return mask.reshape(h, w)


# ------------------------------------------------------------------------ dispatcher
def make_mask(kind, shape, ratio=None, acceleration=None, seed=0, center_fraction=None):
    """Build any mask by name so configs/CLIs can pick the sampling pattern with a string."""
    if kind not in MASK_KINDS:
        raise ValueError(f"unknown mask kind {kind!r}; allowed: {', '.join(MASK_KINDS)}")
    r = _resolve_ratio(ratio, acceleration)
    extra = {} if center_fraction is None else {"center_fraction": center_fraction}
    if kind in ("random_lines", "equispaced_lines"):
        builder = random_lines if kind == "random_lines" else equispaced_lines
        return builder(shape, seed=seed, ratio=r, **extra)
    builder = {"gaussian1d": gaussian1d, "gaussian2d": gaussian2d, "poisson2d": poisson2d}[kind]
    return builder(shape, ratio=r, seed=seed, **extra)
