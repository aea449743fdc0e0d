"""Array layouts: what users hand `translate` (2D, RGB(A), (Z,Y,X) and (T,Z,Y,X) stacks, axes in
any order) becomes (N, C, H, W) float slices for the networks, and back."""
from __future__ import annotations

import numpy as np
import torch

from .errors import InputError


def tensor_to_numpy(t: torch.Tensor) -> np.ndarray:
    """A dense CPU numpy copy of a tensor, or an InputError naming what it is (meta, sparse,
    quantized, nested, float8); bf16 becomes float32."""
    kind = ("meta" if t.is_meta else "quantized" if t.is_quantized else "nested" if t.is_nested
            else "sparse" if t.layout != torch.strided else None)
    if kind:
        raise InputError(f"image is a {kind} tensor; give a dense array or tensor")
    t = t.detach().cpu()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.float()
    try:  # other unsupported dtypes are named by validate_image's dtype check
        return t.numpy()
    except (TypeError, RuntimeError):  # float8 and other dtypes numpy has no type for
        raise InputError(f"image tensor dtype {t.dtype} is not supported; use uint8, uint16, int16 or float") from None


def validate_image(image) -> np.ndarray:
    """Refuse inputs that cannot be translated, naming the problem."""
    if image is None:
        raise InputError("no image given")
    if isinstance(image, torch.Tensor):
        image = tensor_to_numpy(image)
    try:
        arr = np.asarray(image)
    except (ValueError, TypeError) as exc:  # ragged nested lists, objects numpy cannot stack
        raise InputError(f"image is not a regular array ({str(exc).splitlines()[0][:120]})") from None
    if arr.size == 0:
        raise InputError(f"image is empty (shape {arr.shape})")
    if arr.dtype.kind not in "uif":
        raise InputError(f"image dtype {arr.dtype} is not supported; use uint8, uint16, int16 or float")
    if arr.ndim < 2:
        raise InputError(f"image must be at least 2D (Y, X), got shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise InputError(f"image contains {int((~np.isfinite(arr)).sum())} NaN/Inf values; fix or mask them first")
    return arr


def to_slices(arr: np.ndarray, in_channels: int, rgb: bool | None = None):
    """(N, C, H, W) float32 slices plus what is needed to rebuild the input's layout.

    Rules: the last axis is colour when `rgb=True`, or when `rgb=None` and it has 3 or 4
    entries; a 4th colour channel is alpha and is kept aside. A grayscale image given to a
    3-channel model is replicated to RGB; a colour image given to a 1-channel model is an error.
    """
    if rgb is None:
        rgb = arr.ndim >= 3 and arr.shape[-1] in (3, 4) and arr.shape[-2] > 4
    if rgb and arr.shape[-1] not in (3, 4):
        raise InputError(f"the colour axis has {arr.shape[-1]} entries; colour images have 3 (RGB) or 4 (RGBA)")
    spatial_nd = arr.ndim - (1 if rgb else 0)
    if spatial_nd > 4:
        raise InputError(f"image has {spatial_nd} spatial/stack axes (shape {arr.shape}); "
                         "supported are (Y,X), (Z,Y,X) and (T,Z,Y,X), plus an optional colour axis")
    alpha = None
    if rgb:
        if arr.shape[-1] == 4:
            alpha = arr[..., 3]
            arr = arr[..., :3]
        lead = arr.shape[:-3]
        x = np.moveaxis(arr.reshape(-1, *arr.shape[-3:]), -1, 1)
        c = 3
    else:
        lead = arr.shape[:-2]
        x = arr.reshape(-1, 1, *arr.shape[-2:])
        c = 1
    if c != in_channels:
        if c == 1 and in_channels == 3:
            x = np.repeat(x, 3, axis=1)
        else:
            raise InputError(f"the model expects {in_channels} channel(s) but the image has {c} "
                             f"({'colour' if c == 3 else 'grayscale'}); convert it first")
    big = x.dtype == np.float64 and x.size and np.abs(x).max() > 1e30  # beyond float32: normalise in float64
    return np.ascontiguousarray(x, dtype=np.float64 if big else np.float32), {"lead": lead, "alpha": alpha, "rgb": rgb}


def from_slices(y: np.ndarray, layout: dict, alpha: bool = True) -> np.ndarray:
    """Inverse of `to_slices` for outputs (N, C, H', W')."""
    c = y.shape[1]
    if c == 1:
        out = y[:, 0].reshape(*layout["lead"], *y.shape[-2:])
    else:
        out = np.moveaxis(y, 1, -1).reshape(*layout["lead"], *y.shape[-2:], c)
        a = layout["alpha"]
        if alpha and a is not None and c == 3 and a.shape[-2:] == out.shape[-3:-1]:
            out = np.concatenate([out, a[..., None].astype(out.dtype)], axis=-1)
    return out


def _spatial_mask(mask, layout: dict, arr: np.ndarray) -> np.ndarray:
    """A (Y,X) or per-slice (N,Y,X) mask broadcast to the image, colour axis included."""
    mask = np.asarray(mask).astype(bool)
    lead = layout["lead"]
    if mask.ndim > 2 and lead and mask.size == int(np.prod(lead)) * int(np.prod(mask.shape[-2:])):
        mask = mask.reshape(*lead, *mask.shape[-2:])  # one mask per slice
    elif mask.ndim > 2:
        mask = mask.reshape(mask.shape[-2:])  # (1, Y, X) or (1, 1, Y, X)
    mask = np.broadcast_to(mask, arr.shape[:-1] if layout["rgb"] else arr.shape)
    return mask[..., None] if layout["rgb"] else mask


def _per_slice(value, lead: tuple):
    """An option array covering a whole stack, e.g. a (Z, Y, X) mask, as (N, Y, X) slices."""
    if lead and isinstance(value, np.ndarray) and value.ndim == len(lead) + 2 and value.shape[:len(lead)] == lead:
        return value.reshape(-1, *value.shape[-2:])
    return value


AXES = "TZCYX"


def axes_order(axes, shape) -> tuple[list[int], bool]:
    """The permutation that brings `axes` (e.g. "CYX") to (stack..., Y, X[, C]), and whether C is there."""
    if not isinstance(axes, str) or len(axes) != len(shape) or set(axes) - set(AXES.lower() + AXES) \
            or len(set(axes.upper())) != len(axes) or not {"Y", "X"} <= set(axes.upper()):
        raise InputError(f"axes={axes!r} does not describe an image of shape {tuple(shape)}: give one letter per "
                         f"axis from {AXES} (each once, Y and X required), e.g. 'YX', 'ZYX', 'YXC' or 'CYX'")
    a = axes.upper()
    order = [i for i, c in enumerate(a) if c not in "YXC"] + [a.index("Y"), a.index("X")]
    if "C" in a:
        order.append(a.index("C"))
    return order, "C" in a


def _restore_axes(out: np.ndarray, perm, lead: int) -> np.ndarray:
    """Undo `axes_order`'s permutation on an output (after `lead` sample axes; an added colour axis stays last)."""
    if perm is None:
        return out
    n = len(perm)
    core = out.ndim - lead
    if core not in (n, n + 1):
        return out
    inv = list(np.argsort(perm))
    return np.transpose(out, list(range(lead)) + [lead + i for i in inv] + ([out.ndim - 1] if core == n + 1 else []))
