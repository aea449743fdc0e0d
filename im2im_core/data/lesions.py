"""Synthetic white-matter lesions on the real MNI152 T1 template: data for the lesion-removal
benchmark, where a translation must remove content and the exact lesion-free slice is known.

Slices are axial, at 2 mm (the 1 mm template block-averaged), in display orientation, scaled to
[0, 1] as the napari sample is. Domain A holds slices with 1-3 lesions, domain B lesion-free
slices from a disjoint set of slices; the held-out slabs of `mni.native_split` give validation
and test slices with lesions, their lesion-free truth and the lesion masks.
"""
from __future__ import annotations

import functools

import numpy as np

from . import mni

SPACING = 2.0  # mm per pixel of the benchmark's slices
WM_CORE = 0.9  # lesion centres lie where the white-matter fraction exceeds this


@functools.lru_cache(maxsize=1)
def volumes_2mm() -> dict:
    """{"t1", "wm", "brain"}: the template T1 ([0, 1] like the napari sample), the white-matter
    fraction and the brain mask, each block-averaged to 2 mm (read-only)."""
    from skimage.transform import downscale_local_mean

    tis = mni.load_mni_tissues()
    out = {"t1": downscale_local_mean(mni.template_t1(tis), (2, 2, 2)).astype(np.float32),
           "wm": downscale_local_mean(np.asarray(tis["wm"], np.float32), (2, 2, 2)).astype(np.float32),
           "brain": downscale_local_mean(np.asarray(tis["brain"], np.float32), (2, 2, 2)) > 0.5}
    for v in out.values():
        v.setflags(write=False)
    return out


def add_lesions(image: np.ndarray, wm: np.ndarray, rng: np.random.Generator, count=(1, 3),
                radius=(2.0, 5.0), contrast=(0.2, 0.5)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paint `count` (inclusive range) elliptical lesions with soft 1 px edges, centred in white
    matter, each bright or dark with its own radius (px) and contrast (added to [0, 1] intensities).

    Returns (lesioned image, boolean union mask, per-pixel signed lesion contrast before clipping).
    A slice without white-matter core gets no lesion (an all-False mask)."""
    h, w = image.shape
    centres = np.argwhere(wm > WM_CORE)
    delta = np.zeros((h, w), np.float32)
    mask = np.zeros((h, w), bool)
    if len(centres):
        yy, xx = np.mgrid[:h, :w].astype(np.float32)
        for _ in range(int(rng.integers(count[0], count[1] + 1))):
            cy, cx = centres[rng.integers(len(centres))]
            r = rng.uniform(*radius)
            a, b = r * rng.uniform(0.7, 1.3), r * rng.uniform(0.7, 1.3)
            t = rng.uniform(0, np.pi)
            dy, dx = yy - cy, xx - cx
            u, v = dx * np.cos(t) + dy * np.sin(t), -dx * np.sin(t) + dy * np.cos(t)
            d = np.sqrt((u / a) ** 2 + (v / b) ** 2) * r  # elliptical distance in px of the mean radius
            profile = np.clip(r - d + 0.5, 0, 1)
            sign = 1.0 if rng.random() < 0.5 else -1.0
            delta += np.float32(sign * rng.uniform(*contrast)) * profile
            mask |= profile > 0
    out = np.clip(image + delta, 0, 1).astype(np.float32)
    return out, mask, delta


def _stack(volume: np.ndarray, index) -> np.ndarray:
    return mni.native_slices(volume, np.asarray(index), axis=2)


def lesion_data(seed: int = 0, variants: int = 4) -> dict:
    """Train/val/test arrays of the benchmark (deterministic for a seed).

    "A": (N, H, W) training slices with lesions (`variants` lesion draws per slice of every other
    training slice), "B": the remaining training slices, lesion-free; "index": the axial slice numbers
    of "A", "B", "val" and "test". For "val" and "test": a dict of
    "image" (with lesions), "truth" (the same slices without), "mask" and "delta" (signed lesion
    contrast), "brain"."""
    vols = volumes_2mm()
    split = mni.native_split(vols["brain"], axis=2, gap=2)
    train = np.concatenate([np.arange(a, b) for a, b in split["train"]])
    t1, wm, brain = (_stack(vols[k], train) for k in ("t1", "wm", "brain"))
    keep = brain.reshape(len(train), -1).mean(1) > 0.1
    t1, wm = t1[keep], wm[keep]
    rng = np.random.default_rng(seed)
    a_idx, b_idx = np.arange(0, len(t1), 2), np.arange(1, len(t1), 2)
    A = np.stack([add_lesions(t1[i], wm[i], rng)[0] for i in a_idx for _ in range(variants)])
    kept = train[keep]
    out = {"A": A, "B": t1[b_idx].copy(), "spacing": (SPACING, SPACING),
           "index": {"A": kept[a_idx], "B": kept[b_idx], "val": split["val"], "test": split["test"]}}
    for name in ("val", "test"):
        x, wmx, br = (_stack(vols[k], split[name]) for k in ("t1", "wm", "brain"))
        drawn = [add_lesions(x[i], wmx[i], rng) for i in range(len(x))]
        out[name] = {"image": np.stack([d[0] for d in drawn]), "truth": x, "mask": np.stack([d[1] for d in drawn]),
                     "delta": np.stack([d[2] for d in drawn]), "brain": br > 0.5}
    return out


__all__ = ["SPACING", "add_lesions", "lesion_data", "volumes_2mm"]
