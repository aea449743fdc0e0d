"""Held-out data and training-free baselines for the native 1 mm T1w <-> T2w benchmark.

Evaluation data: the whole MNI152 volume of each contrast is translated as an axial stack (as a
user translates the napari sample), and the held-out axial slices of `mni.NATIVE_SLABS` are
scored as whole 1 mm slices against the synthetic ground truth. The training pool of each
baseline is the training sub-volumes (`mni.training_subvolumes`), never a held-out slice.

Baselines (each a function stack, direction -> stack, on the [0, 1] scale):
- identity;
- histogram matching of each slice to all training voxels of the target contrast;
- brain histogram matching: inside the brain support only (input > 0), optionally inverted first;
  whether to invert is chosen per direction on the validation slices (unpaired at training time);
- global quantile mapping: the same, but the source quantiles come from all training voxels of the
  source contrast instead of the slice (what `nets/prior.py` starts an unpaired model from);
- the lookup-table oracle: per-intensity-bin mean of the paired target over the training voxels
  (it sees pairs, so it bounds what a pointwise mapping can reach; not a fair competitor).
"""
from __future__ import annotations

import functools

import numpy as np

CONTRASTS = ("T1w", "T2w", "PD")
LUT_BINS = 256


@functools.lru_cache(maxsize=2)
def native_data(t1_source: str = "template") -> dict:
    """Volumes, the split, held-out slice stacks (display orientation) and brain masks."""
    from im2im_core.data import mni

    tis = mni.load_mni_tissues()
    split = mni.native_split(tis["brain"], axis=2)
    vols = {c: mni.contrast_volume(tis, c, t1_source) for c in CONTRASTS}
    vols["T1w-synthetic"] = mni.synthesize_contrast(tis, "T1w")
    out = {"volumes": vols, "split": split, "spacing": tis["voxel_size"][:2],
           "stack": {c: mni.native_slices(v, np.arange(v.shape[2])) for c, v in vols.items()},
           "brain_stack": mni.native_slices(tis["brain"].astype(np.float32), np.arange(tis["brain"].shape[2])) > 0.5,
           "train": {c: np.concatenate([s.ravel() for s in mni.training_subvolumes(v, split)]) for c, v in vols.items()}}
    return out


def held_out(data: dict, which: str = "test") -> np.ndarray:
    """Rows of the whole axial stack that belong to the held-out `which` slab (in stack order)."""
    return np.asarray(data["split"][which])


QUANTILES = np.linspace(0, 1, 1001)


def histogram_match(x: np.ndarray, dst: np.ndarray, src: np.ndarray | None = None) -> np.ndarray:
    """Quantile mapping of the 1D array x onto target quantiles `dst` (at `QUANTILES`), from x's
    own quantiles or from given source quantiles `src`."""
    src = np.quantile(x, QUANTILES) if src is None else src
    src, idx = np.unique(src, return_index=True)
    return np.interp(x, src, dst[idx]) if len(src) > 1 else np.full_like(x, dst[500])


@functools.lru_cache(maxsize=16)
def _pool_quantiles(t1_source: str, contrast: str, brain_only: bool) -> np.ndarray:
    pool = native_data(t1_source)["train"][contrast]
    return np.quantile(pool[pool > 0] if brain_only else pool, QUANTILES)


def plain_hist(data: dict, t1_source: str = "template"):
    """Each slice matched to every training voxel of the target contrast (background included)."""
    def fn(stack, direction):
        dst = _pool_quantiles(t1_source, direction.split("->")[1], False)
        return np.stack([histogram_match(s.ravel(), dst).reshape(s.shape) for s in stack])
    return fn


def brain_hist(data: dict, invert: dict, t1_source: str = "template"):
    """Brain support only, inverted first where `invert[direction]`; background stays 0."""
    def fn(stack, direction):
        pool = _pool_quantiles(t1_source, direction.split("->")[1], True)
        out = np.zeros_like(stack)
        for i, s in enumerate(stack):
            m = s > 0
            if m.sum() < 2:
                continue
            v = s[m]
            out[i][m] = histogram_match(v.max() - v if invert.get(direction) else v, pool)
        return out
    return fn


def global_quantile(data: dict, invert: dict, t1_source: str = "template"):
    """Brain voxels mapped from the source's training quantiles onto the target's (inverted first
    where `invert[direction]`); background stays 0. Unpaired: two marginal histograms."""
    def fn(stack, direction):
        src, dst = direction.split("->")
        q_src, q_dst = (_pool_quantiles(t1_source, c, True) for c in (src, dst))
        if invert.get(direction):
            q_src = -q_src[::-1]
        out = np.zeros_like(stack)
        m = stack > 0
        out[m] = histogram_match(-stack[m] if invert.get(direction) else stack[m], q_dst, src=q_src)
        return out
    return fn


def lut_oracle(data: dict):
    """Per-bin mean of the paired training target: the best pointwise mapping, fitted on pairs."""
    tables = {}

    def table(src: str, dst: str):
        if (src, dst) not in tables:
            x, y = data["train"][src], data["train"][dst]
            b = np.clip((x * (LUT_BINS - 1)).round().astype(int), 0, LUT_BINS - 1)
            s, n = np.bincount(b, y, LUT_BINS), np.bincount(b, minlength=LUT_BINS)
            filled = n > 0
            tables[src, dst] = np.interp(np.arange(LUT_BINS), np.flatnonzero(filled), s[filled] / n[filled])
        return tables[src, dst]

    def fn(stack, direction):
        src, dst = direction.split("->")
        b = np.clip((np.clip(stack, 0, 1) * (LUT_BINS - 1)).round().astype(int), 0, LUT_BINS - 1)
        return table(src, dst)[b]
    return fn
