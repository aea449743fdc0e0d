"""Measured k-space in: single-coil complex k-space reconstructed by an `mri_recon` model.

Files: a complex `.npy` ((H, W) or (slices, H, W)), or an HDF5 file with a `kspace` dataset in
that layout (as fastMRI's single-coil files hold it; an optional `mask` dataset is read too).

Convention (`fft.py`): k-space is centred and orthonormal, DC at (H // 2, W // 2):
    image = fftshift(ifft2(ifftshift(kspace), norm="ortho"))
A sample is measured where the mask is True (or, without a mask, where k-space is not exactly 0).

The shipped models reconstruct magnitude images in a [0, 1] window. Each slice is scaled by the
maximum of its zero-filled magnitude (the network clips its output to that scale), reconstructed, and (by default) made consistent
with the measurements in the complex domain, with the phase of the zero-filled image's sampled
centre; the result is returned in the k-space's own scale.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, NonFiniteOutput
from .envelope import warn_outside
from .consistency import conjugate_completion
from .fft import fft2c_np, ifft2c_np, mirror_np

#: fraction of each axis around DC whose samples set the phase estimate
PHASE_CENTRE = 0.08


def read_npy(path) -> np.ndarray:
    """A plain `.npy` array; a pickled or broken file is an InputError (loading never runs code)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path.name} is not a plain numpy array file ({str(exc).splitlines()[0][:100]})") from None


