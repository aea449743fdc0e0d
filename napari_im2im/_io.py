"""NIfTI reader and NIfTI/TIFF writer: the affine becomes napari's scale and translate, and back.

Convention: volumes are reoriented to the closest canonical (RAS+) orientation and shown with
their axes reversed, (t, z, y, x), so the slider walks axial slices; world coordinates are
scanner millimetres. Rotation/shear beyond axis flips is not representable by scale and
translate; it is kept in layer.metadata["nifti"]["affine"] and reported there.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from im2im_core.io import NIFTI_SUFFIXES

TIFF_SUFFIXES = (".tif", ".tiff")
_LABELS = ("t", "z", "y", "x")


def _is_nifti(path) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def affine_to_layer_kwargs(affine, ndim: int, zooms=None, space_unit: str = "mm", time_unit: str = "s") -> dict:
    """scale/translate/axis_labels/units of an axis-reversed (t, z, y, x) layer from a 4x4 affine."""
    a = np.asarray(affine, float)
    nsp = min(ndim, 3)
    scale = [float(np.linalg.norm(a[:3, i])) for i in range(nsp)]
    trans = [float(a[i, 3]) for i in range(nsp)]
    units = [space_unit] * nsp
    if ndim == 4:
        scale.append(float(zooms[3]) if zooms is not None and len(zooms) > 3 and zooms[3] > 0 else 1.0)
        trans.append(0.0)
        units.append(time_unit)
    return {"scale": tuple(scale[::-1]), "translate": tuple(trans[::-1]), "axis_labels": _LABELS[-ndim:],
            "units": tuple(units[::-1])}


def get_reader(path):
    """npe2 reader hook: a reader for .nii/.nii.gz paths (or lists of them), else None."""
    paths = path if isinstance(path, (list, tuple)) else [path]
    if paths and all(_is_nifti(p) for p in paths):
        return read_nifti
    return None


def read_nifti(path) -> list[tuple]:
    """One image layer per file, placed in scanner millimetres."""
    from im2im_core.io import read_image

    out = []
    for p in path if isinstance(path, (list, tuple)) else [path]:
        f = read_image(p, canonical=True)
        data, affine = f.data, f.meta["affine"]
        while data.ndim > 3 and data.shape[-1] == 1:  # (x, y, z, 1) is a 3D volume
            data = data[..., 0]
        if data.ndim not in (2, 3, 4):
            raise ValueError(f"{Path(p).name}: NIfTI with shape {data.shape} is not 2D, 3D or 4D")
        kw = affine_to_layer_kwargs(affine, data.ndim, f.meta["zooms"], f.meta["space_unit"], f.meta["time_unit"])
        off_axis = float(np.abs(affine[:3, :3] - np.diag(np.diag(affine[:3, :3]))).max())
        name = Path(p).name
        kw.update(name=name[:-7] if name.lower().endswith(".nii.gz") else Path(p).stem,
                  metadata={"nifti": {"path": str(p), "affine": affine.tolist(), "orientation": f.meta["orientation"],
                                      "shown_as": "RAS+, axes reversed (t, z, y, x)",
                                      "rotation_dropped": off_axis > 1e-6}})
        out.append((np.ascontiguousarray(data.T), kw, "image"))
    return out


def _affine_from_meta(meta: dict, ndim: int) -> tuple[np.ndarray, list[float]]:
    scale = [float(s) for s in (meta.get("scale") if meta.get("scale") is not None else [1.0] * ndim)][-ndim:]
    trans = [float(t) for t in (meta.get("translate") if meta.get("translate") is not None else [0.0] * ndim)][-ndim:]
    rs, rt = scale[::-1], trans[::-1]  # back to NIfTI (x, y, z, t) order
    aff = np.eye(4)
    for i in range(min(ndim, 3)):
        aff[i, i], aff[i, 3] = rs[i], rt[i]
    return aff, rs


def write_image(path: str, data, meta: dict) -> list[str]:
    """npe2 single-layer writer: NIfTI (.nii/.nii.gz) or TIFF (.tif/.tiff) keeping the voxel size."""
    from im2im_core.io import atomic_write, write_nifti

    arr = np.asarray(data)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    rgb = bool(meta.get("rgb", False))
    ndim = arr.ndim - (1 if rgb else 0)
    low = str(path).lower()
    if low.endswith(NIFTI_SUFFIXES):
        if rgb:
            raise ValueError("RGB layers cannot be saved as NIfTI here; save them as .tif")
        aff, zooms = _affine_from_meta(meta, ndim)
        write_nifti(path, np.ascontiguousarray(arr.T), aff, zooms=zooms, units=("mm", "sec"))
        return [str(path)]
    if low.endswith(TIFF_SUFFIXES):
        import tifffile

        _, zooms = _affine_from_meta(meta, ndim)
        axes = "TZYX"[-ndim:] + ("S" if rgb else "")
        kw: dict = {"metadata": {"axes": axes}}
        if arr.dtype in (np.uint8, np.uint16, np.float32) and (not rgb or arr.dtype == np.uint8):
            kw = {"imagej": True, "resolution": (1.0 / zooms[0], 1.0 / zooms[1]),
                  "metadata": {"axes": axes, "unit": "mm", **({"spacing": zooms[2]} if ndim >= 3 else {})}}
        atomic_write(path, lambda tmp: tifffile.imwrite(tmp, arr, **kw))
        return [str(path)]
    raise ValueError(f"{Path(path).name}: save as .nii, .nii.gz, .tif or .tiff")
