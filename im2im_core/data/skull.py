"""Skull removal on a real head: Colin27 with skull and scalp (A) against brain-only slices (B).

The volume ships in the package (`colin27/`): ch2 (a real T1 head, 1 mm) and its brain mask, with
ch2bet = ch2 * mask exactly, so every held-out slice has an exact, real target. No pointwise map can
do this translation: scalp fat is as bright as white matter.

Splits along the axial axis of the brain's extent (`mni.native_split`, guard slices around each
block): test 45-60%, validation 65-75%. Training slices come from the rest, cut into blocks of
`BLOCK` axial slices that alternate between domain A (ch2, with skull) and domain B (ch2bet), so
the training is unpaired; B also holds the MNI152 brain (another subject), its intensities matched
to Colin27's brain. Slices are in display orientation (anterior up) on Colin27's [0, 1] scale:
ch2 / its 99.9th percentile of nonzero voxels.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from . import mni

HERE = Path(__file__).resolve().parent / "colin27"
SLABS = {"val": (0.65, 0.75), "test": (0.45, 0.60)}
GAP = 4  # guard slices around each held-out block
BLOCK = 8  # axial slices per alternating A/B training block
FOREGROUND = 0.1  # an output pixel is brain when above this fraction of its slice's maximum (Dice)


@functools.lru_cache(maxsize=1)
def colin27_head() -> dict:
    """{"head", "brain"}: ch2 on [0, 1] (float32) and the boolean brain mask, (181, 217, 181) RAS, 1 mm,
    plus "affine". Read-only arrays."""
    import nibabel as nib

    img = nib.load(HERE / "ch2.nii.gz")
    head = np.asarray(img.dataobj, np.float32)
    brain = np.asarray(nib.load(HERE / "ch2_brain_mask.nii.gz").dataobj) > 0
    head = np.clip(head / np.percentile(head[head > 0], 99.9), 0, 1).astype(np.float32)
    for a in (head, brain):
        a.setflags(write=False)
    return {"head": head, "brain": brain, "affine": img.affine}


def split(brain=None) -> dict:
    """Axial slice indices "val", "test" and the training ranges around them (see module doc)."""
    brain = colin27_head()["brain"] if brain is None else brain
    return mni.native_split(brain, axis=2, slabs=SLABS, gap=GAP)


def _mni_brain() -> np.ndarray:
    tis = mni.load_mni_tissues()
    return mni.template_t1(tis) * np.asarray(tis["brain"], np.float32)


def skull_data() -> dict:
    """Training and held-out arrays of the benchmark (deterministic).

    "A": (N, H, W) ch2 slices with skull; "B": a list of brain-only stacks (ch2bet from other blocks,
    the MNI152 brain); "pairs": (ch2, ch2bet) stacks of the A slices, for the paired upper bound only.
    "val", "test": {"image" (ch2), "truth" (ch2bet), "brain" (mask)}; "index": slice numbers."""
    vol = colin27_head()
    head, brain = vol["head"], vol["brain"]
    sp = split(brain)
    train = np.concatenate([np.arange(a, b) for a, b in sp["train"]])
    block = (np.arange(len(train)) // BLOCK) % 2
    ia, ib = train[block == 0], train[block == 1]
    truth = head * brain
    mni_brain = _mni_brain()
    ref = np.percentile(truth[brain], 99)
    mni_brain = np.clip(mni_brain * (ref / np.percentile(mni_brain[mni_brain > 0], 99)), 0, 1).astype(np.float32)
    keep = lambda s: s[(s > 0.05).mean(axis=(1, 2)) > 0.05]  # noqa: E731
    mni_stack = keep(mni.native_slices(mni_brain, np.arange(mni_brain.shape[2]), axis=2))
    sl = lambda v, i: mni.native_slices(v, i, axis=2)  # noqa: E731
    a_slices = sl(head, ia)
    out = {"A": a_slices, "B": [sl(truth, ib), mni_stack], "pairs": (a_slices, sl(truth, ia)),
           "index": {"A": ia, "B": ib, "val": sp["val"], "test": sp["test"]}}
    for name in ("val", "test"):
        idx = sp[name]
        out[name] = {"image": sl(head, idx), "truth": sl(truth, idx), "brain": sl(brain.astype(np.float32), idx) > 0.5}
    return out


def foreground(y: np.ndarray) -> np.ndarray:
    """Brain foreground of output slices (N, H, W): above FOREGROUND x each slice's maximum."""
    return y > FOREGROUND * y.max(axis=(-2, -1), keepdims=True)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))


def _warp(images: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """One random rotation (up to 15 degrees) and zoom (0.9-1.1) about the centre, applied to each image."""
    from skimage.transform import AffineTransform, warp

    h, w = images[0].shape
    c = np.array([w / 2, h / 2])
    tf = (AffineTransform(translation=-c) + AffineTransform(scale=rng.uniform(0.9, 1.1),
                                                            rotation=np.deg2rad(rng.uniform(-15, 15)))
          + AffineTransform(translation=c))
    return [warp(im, tf.inverse, order=1, preserve_range=True).astype(np.float32) for im in images]


def augmented(A, B, paired: bool, copies: int = 3, seed: int = 0):
    """A (N, H, W) and B (a stack or a list of stacks) with `copies` rotated and zoomed versions of
    every slice added; a pair (A[i], B[0][i]) gets one draw."""
    rng = np.random.default_rng(seed)
    B = list(B) if isinstance(B, list) else [B]
    if paired:
        warped = [_warp([a, b], rng) for _ in range(copies) for a, b in zip(A, B[0])]
        return (np.concatenate([A, np.stack([w[0] for w in warped])]),
                [np.concatenate([B[0], np.stack([w[1] for w in warped])])])
    more = lambda s: np.stack([_warp([x], rng)[0] for _ in range(copies) for x in s])  # noqa: E731
    return np.concatenate([A, more(A)]), [np.concatenate([b, more(b)]) for b in B]
