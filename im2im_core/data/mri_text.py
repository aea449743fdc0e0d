"""Captioned MRI slices with exact targets, for the text-conditioned families: axial 2 mm slices of
the MNI152 template in one of three contrasts, optionally with one bright or dark white-matter
lesion in the left or right hemisphere ("T2-weighted axial slice with a bright lesion in the left
hemisphere").

The interface is `text_scenes`'s (random_scene, render, labels, caption, edit, unchanged_mask,
mentioned, HEADS), so the benchmark and the families treat both worlds alike. A scene fixes its
slice and its lesion's place and shape; an edit changes the contrast and/or the lesion's kind and
side, and the target is that scene rendered, so it is exact. Slices come from `split`
("train" or "test", the held-out slabs of `mni.native_split`); images are 64 x 64 in [0, 1],
one channel, in display orientation (the subject's left on the image's right).
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from . import lesions, mni

CONTRASTS = ("T1w", "T2w", "PD")
KINDS = ("none", "bright", "dark")
SIDES = ("left", "right")
SIZE = 64
HEADS = {"contrast": len(CONTRASTS), "lesion": len(KINDS), "side": len(SIDES) + 1}
SYNONYMS = {"T1w": ("T1-weighted", "T1w", "T1"), "T2w": ("T2-weighted", "T2w", "T2"),
            "PD": ("proton density", "PD-weighted", "PD"),
            "bright": ("bright", "hyperintense"), "dark": ("dark", "hypointense"),
            "left": ("left",), "right": ("right",)}


@dataclass(frozen=True)
class Scene:
    slice: int
    contrast: str
    lesion: str  # "none", "bright" or "dark"
    side: str  # "left" or "right" (ignored without a lesion)
    seed: int  # the lesion's place, radius and shape


@functools.lru_cache(maxsize=1)
def _volumes() -> dict:
    """The three contrasts, the white-matter fraction and the slice split at 2 mm, 64 px."""
    from skimage.transform import downscale_local_mean, resize

    tis = mni.load_mni_tissues()
    vols = lesions.volumes_2mm()
    out = {c: downscale_local_mean(mni.contrast_volume(tis, c), (2, 2, 2)).astype(np.float32) for c in CONTRASTS}
    out["T1w"] = vols["t1"]
    split = mni.native_split(vols["brain"], axis=2, gap=2)
    train = np.concatenate([np.arange(a, b) for a, b in split["train"]])
    keep = lambda idx: [int(i) for i in idx if vols["brain"][:, :, i].mean() > 0.15]  # noqa: E731
    res = {"split": {"train": keep(train), "test": keep(split["test"])}}
    for name, v in [*((c, out[c]) for c in CONTRASTS), ("wm", vols["wm"])]:
        stack = mni.native_slices(v, np.arange(v.shape[2]), axis=2)
        side = max(stack.shape[1:])
        pad = [(0, 0), ((side - stack.shape[1]) // 2, (side - stack.shape[1] + 1) // 2),
               ((side - stack.shape[2]) // 2, (side - stack.shape[2] + 1) // 2)]
        stack = np.pad(stack, pad)
        res[name] = np.stack([resize(s, (SIZE, SIZE), order=1, anti_aliasing=True) for s in stack]).astype(np.float32)
    for c in CONTRASTS:  # each contrast on [0, 1] by its own maximum, as a scanner image would be windowed
        res[c] /= max(float(res[c].max()), 1e-6)
    return res


def random_scene(rng, split: str = "train") -> Scene:
    idx = _volumes()["split"][split]
    return Scene(idx[int(rng.integers(len(idx)))], CONTRASTS[int(rng.integers(3))], KINDS[int(rng.integers(3))],
                 SIDES[int(rng.integers(2))], int(rng.integers(2**31)))


def _lesion(scene: Scene) -> np.ndarray:
    """The lesion's profile in [0, 1] (64 x 64), in white matter of the scene's side."""
    wm = _volumes()["wm"][scene.slice].copy()
    half = SIZE // 2
    if scene.side == "left":  # display orientation: the subject's left is the image's right half
        wm[:, :half] = 0
    else:
        wm[:, half:] = 0
    rng = np.random.default_rng(scene.seed)
    core = wm >= min(lesions.WM_CORE, np.quantile(wm[wm > 0], 0.8) if (wm > 0).any() else 1.0)
    centres = np.argwhere(core) if core.any() else np.argwhere(wm == wm.max())
    cy, cx = centres[rng.integers(len(centres))]
    r = rng.uniform(2.5, 4.0)
    yy, xx = np.mgrid[:SIZE, :SIZE].astype(np.float32)
    d = np.sqrt(((yy - cy) / rng.uniform(0.8, 1.2)) ** 2 + ((xx - cx) / rng.uniform(0.8, 1.2)) ** 2)
    return np.clip(r - d + 0.5, 0, 1).astype(np.float32)


def render(scene: Scene, size: int = SIZE) -> np.ndarray:
    """(1, 64, 64) float32 in [0, 1]."""
    if size != SIZE:
        raise ValueError(f"MRI scenes are {SIZE} px, got size={size}")
    img = _volumes()[scene.contrast][scene.slice].copy()
    if scene.lesion != "none":
        sign = 0.45 if scene.lesion == "bright" else -0.45
        img = np.clip(img + sign * _lesion(scene) * (img > 0.05), 0, 1)
    return img[None].astype(np.float32)


def labels(scene: Scene) -> dict[str, int]:
    return {"contrast": CONTRASTS.index(scene.contrast), "lesion": KINDS.index(scene.lesion),
            "side": 0 if scene.lesion == "none" else SIDES.index(scene.side) + 1}


def mentioned(scene: Scene) -> list[str]:
    """Every caption names the contrast and the lesion (or its absence), and a lesion's side."""
    return ["contrast", "lesion"] + (["side"] if scene.lesion != "none" else [])


