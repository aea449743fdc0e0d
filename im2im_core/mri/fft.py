"""Centred, orthonormal 2D FFT helpers over the last two dims (DC at the array centre)."""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["as_complex", "fft2c", "ifft2c", "fft2c_np", "ifft2c_np", "mirror", "mirror_np", "ORIENTATIONS",
           "orient", "unorient"]

#: the eight orientations of the pixel grid (flip rows, flip columns, transpose), flips taken about
#: the centre pixel: each maps the k-space of an image to the k-space of the image so oriented
ORIENTATIONS = tuple((fy, fx, tr) for fy in (False, True) for fx in (False, True) for tr in (False, True))

_DIMS = (-2, -1)


def as_complex(x: torch.Tensor) -> torch.Tensor:
    """Promote a real tensor to the matching complex dtype so FFT code has one input kind."""
    if torch.is_complex(x):
        return x
    if x.dtype == torch.float64:
        return x.to(torch.complex128)
    return x.to(torch.float32).to(torch.complex64)


def fft2c(x: torch.Tensor) -> torch.Tensor:
    """Image -> centred k-space; orthonormal so energy (Parseval) and noise levels are preserved."""
    x = as_complex(x)
    k = torch.fft.fft2(torch.fft.ifftshift(x, dim=_DIMS), dim=_DIMS, norm="ortho")
    return torch.fft.fftshift(k, dim=_DIMS)


def ifft2c(k: torch.Tensor) -> torch.Tensor:
    """Centred k-space -> image; exact inverse of fft2c (up to float round-off)."""
    k = as_complex(k)
    x = torch.fft.ifft2(torch.fft.ifftshift(k, dim=_DIMS), dim=_DIMS, norm="ortho")
    return torch.fft.fftshift(x, dim=_DIMS)


def fft2c_np(x: np.ndarray) -> np.ndarray:
    """NumPy twin of fft2c for data-prep code that never touches torch."""
    k = np.fft.fft2(np.fft.ifftshift(np.asarray(x), axes=_DIMS), axes=_DIMS, norm="ortho")
    return np.fft.fftshift(k, axes=_DIMS)


def ifft2c_np(k: np.ndarray) -> np.ndarray:
    """NumPy twin of ifft2c (inverse of fft2c_np)."""
    x = np.fft.ifft2(np.fft.ifftshift(np.asarray(k), axes=_DIMS), axes=_DIMS, norm="ortho")
    return np.fft.fftshift(x, axes=_DIMS)


def mirror_np(a: np.ndarray, axes=_DIMS) -> np.ndarray:
    """a at -u for every centred k-space position u (a[-u mod N] in the unshifted layout), along
    `axes`: a real image's k-space k satisfies k == conj(mirror_np(k)). The same map flips an image
    about its centre pixel, and the FFT commutes with it."""
    axes = tuple(axes)
    u = np.fft.ifftshift(np.asarray(a), axes=axes)
    return np.fft.fftshift(np.roll(np.flip(u, axes), (1,) * len(axes), axes), axes=axes)


def mirror(t: torch.Tensor, dims=_DIMS) -> torch.Tensor:
    """Torch twin of mirror_np."""
    dims = tuple(dims)
    u = torch.fft.ifftshift(t, dim=dims)
    return torch.fft.fftshift(torch.roll(torch.flip(u, dims), (1,) * len(dims), dims), dim=dims)


def orient(t: torch.Tensor, o: tuple) -> torch.Tensor:
    """t (an image, its centred k-space or a mask) in orientation `o` of ORIENTATIONS."""
    fy, fx, tr = o
    if fy:
        t = mirror(t, (-2,))
    if fx:
        t = mirror(t, (-1,))
    return t.transpose(-1, -2) if tr else t


def unorient(t: torch.Tensor, o: tuple) -> torch.Tensor:
    """The inverse of orient(., o)."""
    fy, fx, tr = o
    if tr:
        t = t.transpose(-1, -2)
    if fx:
        t = mirror(t, (-1,))
    return mirror(t, (-2,)) if fy else t
