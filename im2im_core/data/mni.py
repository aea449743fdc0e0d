"""Real MNI152 anatomy with a known, voxel-exact paired ground truth across MRI contrasts.

Why: image-to-image translation (e.g. T1w -> T2w) needs test pairs whose ground truth is
known exactly.  Real paired scans are never perfectly registered; here every contrast is
*computed* from the same tissue maps, so a T1w slice and its T2w partner are aligned by
construction, while the anatomy itself is real (the ICBM152 2009a nonlinear symmetric
template and its GM/WM probability maps, as shipped inside the nilearn wheel -- no download).

Tissue model
------------
``csf = clip(brain - gm - wm, 0, 1)`` inside the brain mask (nilearn's ``template > 0.2``
mask, holes filled); GM/WM are zeroed outside that mask, so gm + wm + csf == 1 inside the
brain and 0 outside.  Signal per voxel is the partial-volume mix
``S = sum_t p_t * PD_t * (1 - exp(-TR/T1_t)) * exp(-TE/T2_t)`` (spin-echo equation).

Relaxation parameters -- BrainWeb simulator values at **1.5 T**
(Kwan, Evans & Pike 1999, IEEE TMI 18(11):1085-1097; Cocosco et al. 1997, NeuroImage 5:S425;
file ``brainweb/tissue_mr_parameters.txt``):

    ======  =======  =======  =====
    tissue  T1 [ms]  T2 [ms]  PD
    ======  =======  =======  =====
    CSF     2569     329      1.00
    GM       833      83      0.86
    WM       500      70      0.77
    ======  =======  =======  =====

Default sequences (TR/TE in ms): T1w 500/15, T2w 4000/100, PD 4000/15.  With these,
T1w: WM > GM > CSF; T2w: CSF > GM > WM; PD: CSF >~ GM > WM (as in real 1.5 T images).

Choices
-------
* Skull-stripped by default for every contrast (non-brain voxels are 0): the ground truth
  is then clean and identical in support across contrasts.  Note the nilearn T1 template
  is itself already skull-stripped, so ``skull_stripped=False`` (T1w only) merely blends in
  the thin rim of template signal just outside the mask.
* Each synthetic volume is divided by its 99.5th percentile inside the brain and clipped to
  [0, 1], so contrasts share a scale without a few bright voxels dominating.
* 2D slices are shown in display orientation (superior / anterior at the top), cropped in
  plane to the 3D brain bounding box (same box for every slice, so the scale is constant),
  padded to a square and resized with ``skimage.transform.resize(anti_aliasing=True)``.
* Splits: whole contiguous slabs go to test (plus a guard gap of slices on both sides, as
  neighbouring 1 mm slices are nearly identical), the remaining slices alternate in blocks
  between unpaired domain A and domain B (disjoint), and only slices with more than 5 %
  brain voxels are used.  The template is exactly left-right symmetric, so for sagittal
  slices (axis 0) a slice and its mirror image always land in the same set.  Everything
  is deterministic (no randomness at all).
"""
from __future__ import annotations

import functools

import numpy as np

# tissue: (T1 ms, T2 ms, relative PD) -- BrainWeb 1.5 T, see module docstring.
TISSUE_PARAMS = {
    "csf": (2569.0, 329.0, 1.00),
    "gm": (833.0, 83.0, 0.86),
    "wm": (500.0, 70.0, 0.77),
}
# contrast: (TR ms, TE ms) spin-echo defaults.
SEQUENCE_DEFAULTS = {
    "T1w": (500.0, 15.0),
    "T2w": (4000.0, 100.0),
    "PD": (4000.0, 15.0),
}
NORM_PERCENTILE = 99.5


