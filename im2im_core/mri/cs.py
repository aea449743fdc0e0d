"""Classical compressed-sensing baseline: total-variation regularised reconstruction (FISTA).

min_x 1/2 ||M F x - y||^2 + w TV(x) for a real-valued image x; the TV proximal step is
Chambolle's algorithm from scikit-image. It is the reference a learned model must beat.
"""
from __future__ import annotations

import numpy as np

from .fft import fft2c_np, ifft2c_np


def tv_reconstruction(kspace: np.ndarray, mask: np.ndarray, weight: float = 0.005, iterations: int = 60) -> np.ndarray:
    """Real image from masked centred k-space (FISTA, step 1 since ||M F|| <= 1)."""
    from skimage.restoration import denoise_tv_chambolle

    mask = mask.astype(bool)
    x = np.real(ifft2c_np(kspace * mask))
    z, t = x.copy(), 1.0
    for _ in range(iterations):
        grad = np.real(ifft2c_np(mask * (fft2c_np(z) - kspace)))
        x_new = denoise_tv_chambolle(z - grad, weight=weight)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = x_new + ((t - 1) / t_new) * (x_new - x)
        x, t = x_new, t_new
    return x
