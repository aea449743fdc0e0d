"""User masks (holes, k-space sampling) as tensors: shared by inpainting and MRI reconstruction."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError


def coerce_mask(mask, x: torch.Tensor, label=None, name: str = "mask") -> torch.Tensor:
    """A user mask (numpy/torch, bool or labels) as a bool tensor (1|N, 1, H, W) matching x, or a clear error."""
    n, _, h, w = x.shape
    if torch.is_tensor(mask):
        t = mask.detach().to(x.device)
    else:
        arr = np.asarray(mask)
        if arr.dtype.kind not in "biuf":
            raise InputError(f"{name} must be a boolean or integer (labels) array, got dtype {arr.dtype}")
        cast = {"b": np.bool_, "i": np.int64, "u": np.int64, "f": np.float64}[arr.dtype.kind]
        t = torch.from_numpy(np.array(arr, dtype=cast)).to(x.device)  # a copy: torch needs writable memory
    if t.is_complex():
        raise InputError(f"{name} must be a boolean or integer (labels) array, got a complex tensor")
    shape = tuple(t.shape)
    hole = t != 0 if label is None else t == label
    if label is not None and not bool(hole.any()):
        present = torch.unique(t)[:10].tolist()
        raise InputError(f"label {label!r} does not occur in the {name} (values present: {present})")
    if hole.dim() == 2:
        hole = hole[None, None]
    elif hole.dim() == 3 and hole.shape[0] in (1, n):
        hole = hole[:, None]
    elif not (hole.dim() == 4 and hole.shape[0] in (1, n) and hole.shape[1] == 1):
        raise InputError(f"{name} has shape {shape}; expected (H, W), ({n}, H, W) or ({n}, 1, H, W) "
                         f"with H, W = {h}, {w}")
    if tuple(hole.shape[-2:]) != (h, w):
        raise InputError(f"{name} has shape {shape} but the image is {h} x {w}; the mask must cover the "
                         f"whole image (tiled inference does not slice masks: run untiled)")
    return hole
