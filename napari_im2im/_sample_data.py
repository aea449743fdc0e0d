"""Sample data: the MNI152 T1 template (true 1 mm voxels), its synthetic T2w twin, a photograph.

The MNI volumes come from the nilearn wheel (no download) through `im2im_core.data.mni`; they
are shown as NIfTI files open (`_io.nifti_layer`): (z, y, x), rows anterior first, in MNI millimetres.
"""
from __future__ import annotations

import numpy as np

from ._io import _anterior_up, nifti_layer


def _mni_layer(volume: np.ndarray, name: str, affine, contrast: str) -> tuple:
    data, kw = nifti_layer(volume, affine)
    kw.update(name=name, colormap="gray", contrast_limits=(0.0, float(volume.max()) or 1.0),
              metadata={"source": "MNI152 ICBM 2009a nonlinear symmetric template (nilearn)",
                        "contrast": contrast, "affine": np.asarray(affine).tolist()})
    _anterior_up()
    return data, kw, "image"


def mni_t1() -> list[tuple]:
    """The MNI152 T1-weighted template, 1 mm isotropic."""
    from im2im_core.data.mni import load_mni_tissues

    tis = load_mni_tissues()
    vol = np.asarray(tis["t1_template"], np.float32)
    return [_mni_layer(vol / max(float(vol.max()), 1e-6), "MNI152 T1w", tis["affine"], "T1w")]


def mni_t2() -> list[tuple]:
    """A T2-weighted volume computed from the MNI152 tissue maps (voxel-aligned with the T1w)."""
    from im2im_core.data.mni import load_mni_tissues, synthesize_contrast

    tis = load_mni_tissues()
    return [_mni_layer(synthesize_contrast(tis, "T2w"), "MNI152 T2w (synthetic)", tis["affine"], "T2w")]


def photo() -> list[tuple]:
    """A 2D natural RGB image (scikit-image's astronaut, 512 x 512)."""
    from skimage import data

    return [(data.astronaut(), {"name": "astronaut", "rgb": True,
                                "metadata": {"source": "scikit-image data.astronaut (NASA, public domain)"}}, "image")]


def colin27_head() -> list[tuple]:
    """Colin27, a real T1 head with skull and scalp at 1 mm (the skull-removal models' input), shown
    as (z, y, x) with anterior up, in scanner millimetres."""
    from im2im_core.data.skull import colin27_head as load

    vol = load()
    data, kw = nifti_layer(vol["head"], vol["affine"])
    kw.update(name="Colin27 T1 head", colormap="gray", contrast_limits=(0.0, 1.0),
              metadata={"source": "Colin27 (ch2, Debian mricron-data, BSD-3)", "contrast": "T1w",
                        "affine": np.asarray(vol["affine"]).tolist()})
    _anterior_up()
    return [(data, kw, "image")]


