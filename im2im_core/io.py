"""Reading and writing the image files users bring: PNG/JPEG, TIFF (16-bit), NIfTI.

Writes are atomic (temp file, then rename), so a failure never leaves a partial output file.
NIfTI keeps its affine and header; arrays come back in the file's own axis order.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".nii", ".nii.gz", ".bmp")


def suffix(path) -> str:
    """Lower-case suffix, treating `.nii.gz` as one."""
    name = str(path).lower()
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


@dataclass
class ImageFile:
    data: np.ndarray
    format: str
    meta: dict[str, Any] = field(default_factory=dict)  # NIfTI: affine, header, zooms


MAGIC = {".png": (b"\x89PNG\r\n\x1a\n",), ".jpg": (b"\xff\xd8\xff",), ".jpeg": (b"\xff\xd8\xff",),
         ".bmp": (b"BM",)}


def _check_magic(path: Path, sfx: str) -> None:
    """An empty file, or one whose first bytes are not its suffix's format, is 'not an image'."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head:
        raise InputError(f"{path.name} is empty, not an image")
    if not any(head.startswith(m) for m in MAGIC[sfx]):
        raise InputError(f"{path.name} is not a {sfx.lstrip('.').upper()} image (its content is something else)")


def read_image(path) -> ImageFile:
    """Read one image; a missing, unsupported or corrupt file is a clear InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file {path} does not exist")
    sfx = suffix(path)
    try:
        if sfx in (".nii", ".nii.gz"):
            import nibabel as nib

            img = nib.load(str(path))
            data = np.asanyarray(img.dataobj)
            return ImageFile(data, "nifti", {"affine": img.affine, "header": img.header,
                                             "zooms": tuple(float(z) for z in img.header.get_zooms())})
        if sfx in (".tif", ".tiff"):
            import tifffile

            return ImageFile(tifffile.imread(str(path)), "tiff")
        if sfx in (".png", ".jpg", ".jpeg", ".bmp"):
            import imageio.v3 as iio

            _check_magic(path, sfx)
            return ImageFile(np.asarray(iio.imread(str(path))), sfx.lstrip("."))
    except InputError:
        raise
    except Exception as exc:  # libraries' messages can run to several lines of advice: keep the first
        first = (str(exc).strip().splitlines() or [""])[0]
        raise InputError(f"cannot read {path.name}: {type(exc).__name__}: {first}") from None
    raise InputError(f"{path.name}: unsupported file type {sfx!r}; supported: {', '.join(IMAGE_SUFFIXES)}")


def write_image(path, data: np.ndarray, like: ImageFile | None = None) -> Path:
    """Write `data` in the format given by the path's suffix, atomically."""
    from .checkpoint import atomic_write

    path = Path(path)
    sfx = suffix(path)

    def _write(tmp):
        if sfx in (".nii", ".nii.gz"):
            import nibabel as nib

            affine = like.meta.get("affine") if like and like.format == "nifti" else np.eye(4)
            header = like.meta.get("header") if like and like.format == "nifti" else None
            header = header.copy() if header is not None else None
            img = nib.Nifti1Image(np.asarray(data), affine, header)
            if header is not None:
                img.set_data_dtype(np.asarray(data).dtype)
            nib.save(img, tmp + sfx)  # nibabel picks compression from the suffix
            os.replace(tmp + sfx, tmp)
        elif sfx in (".tif", ".tiff"):
            import tifffile

            tifffile.imwrite(tmp, data)
        elif sfx in (".png", ".jpg", ".jpeg", ".bmp"):
            import imageio.v3 as iio

            arr = np.asarray(data)
            if sfx != ".png" and arr.dtype != np.uint8:
                raise InputError(f"{path.name}: {sfx} stores 8-bit only; got {arr.dtype}, write TIFF or PNG")
            iio.imwrite(tmp, arr, extension=sfx)
        else:
            raise InputError(f"{path.name}: cannot write {sfx!r}; use {', '.join(IMAGE_SUFFIXES)}")

    return atomic_write(path, _write)


def list_images(paths) -> list[Path]:
    """Expand files and folders into a sorted list of image files."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.iterdir() if q.is_file() and suffix(q) in IMAGE_SUFFIXES)
        elif p.exists():
            out.append(p)
        else:
            raise InputError(f"input {p} does not exist")
    if not out:
        raise InputError(f"no image files found in {', '.join(map(str, paths))}")
    return out


def volume_to_slices(data: np.ndarray, axis: int = 2) -> np.ndarray:
    """(X, Y, Z) voxel array -> (n, rows, cols) slices along `axis` in display orientation
    (the convention of im2im_core.data.mni, so models trained there see familiar slices)."""
    if data.ndim != 3:
        raise InputError(f"expected a 3D volume, got shape {data.shape}")
    return np.ascontiguousarray(np.moveaxis(data, axis, 0).transpose(0, 2, 1)[:, ::-1, :])


def slices_to_volume(slices: np.ndarray, axis: int = 2) -> np.ndarray:
    """Inverse of `volume_to_slices`."""
    return np.ascontiguousarray(np.moveaxis(slices[:, ::-1, :].transpose(0, 2, 1), 0, axis))
