"""Training volumes for reconstruction: the MNI152 template and Colin27, whole 1 mm slices.

The test and validation slices are other subjects (`im2im_core.data.real_scans`), so no test
voxel is seen in training. Colin27 (one real subject, 1 mm) comes from the antspyx 0.6.3 source
package on PyPI; `colin27()` downloads it once into a cache with pip (training only; the library
never downloads anything).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("IM2IM_CACHE", Path.home() / ".cache" / "im2im"))


def colin27() -> np.ndarray:
    """Colin27 T1 (skull-stripped, 1 mm, 181 x 217 x 181) scaled to [0, 1] by its 99.9th percentile
    (the brightest 0.1% of voxels saturate)."""
    path = CACHE / "antspyx-0.6.3" / "data" / "ch2.nii.gz"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary=:all:", "antspyx==0.6.3",
                        "-d", str(CACHE)], check=True)
        with tarfile.open(CACHE / "antspyx-0.6.3.tar.gz") as tar:
            tar.extract("antspyx-0.6.3/data/ch2.nii.gz", CACHE, filter="data")
    return _scaled(path)


def _scaled(path: Path) -> np.ndarray:
    """A NIfTI volume divided by the 99.9th percentile of its nonzero voxels, clipped to [0, 1]."""
    import nibabel as nib

    vol = np.asarray(nib.load(path).dataobj, np.float32)
    return np.clip(vol / np.percentile(vol[vol > 0], 99.9), 0, 1)


def colin27_with_skull() -> np.ndarray:
    """Colin27 T1 WITH skull and scalp (Debian's mricron-data, 1 mm), scaled like `colin27`:
    the skull-stripped slices alone never show a model fat, bone or a noisy background."""
    path = CACHE / "mricron" / "usr" / "share" / "mricron" / "templates" / "ch2.nii.gz"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "mricron-data"], cwd=CACHE, check=True)
        deb = next(CACHE.glob("mricron-data_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(CACHE / "mricron")], check=True)
    return _scaled(path)


def pad_to(stack: np.ndarray, size: int) -> np.ndarray:
    """Centre each (N, H, W) slice in a size x size field of zeros (cropping sides larger than size)."""
    n, h, w = stack.shape
    out = np.zeros((n, size, size), np.float32)
    hh, ww = min(h, size), min(w, size)
    y0, x0 = (h - hh) // 2, (w - ww) // 2
    oy, ox = (size - hh) // 2, (size - ww) // 2
    out[:, oy:oy + hh, ox:ox + ww] = stack[:, y0:y0 + hh, x0:x0 + ww]
    return out


def training_slices(size: int = 256, step: int = 2, min_fraction: float = 0.08, skull: bool = False,
                    contrasts: tuple[str, ...] = ()) -> np.ndarray:
    """Whole 1 mm slices of the MNI152 template and Colin27 (and, with `skull`, Colin27 with its
    skull; with `contrasts`, e.g. ("T2w", "PD"), those contrasts synthesized from the MNI152 tissue
    maps) in all three orientations, padded to size x size: every `step`-th slice with at least
    `min_fraction` of its pixels in the head."""
    from im2im_core.data import mni

    tissues = mni.load_mni_tissues()
    vols = ([mni.template_t1(tissues), colin27()] + ([colin27_with_skull()] if skull else [])
            + [mni.synthesize_contrast(tissues, c) for c in contrasts])
    out = []
    for vol in vols:
        for axis in (0, 1, 2):
            stack = mni.native_slices(vol, np.arange(0, vol.shape[axis], step), axis=axis)
            keep = (stack > 0.05).mean(axis=(1, 2)) >= min_fraction
            out.append(pad_to(stack[keep], size))
    return np.concatenate(out)
