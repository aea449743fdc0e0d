"""Sample data: the MNI152 T1 template (true 1 mm voxels), its synthetic T2w twin, a photograph.

The MNI volumes come from the nilearn wheel (no download) through `im2im_core.data.mni`; they
are shown as (z, y, x) so the slider walks axial slices, placed in MNI millimetres.
"""
from __future__ import annotations

import numpy as np

from ._io import affine_to_layer_kwargs


def _mni_layer(volume: np.ndarray, name: str, affine, contrast: str) -> tuple:
    kw = affine_to_layer_kwargs(affine, volume.ndim)
    kw.update(name=name, colormap="gray", contrast_limits=(0.0, float(volume.max()) or 1.0),
              metadata={"source": "MNI152 ICBM 2009a nonlinear symmetric template (nilearn)",
                        "contrast": contrast, "affine": np.asarray(affine).tolist()})
    return np.ascontiguousarray(volume.T), kw, "image"


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