@functools.lru_cache(maxsize=1)
def _load_cached():
    """Load and derive the tissue volumes once per process (nilearn I/O takes ~0.5 s)."""
    from nilearn import datasets
    from scipy import ndimage as ndi

    t1_img = datasets.load_mni152_template(resolution=1)
    t1 = np.array(t1_img.dataobj, dtype=np.float32)  # copy: never freeze nilearn's own cache
    brain = ndi.binary_fill_holes(
        np.asarray(datasets.load_mni152_brain_mask(resolution=1).dataobj) > 0)
    gm = np.clip(np.asarray(datasets.load_mni152_gm_template(resolution=1).dataobj,
                            dtype=np.float32), 0, 1) * brain
    wm = np.clip(np.asarray(datasets.load_mni152_wm_template(resolution=1).dataobj,
                            dtype=np.float32), 0, 1) * brain
    over = np.maximum(gm + wm, 1.0)  # keep gm + wm <= 1 so CSF stays a valid fraction
    gm, wm = gm / over, wm / over
    csf = np.clip(brain.astype(np.float32) - gm - wm, 0, 1) * brain
    out = {"t1_template": t1, "gm": gm.astype(np.float32), "wm": wm.astype(np.float32),
           "csf": csf.astype(np.float32), "brain": brain}
    for arr in out.values():
        arr.setflags(write=False)  # shared cache: protect against in-place edits
    out["affine"] = np.asarray(t1_img.affine, dtype=np.float64)
    out["voxel_size"] = tuple(float(z) for z in t1_img.header.get_zooms()[:3])
    return out


def load_mni_tissues():
    """Return the MNI152 1 mm T1 template, GM/WM/CSF fractions, brain mask, affine (cached)."""
    return dict(_load_cached())


def _tissue_signal(tissue, TR, TE):
    """Spin-echo signal of one pure tissue, so partial volumes can be mixed linearly."""
    t1, t2, pd = TISSUE_PARAMS[tissue]
    return pd * (1.0 - np.exp(-TR / t1)) * np.exp(-TE / t2)


def synthesize_contrast(tissues, contrast, TR=None, TE=None, skull_stripped=True):
    """Compute a T1w/T2w/PD volume from tissue fractions: an exactly co-registered ground truth."""
    if contrast not in SEQUENCE_DEFAULTS:
        raise ValueError(f"contrast must be one of {sorted(SEQUENCE_DEFAULTS)}, got {contrast!r}")
    TR = SEQUENCE_DEFAULTS[contrast][0] if TR is None else float(TR)
    TE = SEQUENCE_DEFAULTS[contrast][1] if TE is None else float(TE)
    sig = sum(tissues[t] * np.float32(_tissue_signal(t, TR, TE)) for t in TISSUE_PARAMS)
    brain = tissues["brain"]
    if not skull_stripped:
        if contrast != "T1w":
            raise ValueError("skull_stripped=False only exists for T1w (template is T1-weighted)")
        wm = tissues["wm"] > 0.9  # scale the template so its WM matches the synthetic WM level
        scale = np.median(sig[wm]) / np.median(tissues["t1_template"][wm])
        sig = np.where(brain, sig, tissues["t1_template"] * scale)
    ref = np.percentile(sig[brain], NORM_PERCENTILE)
    return np.clip(sig / ref, 0, 1).astype(np.float32)


def _mirror_sum(brain, axis):
    """Return 2*c if the mask is exactly mirror-symmetric about slice c along axis, else None."""
    idx = np.flatnonzero(brain.any(axis=tuple(i for i in range(3) if i != axis)))
    c2 = int(idx.min() + idx.max())
    i = np.arange(max(0, c2 - brain.shape[axis] + 1), min(brain.shape[axis], c2 + 1))
    same = np.array_equal(np.take(brain, i, axis=axis), np.take(brain, c2 - i, axis=axis))
    return c2 if same else None


