"""Centred, orthonormal 2D FFT helpers over the last two dims (DC at the array centre)."""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["as_complex", "fft2c", "ifft2c", "fft2c_np", "ifft2c_np", "mirror", "mirror_np"]

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


def mirror_np(a: np.ndarray) -> np.ndarray:
    """a at -u for every centred k-space position u (a[-u mod N] in the unshifted layout): a real
    image's k-space k satisfies k == conj(mirror_np(k))."""
    u = np.fft.ifftshift(np.asarray(a), axes=_DIMS)
    return np.fft.fftshift(np.roll(np.flip(u, _DIMS), 1, _DIMS), axes=_DIMS)


def mirror(t: torch.Tensor) -> torch.Tensor:
    """Torch twin of mirror_np."""
    u = torch.fft.ifftshift(t, dim=_DIMS)
    return torch.fft.fftshift(torch.roll(torch.flip(u, _DIMS), (1, 1), _DIMS), dim=_DIMS)
