"""Undersampling, zero-filling and k-space data consistency on torch tensors shaped (..., H, W).

Conventions: k-space is centred (DC at (H//2, W//2)) and orthonormal, as produced by
``fft2c``.  Masks are boolean (or 0/1) arrays/tensors that broadcast against (..., H, W),
e.g. an (H, W) mask applies to every item of a batch.  A *real* image tensor is treated as a
magnitude image with zero phase; functions that return an image then return its magnitude
(``|.|``), so real in -> real out and complex in -> complex out.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch

from .fft import as_complex, fft2c, ifft2c, mirror

__all__ = ["undersample", "zero_filled", "data_consistency", "conjugate_completion"]


def _mask_like(mask, ref: torch.Tensor) -> torch.Tensor:
    """Bring a numpy/torch mask to a bool tensor on ref's device so it broadcasts with ref."""
    m = torch.as_tensor(np.asarray(mask) if not torch.is_tensor(mask) else mask, device=ref.device)
    return m if m.dtype == torch.bool else m != 0


def _zero(ref: torch.Tensor) -> torch.Tensor:
    """A zero scalar of ref's dtype/device, so torch.where keeps the complex dtype exactly."""
    return torch.zeros((), dtype=ref.dtype, device=ref.device)


def _same_kind(image: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Return a complex result as magnitude when the caller passed a real (magnitude) image."""
    return image if torch.is_complex(like) else image.abs()


def undersample(image: torch.Tensor, mask):
    """Simulate an accelerated scan: returns (masked complex k-space, zero-filled image).

    The zero-filled image has the same kind as ``image`` (real magnitude in -> magnitude out).
    """
    k = fft2c(image)
    m = _mask_like(mask, k)
    k_masked = torch.where(m, k, _zero(k))
    return k_masked, _same_kind(ifft2c(k_masked), image)


def zero_filled(kspace_masked: torch.Tensor, magnitude: bool = False) -> torch.Tensor:
    """Baseline reconstruction: inverse FFT of k-space with unsampled entries left at zero."""
    x = ifft2c(kspace_masked)
    return x.abs() if magnitude else x


def data_consistency(image_pred: torch.Tensor, kspace_measured: torch.Tensor, mask, lam=None) -> torch.Tensor:
    """Enforce agreement with the measured k-space samples so the network cannot alter them.

    With k_pred = fft2c(image_pred) and k_meas the measured (masked) k-space:

    * ``lam is None`` (hard / noiseless): k = k_meas where sampled, k_pred elsewhere, so the
      measured samples are preserved exactly (up to FFT round-off) for complex inputs.
    * ``lam >= 0`` (soft, DC-CNN / Schlemper et al. 2017): k = (k_pred + lam * k_meas) / (1 + lam)
      where sampled, k_pred elsewhere.  lam = 0 leaves k_pred unchanged, lam = 1 moves halfway,
      lam -> inf approaches hard replacement.  ``lam`` may be a (learnable) tensor.

    Returns ifft2c(k).  A real ``image_pred`` is a zero-phase magnitude image and the
    magnitude of the result is returned; taking ``|.|`` discards the phase, so in that case
    fft2c(output) need not equal k_meas exactly (pass complex images for exact consistency).
    """
    k_pred = fft2c(image_pred)
    k_meas = as_complex(kspace_measured).to(device=k_pred.device)
    dtype = torch.promote_types(k_pred.dtype, k_meas.dtype)
    k_pred, k_meas = k_pred.to(dtype), k_meas.to(dtype)
    m = _mask_like(mask, k_pred)
    if lam is None:
        k_new = k_meas
    else:
        if isinstance(lam, numbers.Real) and not lam >= 0:
            raise ValueError(f"lam must be None (hard data consistency) or >= 0, got {lam!r}")
        k_new = (k_pred + lam * k_meas) / (1 + lam)
    return _same_kind(ifft2c(torch.where(m, k_new, k_pred)), image_pred)


def conjugate_completion(kspace: torch.Tensor, mask) -> tuple[torch.Tensor, torch.Tensor]:
    """(k-space, mask) of a REAL image with every sample its conjugate symmetry gives: where u was
    not measured but -u was, k(u) = conj(k(-u)) (partial-Fourier physics, exact for real images)."""
    m = _mask_like(mask, kspace)
    k = as_complex(kspace)
    mm = mirror(m)
    return torch.where(m, k, torch.where(mm, mirror(k).conj(), _zero(k))), m | mm