def split_slices(brain, axis=2, test_slabs=((0.4, 0.6),), block=8, gap=4,
                 min_brain_fraction=0.05, n_groups=2):
    """Deterministic slice indices {"A", "B", "test"}: held-out slabs, disjoint unpaired A/B.

    `n_groups` > 2 deals the training blocks round-robin into that many disjoint groups (one per
    domain of a multi-domain model), returned as "groups" (a list; "A"/"B" are its first two)."""
    brain = np.asarray(brain, dtype=bool)
    n = brain.shape[axis]
    frac = brain.mean(axis=tuple(i for i in range(3) if i != axis))
    ok = np.flatnonzero(frac > min_brain_fraction)
    lo, hi = ok.min(), ok.max() + 1
    test, guard = np.zeros(n, bool), np.zeros(n, bool)
    for f0, f1 in test_slabs:  # slabs are fractions of the brain-containing range
        s0, s1 = lo + int(round(f0 * (hi - lo))), lo + int(round(f1 * (hi - lo)))
        test[s0:s1] = True
        guard[max(s0 - gap, 0):s1 + gap] = True
    # ICBM 2009a is exactly left-right symmetric: sagittal slices x and 2c-x are identical,
    # so on a symmetric axis a slice and its mirror image must always share a set.
    c2 = _mirror_sum(brain, axis)
    key = np.arange(n) if c2 is None else np.abs(2 * np.arange(n) - c2)
    if c2 is not None:  # hold out / guard the mirror images too
        test, guard = (np.isin(key, key[m]) for m in (test, guard))
    usable = np.zeros(n, bool)
    usable[ok] = True
    train = np.flatnonzero(usable & ~guard)
    rank = np.unique(key[train], return_inverse=True)[1]  # mirror pairs share a rank
    group = (rank // block) % max(2, int(n_groups))  # alternate blocks of training slices
    groups = [train[group == k] for k in range(max(2, int(n_groups)))]
    out = {"A": groups[0], "B": groups[1], "test": np.flatnonzero(usable & test)}
    if n_groups > 2:
        out["groups"] = groups
    return out


def _brain_box(brain, axis):
    """In-plane bounding box of the 3D brain, made square (so every slice shares one scale)."""
    plane = brain.any(axis=axis)
    box = []
    for ax in range(2):
        idx = np.flatnonzero(plane.any(axis=1 - ax))
        box.append((idx.min(), idx.max() + 1))
    side = max(b - a for a, b in box)
    return [((a + b - side) // 2, (a + b - side) // 2 + side) for a, b in box], side


def _slices(volume, brain, axis, index, size):
    """Extract slices, crop to the brain box, pad square, resize; display orientation."""
    from skimage.transform import resize

    box, side = _brain_box(brain, axis)
    stack = np.take(volume, index, axis=axis).astype(np.float32)
    stack = np.moveaxis(stack, axis, 0)  # (n, u, v)
    out = np.zeros((len(index), side, side), np.float32)
    src = [slice(max(a, 0), min(b, stack.shape[1 + i])) for i, (a, b) in enumerate(box)]
    dst = [slice(s.start - a, s.stop - a) for s, (a, _) in zip(src, box)]
    out[:, dst[0], dst[1]] = stack[:, src[0], src[1]]
    out = np.ascontiguousarray(out.transpose(0, 2, 1)[:, ::-1, :])  # superior/anterior up
    if side != size:
        out = resize(out, (len(index), size, size), anti_aliasing=True, preserve_range=True)
    return out.astype(np.float32)


def mri_translation_dataset(axis=2, size=128, contrasts=("T1w", "T2w"), split="train",
                            **split_kwargs):
    """2D slices for contrast translation: unpaired disjoint A/B (train) or paired GT (test)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    tis = load_mni_tissues()
    idx = split_slices(tis["brain"], axis=axis, **split_kwargs)
    ia, ib = (idx["A"], idx["B"]) if split == "train" else (idx["test"], idx["test"])
    vol_a = synthesize_contrast(tis, contrasts[0])
    vol_b = synthesize_contrast(tis, contrasts[1])
    return {"A": _slices(vol_a, tis["brain"], axis, ia, size),
            "B": _slices(vol_b, tis["brain"], axis, ib, size)}


def multi_contrast_slices(contrasts, axis=2, size=128, split="train", **split_kwargs) -> dict:
    """{contrast: slices} for multi-domain training: each contrast gets its own disjoint group of
    training slices (unpaired); split="test" gives every contrast of the held-out slices (paired)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    tis = load_mni_tissues()
    idx = split_slices(tis["brain"], axis=axis, n_groups=len(contrasts), **split_kwargs)
    groups = idx.get("groups", [idx["A"], idx["B"]])
    return {c: _slices(synthesize_contrast(tis, c), tis["brain"], axis,
                       idx["test"] if split == "test" else groups[i], size) for i, c in enumerate(contrasts)}


def brain_mask_slices(axis=2, size=128, split="test", domain="A", **split_kwargs):
    """Boolean brain masks aligned with mri_translation_dataset slices, for in-brain metrics."""
    tis = load_mni_tissues()
    idx = split_slices(tis["brain"], axis=axis, **split_kwargs)
    index = idx["test"] if split == "test" else idx[domain]
    return _slices(tis["brain"].astype(np.float32), tis["brain"], axis, index, size) > 0.5


# ---- native resolution: the real T1 template, held-out slabs, whole 1 mm slices ------------------
#: held-out axial slabs as fractions of the brain-containing range; training never touches them
NATIVE_SLABS = {"val": (0.30, 0.38), "test": (0.40, 0.60)}
NATIVE_GAP = 4  # guard slices on each side of a held-out slab (neighbouring 1 mm slices are near-identical)


def template_t1(tissues) -> np.ndarray:
    """The real MNI152 T1 template scaled to [0, 1] by its maximum, exactly as the napari sample."""
    t1 = np.asarray(tissues["t1_template"], np.float32)
    return t1 / max(float(t1.max()), 1e-6)


def contrast_volume(tissues, contrast: str, t1_source: str = "template") -> np.ndarray:
    """One contrast at 1 mm: T1w is the real template (`t1_source="template"`) or synthetic."""
    if t1_source not in ("template", "synthetic"):
        raise ValueError(f"t1_source must be 'template' or 'synthetic', got {t1_source!r}")
    if contrast == "T1w" and t1_source == "template":
        return template_t1(tissues)
    return synthesize_contrast(tissues, contrast)


def native_split(brain, axis: int = 2, slabs=None, gap: int = NATIVE_GAP, min_brain_fraction: float = 0.05) -> dict:
    """Held-out slab indices along `axis` ("val", "test") and the training ranges around them.

    "train" is a list of (start, stop) ranges of slices along `axis` that no held-out slab or guard
    touches; cutting the volume there gives sub-volumes that every orientation may slice without
    seeing a held-out voxel."""
    slabs = NATIVE_SLABS if slabs is None else slabs
    brain = np.asarray(brain, bool)
    n = brain.shape[axis]
    frac = brain.mean(axis=tuple(i for i in range(3) if i != axis))
    ok = np.flatnonzero(frac > min_brain_fraction)
    lo, hi = int(ok.min()), int(ok.max()) + 1
    guard = np.zeros(n, bool)
    out = {}
    for name, (f0, f1) in slabs.items():
        s0, s1 = lo + int(round(f0 * (hi - lo))), lo + int(round(f1 * (hi - lo)))
        out[name] = np.arange(s0, s1)
        guard[max(s0 - gap, 0):s1 + gap] = True
    keep = np.zeros(n, bool)
    keep[lo:hi] = True
    keep &= ~guard
    edges = np.flatnonzero(np.diff(np.r_[0, keep.astype(np.int8), 0]))
    out["train"] = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]
    return out


def native_slices(volume, index, axis: int = 2) -> np.ndarray:
    """Whole slices at the volume's own pixel size, in display orientation (as `_slices`, uncropped)."""
    stack = np.moveaxis(np.take(np.asarray(volume), np.asarray(index), axis=axis), axis, 0)
    return np.ascontiguousarray(stack.transpose(0, 2, 1)[:, ::-1, :]).astype(np.float32)


def training_subvolumes(volume, split: dict, axis: int = 2) -> list[np.ndarray]:
    """The training parts of a volume: one sub-volume per training range of `native_split`."""
    return [np.ascontiguousarray(np.take(volume, np.arange(a, b), axis=axis)) for a, b in split["train"]]
