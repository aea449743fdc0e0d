"""Reading and writing the files users bring: PNG/JPEG, TIFF (16-bit), NIfTI, folders of them,
and pickled PyTorch weights (safely).

The CLI, the training datasets and the napari reader/writer all read and write through here.
Writes are atomic (temp file, fsync, rename), so a failure never leaves a partial output file.
NIfTI keeps its affine and header; arrays come back in the file's own axis order unless a
canonical (RAS+) orientation is asked for.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError, ConfigError, InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".nii", ".nii.gz", ".bmp")
PLANAR_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")  # 2D images (training folders)
NIFTI_SUFFIXES = (".nii", ".nii.gz")


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call `write(tmp_path)`, fsync the result, then rename it over `path`."""
    path = Path(path)
    try:  # a parent that is a file, a read-only folder: one clear error, nothing written
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


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


_SPACE_UNITS = {"mm": "mm", "micron": "um", "meter": "m"}
_TIME_UNITS = {"sec": "s", "msec": "ms", "usec": "us"}


def _nifti(path: Path, canonical: bool) -> ImageFile:
    import nibabel as nib

    img = nib.load(str(path))
    orientation = "".join(nib.aff2axcodes(img.affine))
    if canonical:
        img = nib.as_closest_canonical(img)
    space, time = img.header.get_xyzt_units()
    return ImageFile(np.asanyarray(img.dataobj), "nifti", {
        "affine": img.affine, "header": img.header, "zooms": tuple(float(z) for z in img.header.get_zooms()),
        "orientation": orientation, "space_unit": _SPACE_UNITS.get(space, "mm"),
        "time_unit": _TIME_UNITS.get(time, "s")})


def read_image(path, canonical: bool = False) -> ImageFile:
    """Read one image; a missing, unsupported or corrupt file is a clear InputError.
    `canonical`: NIfTI volumes are turned to the closest RAS+ orientation (the original axis codes
    stay in meta["orientation"])."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file {path} does not exist")
    sfx = suffix(path)
    try:
        if sfx in NIFTI_SUFFIXES:
            return _nifti(path, canonical)
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
        raise InputError(f"cannot read image {path.name}: {type(exc).__name__}: {first}") from None
    raise InputError(f"{path.name}: unsupported file type {sfx!r}; supported: {', '.join(IMAGE_SUFFIXES)}")


def write_nifti(path, data: np.ndarray, affine=None, header=None, zooms=None, units=None) -> Path:
    """Write a NIfTI volume atomically; `header` (copied) keeps a source file's fields, `zooms`
    and `units` (space, time) set the voxel size where there is no header to keep."""
    import nibabel as nib

    path = Path(path)
    arr = np.asarray(data)
    header = header.copy() if header is not None else None
    img = nib.Nifti1Image(arr, np.eye(4) if affine is None else affine, header)
    if header is not None:
        img.set_data_dtype(arr.dtype)
    if zooms is not None:
        img.header.set_zooms(tuple(abs(float(z)) for z in zooms))
    if units is not None:
        img.header.set_xyzt_units(*units)
    sfx = suffix(path)

    def _write(tmp):
        nib.save(img, tmp + sfx)  # nibabel picks compression from the suffix
        os.replace(tmp + sfx, tmp)

    return atomic_write(path, _write)


def write_image(path, data: np.ndarray, like: ImageFile | None = None) -> Path:
    """Write `data` in the format given by the path's suffix, atomically."""
    path = Path(path)
    sfx = suffix(path)
    if sfx in NIFTI_SUFFIXES:
        nifti = like is not None and like.format == "nifti"
        return write_nifti(path, data, like.meta.get("affine") if nifti else None,
                           like.meta.get("header") if nifti else None)

    def _write(tmp):
        if sfx in (".tif", ".tiff"):
            import tifffile

            tifffile.imwrite(tmp, data)
        elif sfx in (".png", ".jpg", ".jpeg", ".bmp"):
            import imageio.v3 as iio

            arr = np.asarray(data)
            if sfx != ".png" and arr.dtype != np.uint8:
                raise InputError(f"{path.name}: {sfx} stores 8-bit only; got {arr.dtype}, write TIFF or PNG")
            if arr.dtype not in (np.uint8, np.uint16):
                raise InputError(f"{path.name}: PNG stores 8- or 16-bit integers; got {arr.dtype}, write TIFF or NIfTI")
            iio.imwrite(tmp, arr, extension=sfx)
        else:
            raise InputError(f"{path.name}: cannot write {sfx!r}; use {', '.join(IMAGE_SUFFIXES)}")

    return atomic_write(path, _write)