def _say(value: str, rng) -> str:
    words = SYNONYMS[value]
    return words[int(rng.integers(len(words)))]


def caption(scene: Scene, rng) -> str:
    c = _say(scene.contrast, rng)
    if scene.lesion == "none":
        forms = (f"{c} axial slice with no lesion", f"a healthy {c} axial slice", f"{c} slice without lesions")
    else:
        k, s = _say(scene.lesion, rng), scene.side
        forms = (f"{c} axial slice with a {k} lesion in the {s} hemisphere",
                 f"a {k} lesion in the {s} hemisphere on a {c} axial slice",
                 f"{c} slice, {s} hemisphere {k} lesion")
    return forms[int(rng.integers(len(forms)))]


def edit(scene: Scene, rng, max_changes: int = 2) -> Scene:
    """The scene with its contrast and/or its lesion (kind, side) changed."""
    changes = {}
    what = ("contrast", "lesion")[int(rng.integers(2))] if max_changes < 2 else \
        ("contrast", "lesion", "both")[int(rng.integers(3))]
    if what in ("contrast", "both"):
        changes["contrast"] = [c for c in CONTRASTS if c != scene.contrast][int(rng.integers(2))]
    if what in ("lesion", "both"):
        options = [(k, s) for k in KINDS for s in SIDES if k != "none" and (k, s) != (scene.lesion, scene.side)]
        options = [("none", scene.side)] * (scene.lesion != "none") + options
        changes["lesion"], changes["side"] = options[int(rng.integers(len(options)))]
    return dataclasses.replace(scene, **changes)


def unchanged_mask(a: Scene, b: Scene, size: int = SIZE) -> np.ndarray:
    return np.all(np.abs(render(a, size) - render(b, size)) < 1e-6, axis=0)


__all__ = ["CONTRASTS", "HEADS", "KINDS", "SIDES", "Scene", "caption", "edit", "labels", "mentioned", "random_scene",
           "render", "unchanged_mask"]