def read_kspace(path) -> tuple[np.ndarray, np.ndarray | None]:
    """(k-space, mask or None) from a complex `.npy` or an HDF5 file with a `kspace` dataset."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"k-space file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return read_npy(path), None
    if suffix in (".h5", ".hdf5"):
        try:
            import h5py
        except ImportError:
            raise InputError("HDF5 k-space needs h5py: pip install h5py") from None
        try:
            with h5py.File(path, "r") as f:
                if "kspace" not in f:
                    raise InputError(f"{path.name} has no 'kspace' dataset (it has {sorted(f)})")
                return np.asarray(f["kspace"]), (np.asarray(f["mask"]) if "mask" in f else None)
        except OSError as exc:
            raise InputError(f"{path.name} is not a readable HDF5 file ({exc})") from None
    raise InputError(f"{path.name}: k-space files are .npy (complex) or .h5/.hdf5 with a 'kspace' dataset")


def _child(node, name: str):
    """The first element below `node` named `name`, whatever its XML namespace."""
    return next(e for e in node.iter() if e.tag.rsplit("}", 1)[-1] == name)


def kspace_pixel_size(path, shape) -> tuple[float, ...] | None:
    """The image's pixel size in mm, (slice, row, column) for (slices, H, W) k-space, from the ISMRMRD
    header fastMRI files carry (encoded field of view / matrix); None for .npy or without a header."""
    path = Path(path)
    if path.suffix.lower() not in (".h5", ".hdf5"):
        return None
    import xml.etree.ElementTree as ET

    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "ismrmrd_header" not in f:
                return None
            raw = f["ismrmrd_header"][()]
        root = ET.fromstring(raw.decode() if isinstance(raw, bytes) else str(raw))
        enc = _child(root, "encodedSpace")
        val = {f"{kind}_{ax}": float(_child(_child(enc, kind), ax).text)
               for kind in ("matrixSize", "fieldOfView_mm") for ax in ("x", "y", "z")}
    except (StopIteration, AttributeError, ValueError, TypeError, ET.ParseError, OSError):
        return None
    size = {ax: val[f"fieldOfView_mm_{ax}"] / val[f"matrixSize_{ax}"] for ax in ("x", "y", "z")}
    h, w = shape[-2:]
    if (h, w) == (val["matrixSize_x"], val["matrixSize_y"]):
        rows, cols = size["x"], size["y"]
    elif (h, w) == (val["matrixSize_y"], val["matrixSize_x"]):
        rows, cols = size["y"], size["x"]
    else:
        return None
    return ((size["z"],) if len(shape) == 3 else ()) + (rows, cols)


def check_kspace(kspace, mask=None) -> tuple[np.ndarray, np.ndarray]:
    """(k-space as complex64 (N, H, W), mask as bool (N or 1, H, W)), or an InputError naming
    the problem: a real dtype, the wrong number of axes, NaN/Inf, a mask that does not fit."""
    k = np.asarray(kspace)
    if not np.iscomplexobj(k):
        raise InputError(f"k-space must be complex (complex64/complex128), got {k.dtype}; a magnitude image "
                         "goes to translate() instead")
    if k.ndim not in (2, 3) or min(k.shape[-2:]) < 8:
        raise InputError(f"k-space must be (H, W) or (slices, H, W) single-coil data with sides >= 8, got shape "
                         f"{k.shape}")
    if not np.isfinite(k).all():
        raise InputError(f"k-space contains {int((~np.isfinite(k)).sum())} NaN/Inf samples")
    # the image is a sum over H x W samples: finite values that overflow once summed (or cast to
    # complex64) would come back as an all-NaN image
    peak = float(np.abs(k).max()) if k.size else 0.0
    if peak * np.sqrt(k.shape[-2] * k.shape[-1]) > np.finfo(np.float32).max / 1e3:
        raise InputError(f"k-space magnitudes reach {peak:.3g}, beyond what single precision can transform; "
                         "scale the data down")
    k = k.reshape(-1, *k.shape[-2:]).astype(np.complex64)
    if mask is None:
        m = k != 0
    else:
        m = np.asarray(mask)
        if m.ndim == 1 and m.shape[0] == k.shape[-1]:  # fastMRI: one flag per phase-encoding column
            m = np.broadcast_to(m[None, :], k.shape[-2:])
        if m.shape[-2:] != k.shape[-2:] or (m.ndim == 3 and m.shape[0] not in (1, k.shape[0])) or m.ndim > 3:
            raise InputError(f"the mask's shape {m.shape} does not match the k-space's {k.shape[-2:]} "
                             f"({k.shape[0]} slice(s))")
        m = (m != 0).reshape(-1, *k.shape[-2:])
    if not m.any():
        raise InputError("the mask (or the k-space) has no measured samples")
    return k, m


def phase_estimate(kspace: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """exp(i phase) of the image made from the measured samples near DC: a smooth phase map."""
    h, w = kspace.shape[-2:]
    centre = np.zeros((h, w), bool)
    ch, cw = max(2, round(h * PHASE_CENTRE / 2)), max(2, round(w * PHASE_CENTRE / 2))
    centre[h // 2 - ch:h // 2 + ch, w // 2 - cw:w // 2 + cw] = True
    low = ifft2c_np(np.where(mask & centre, kspace, 0))
    return np.exp(1j * np.angle(low))


def is_real_image(kspace: np.ndarray, mask: np.ndarray, tol: float = 1e-4) -> bool:
    """Whether measured k-space is that of a real image (a magnitude image, as when an acquisition is
    simulated from one): conjugate-symmetric, k(-u) = conj(k(u)), wherever u and -u were both sampled.
    Raw scanner data, whose images have phase, is not."""
    pairs = mask & mirror_np(mask)
    if not pairs.any():
        return False
    k = kspace[pairs]
    return bool(np.linalg.norm(k - np.conj(mirror_np(kspace)[pairs])) <= tol * max(np.linalg.norm(k), 1e-30))


def reconstruct_kspace(model, kspace, mask=None, *, data_consistency: bool = True,
                       complex_output: bool = False, real_image: bool | None = None,
                       ensemble: bool = True) -> np.ndarray:
    """Reconstruct measured single-coil k-space with an `mri_recon` model (a Translator or the model).
    Returns the magnitude image(s) ((H, W) or (slices, H, W)) in the k-space's scale, or the complex
    image(s) with `complex_output`. `real_image` (default: `is_real_image` per slice) says the image
    has no phase, which a model trained with the real-image constraint (`real_fraction`) then uses.
    A cascade's complex output keeps its own phase and is data-consistent already; a U-Net's
    magnitude takes the phase of the measured centre before `data_consistency` re-imposes the samples.
    `ensemble` (cascades): the mean over the orientations the model allows (`MRIRecon.orientations`,
    four or eight), that many times the work."""
    net = getattr(model, "model", model)
    if not isinstance(ensemble, bool):
        raise InputError(f"ensemble must be True or False, got {ensemble!r}")
    if getattr(net, "family", None) != "mri_recon":
        raise InputError(f"k-space reconstruction needs an mri_recon model, not {getattr(net, 'family', net)!r}")
    shape = np.shape(kspace)
    k, m = check_kspace(kspace, mask)
    warn_outside(net.config, m[0])
    device = next(net.parameters()).device
    out = []
    for i in range(k.shape[0]):
        ki, mi = np.where(m[i % len(m)], k[i], 0), m[i % len(m)]
        real = is_real_image(ki, mi) if real_image is None else bool(real_image)
        if real and net.config.cascades:  # what conjugate symmetry adds, for the final DC too
            kc, mc = conjugate_completion(torch.from_numpy(ki), torch.from_numpy(mi))
            ki, mi = kc.numpy(), mc.numpy()
        zf = ifft2c_np(ki)
        # the maximum, not a percentile: the U-Net's output is clipped to [0, 1] of this scale
        scale = float(np.abs(zf).max()) or 1.0
        kt = torch.from_numpy(ki / scale).to(device)[None, None]
        mt = torch.from_numpy(mi).to(device)[None, None]
        with torch.no_grad():
            if net.config.cascades:  # its own phase, unclipped: the image may be brighter than zf's peak
                image = net.reconstruct_complex(kt, mt, real=real, ensemble=ensemble).cpu().numpy()[0, 0] * scale
            else:
                x = torch.from_numpy(np.clip(np.abs(zf) / scale, 0, 1).astype(np.float32) * 2 - 1)[None, None]
                recon01 = (net.reconstruct(x.to(device), kt, mt, real=real).float().cpu().numpy()[0, 0] + 1) / 2
                image = recon01 * scale * (1 if real else phase_estimate(ki, mi))
        if data_consistency:
            kc = fft2c_np(image)
            image = ifft2c_np(np.where(mi, ki, kc))
        out.append(image.astype(np.complex64) if complex_output else np.abs(image).astype(np.float32))
    res = np.stack(out)
    if not np.isfinite(res).all():
        raise NonFiniteOutput(f"the reconstruction has {int((~np.isfinite(res)).sum())} NaN/Inf pixels")
    return res[0] if len(shape) == 2 else res
