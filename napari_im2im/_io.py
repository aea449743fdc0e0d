"""NIfTI reader and NIfTI/TIFF writer: the NIfTI affine becomes the layer's geometry, and back.

Convention: volumes are reoriented to the closest canonical (RAS+) orientation and shown with
their axes reversed, (t, z, y, x), so the slider walks axial slices; world coordinates are
scanner millimetres in (S, A, R) order. The voxel sizes become `scale`; a rotation or shear
(an oblique acquisition) goes into the layer's `affine`, so every voxel lies where the scanner
put it, and the writer saves exactly that geometry back. Opening a NIfTI turns the 2D camera
anterior-up, as neuroimaging viewers show axial slices, without touching world coordinates.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from im2im_core.io import NIFTI_SUFFIXES

TIFF_SUFFIXES = (".tif", ".tiff")
_LABELS = ("t", "z", "y", "x")


def activate(context=None) -> None:
    """npe2 calls this the first time any contribution of ours is used: make us napari's reader
    for NIfTI (its built-in imageio reader cannot open .nii.gz, and `viewer.open` without
    `plugin=` picked it), unless the user already chose a reader for those files."""
    try:
        from napari.settings import get_settings

        prefs = get_settings().plugins.extension2reader
        missing = {p: "napari-im2im" for p in ("*.nii", "*.nii.gz") if p not in prefs}
        if missing:
            get_settings().plugins.extension2reader = {**prefs, **missing}
    except Exception:  # noqa: BLE001 - an older napari without reader preferences: plugin= still works
        pass


def _is_nifti(path) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def _reverse(m: np.ndarray) -> np.ndarray:
    """A 4x4 spatial affine with its three axes reversed on both sides: (x, y, z) <-> (z, y, x)."""
    p = np.eye(4)[[2, 1, 0, 3]]
    return p @ m @ p


def affine_to_layer_kwargs(affine, ndim: int, zooms=None, space_unit: str = "mm", time_unit: str = "s",
                           rows: int | None = None) -> dict:
    """scale/translate/affine/axis_labels/units of an axis-reversed (t, z, y, x) layer from a 4x4
    NIfTI affine: world = affine @ (scale * index + translate) reproduces the NIfTI mapping exactly,
    with the voxel sizes in `scale` and any rotation, shear or flip in `affine` (left out when it is
    the identity). With `rows` (the y size), the data's rows run the other way (see `nifti_layer`)."""
    m = _reverse(np.asarray(affine, float))
    if rows is not None:  # row r holds NIfTI y = rows - 1 - r
        m = m @ np.array([[1.0, 0, 0, 0], [0, -1.0, 0, rows - 1.0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    if not np.all(np.isfinite(m)):
        raise ValueError("the NIfTI affine is not finite")
    nsp = min(ndim, 3)
    lin, t = m[:3, :3], m[:3, 3]
    sizes = np.linalg.norm(lin, axis=0)
    if np.any(sizes <= 0):
        raise ValueError("the NIfTI affine is singular")
    rot = lin / sizes  # unit columns: rotation, shear and flips only
    trans = np.linalg.solve(rot, t)
    rot, sizes, trans = rot[-nsp:, -nsp:], sizes[-nsp:], trans[-nsp:]  # a 2D image keeps (y, x)
    full = np.eye(ndim + 1)
    full[ndim - nsp:ndim, ndim - nsp:ndim] = rot
    scale, translate, units = list(sizes), list(trans), [space_unit] * nsp
    if ndim == 4:
        scale.insert(0, float(zooms[3]) if zooms is not None and len(zooms) > 3 and zooms[3] > 0 else 1.0)
        translate.insert(0, 0.0)
        units.insert(0, time_unit)
    kw = {"scale": tuple(float(v) for v in scale), "translate": tuple(float(v) for v in translate),
          "axis_labels": _LABELS[-ndim:], "units": tuple(units)}
    if not np.allclose(rot, np.eye(nsp), atol=1e-9):
        kw["affine"] = full
    return kw


def nifti_layer(data_xyz: np.ndarray, affine, **kw) -> tuple[np.ndarray, dict]:
    """(data, layer kwargs) of a canonical (x, y, z[, t]) volume: axes reversed to (t, z, y, x) and
    rows from anterior to posterior, the orientation our models were trained in and neuroimaging
    viewers show; the affine keeps every voxel at its scanner position."""
    data = np.asarray(data_xyz).T
    if data.ndim >= 2:
        data = data[..., ::-1, :]
    layer_kw = affine_to_layer_kwargs(affine, data.ndim, rows=data.shape[-2] if data.ndim >= 2 else None, **kw)
    return np.ascontiguousarray(data), layer_kw


def layer_world_affine(meta: dict, ndim: int) -> np.ndarray:
    """The (ndim+1)-square data-to-world matrix of a layer's scale, translate, rotate, shear and affine."""
    from napari.utils.transforms import Affine

    def given(key, default):
        v = meta.get(key)
        return default if v is None else np.asarray(v, float)

    phys = Affine(scale=given("scale", np.ones(ndim))[-ndim:], translate=given("translate", np.zeros(ndim))[-ndim:],
                  rotate=given("rotate", np.eye(ndim)), shear=given("shear", np.zeros(ndim * (ndim - 1) // 2)),
                  ndim=ndim)
    aff = meta.get("affine")
    aff = getattr(aff, "affine_matrix", aff)
    outer = Affine(affine_matrix=np.asarray(aff, float)[-ndim - 1:, -ndim - 1:] if aff is not None else np.eye(ndim + 1),
                   ndim=ndim)
    return outer.compose(phys).affine_matrix


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
        shown, kw = nifti_layer(data, affine, zooms=f.meta["zooms"], space_unit=f.meta["space_unit"],
                                time_unit=f.meta["time_unit"])
        name = Path(p).name
        kw.update(name=name[:-7] if name.lower().endswith(".nii.gz") else Path(p).stem,
                  metadata={"nifti": {"path": str(p), "affine": affine.tolist(), "orientation": f.meta["orientation"],
                                      "shown_as": "RAS+, axes reversed (t, z, y, x), rows anterior first"}})
        out.append((shown, kw, "image"))
    _anterior_up()
    return out


def _anterior_up() -> None:
    """Turn the current viewer's 2D camera so world +A points up (a view setting, not a data change)."""
    try:
        import napari

        viewer = napari.current_viewer()
        if viewer is not None:
            scene = getattr(viewer, "scene", viewer)  # napari >= 0.9 keeps the camera on the scene
            scene.camera.orientation2d = ("up", "right")
    except Exception:  # noqa: BLE001 - no viewer (a script) or an older napari: keep napari's default
        pass


def _nifti_affine(meta: dict, ndim: int) -> tuple[np.ndarray, list[float]]:
    """(4x4 NIfTI affine of the layer's spatial axes, [time step] for a 4D layer, else [])."""
    m = layer_world_affine(meta, ndim)
    nsp = min(ndim, 3)
    spatial = np.eye(4)
    spatial[3 - nsp:3, 3 - nsp:3] = m[ndim - nsp:ndim, ndim - nsp:ndim]
    spatial[3 - nsp:3, 3] = m[ndim - nsp:ndim, ndim]
    return _reverse(spatial), ([float(np.linalg.norm(m[:-1, 0]))] if ndim == 4 else [])


def _sizes_mm(meta: dict, ndim: int) -> list[float] | None:
    """The layer's spatial pixel sizes in mm (layer axis order), or None unless its units are lengths."""
    from ._translate import MM_PER_UNIT

    nsp = min(ndim, 3)
    units = [str(u).strip().lower() for u in (meta.get("units") or ())][-nsp:]
    if len(units) != nsp or any(u not in MM_PER_UNIT for u in units):
        return None
    scale = [float(v) for v in (meta.get("scale") if meta.get("scale") is not None else [1.0] * ndim)][-nsp:]
    return [v * MM_PER_UNIT[u] for v, u in zip(scale, units)]


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
        import nibabel as nib

        aff, time_step = _nifti_affine(meta, ndim)
        # stored in the closest canonical (RAS+) order: the same voxels at the same positions
        canon = nib.as_closest_canonical(nib.Nifti1Image(np.ascontiguousarray(arr.T), aff))
        zooms = [float(v) for v in np.linalg.norm(canon.affine[:3, :3], axis=0)[:min(ndim, 3)]] + time_step
        write_nifti(path, np.ascontiguousarray(np.asanyarray(canon.dataobj)), canon.affine, zooms=zooms,
                    units=("mm", "sec"))
        return [str(path)]
    if low.endswith(TIFF_SUFFIXES):
        import tifffile

        sizes = _sizes_mm(meta, ndim)  # (..., z, y, x) in mm, or None for pixel units
        axes = "TZYX"[-ndim:] + ("S" if rgb else "")
        kw: dict = {"metadata": {"axes": axes}}
        if arr.dtype in (np.uint8, np.uint16, np.float32) and (not rgb or arr.dtype == np.uint8):
            kw = {"imagej": True, "metadata": {"axes": axes}}
            if sizes is not None:  # pixel-unit layers get no physical size
                kw["resolution"] = (1.0 / sizes[-1], 1.0 / sizes[-2])
                kw["metadata"].update(unit="mm", **({"spacing": sizes[-3]} if ndim >= 3 else {}))
        atomic_write(path, lambda tmp: tifffile.imwrite(tmp, arr, **kw))
        return [str(path)]
    raise ValueError(f"{Path(path).name}: save as .nii, .nii.gz, .tif or .tiff")
