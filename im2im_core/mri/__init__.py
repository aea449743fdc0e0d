"""Pure-tensor k-space MRI physics: centred FFTs, undersampling masks, data consistency.

Depends only on numpy and torch (never napari/Qt) so it can run in training scripts,
tests and headless workers.
"""
from .consistency import data_consistency, undersample, zero_filled
from .fft import as_complex, fft2c, fft2c_np, ifft2c, ifft2c_np
from .masks import (
    MASK_KINDS,
    equispaced_lines,
    gaussian1d,
    gaussian2d,
    make_mask,
    poisson2d,
    random_lines,
)

__all__ = [
    "MASK_KINDS",
    "as_complex",
    "data_consistency",
    "equispaced_lines",
    "fft2c",
    "fft2c_np",
    "gaussian1d",
    "gaussian2d",
    "ifft2c",
    "ifft2c_np",
    "make_mask",
    "poisson2d",
    "random_lines",
    "undersample",
    "zero_filled",
]