def list_images(paths) -> list[Path]:
    """Expand files and folders into a sorted list of image files."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            # hidden files (".x.png", macOS "._x.png" resource forks) are not images of the folder
            out += sorted(q for q in p.iterdir() if q.is_file() and not q.name.startswith(".")
                          and suffix(q) in IMAGE_SUFFIXES)
        elif p.exists():
            out.append(p)
        else:
            raise InputError(f"input {p} does not exist")
    if not out:
        raise InputError(f"no image files found in {', '.join(map(str, paths))}")
    return out


def list_files(folder, what: str, exts=PLANAR_SUFFIXES) -> list[Path]:
    """Sorted image files of a training folder; a missing or empty folder is a clear error."""
    p = Path(folder).expanduser()
    if not str(folder):
        raise ConfigError(f"{what} folder not given")
    if not p.exists():
        raise InputError(f"{what} folder {p} does not exist")
    if not p.is_dir():
        raise InputError(f"{what} path {p} is not a folder")
    files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".") and f.name.lower().endswith(exts))
    if not files:
        raise InputError(f"{what} folder {p} contains no images ({', '.join(exts)})")
    return files


def probe_image(path: Path) -> None:
    """Open a file's header (and check PNG/JPEG integrity) without decoding it."""
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(str(path)) as tf:
                _ = tf.pages[0].shape
        else:
            from PIL import Image

            with Image.open(path) as im:
                im.verify()
    except Exception as exc:
        raise InputError(f"cannot read image {path}: {exc}") from None


def safe_torch_load(path, what: str = "PyTorch weights file"):
    """torch.load restricted to tensors and plain containers: a file that needs arbitrary
    unpickling is refused before anything in it runs. Errors are CheckpointErrors naming `what`."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} {path} does not exist" if not path.exists() else
                              f"{what} {path} is not a regular file")
    with open(path, "rb") as fh:
        head = fh.read(9)
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < path.stat().st_size:
        raise CheckpointError(f"{path.name} is a .safetensors file with a {path.suffix} name; rename it to "
                              f"{path.stem}.safetensors")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = str(exc).strip().splitlines()
        detail = next((ln for ln in lines if "Unsupported" in ln or "global" in ln.lower()), "")
        if not (head[:1] == b"\x80" or head[:2] == b"PK"):  # no pickle protocol, no zip: not a weights file
            raise CheckpointError(f"{path.name} is not a readable {what} ({(lines or [''])[0].strip()})") from None
        raise CheckpointError(
            f"{path.name} refused: it needs arbitrary unpickling, which could run code; only plain "
            f"state_dicts (tensors in dicts) are loaded. ({detail.strip()})") from None
    except Exception as exc:  # an empty or truncated file gives many error types; name the file
        first = (str(exc).strip().splitlines() or [""])[0]
        raise CheckpointError(f"{path.name} is not a readable {what} ({type(exc).__name__}: {first})") from None


def volume_to_slices(data: np.ndarray, axis: int = 2) -> np.ndarray:
    """(X, Y, Z) voxel array -> (n, rows, cols) slices along `axis` in display orientation
    (the convention of im2im_core.data.mni, so models trained there see familiar slices)."""
    if data.ndim != 3:
        raise InputError(f"expected a 3D volume, got shape {data.shape}")
    return np.ascontiguousarray(np.moveaxis(data, axis, 0).transpose(0, 2, 1)[:, ::-1, :])


def slices_to_volume(slices: np.ndarray, axis: int = 2) -> np.ndarray:
    """Inverse of `volume_to_slices`."""
    return np.ascontiguousarray(np.moveaxis(slices[:, ::-1, :].transpose(0, 2, 1), 0, axis))
