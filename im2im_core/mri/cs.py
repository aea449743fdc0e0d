"""Classical compressed-sensing baselines (FISTA) a learned model must beat: total variation and
L1 in an orthogonal wavelet basis.

min_x 1/2 ||M F x - y||^2 + w R(x) for a real-valued image x, or with `complex_image` (k-space of
an image with phase, as raw data has it) a complex x regularised in its real and imaginary parts,
returned as its magnitude; the TV proximal step is Chambolle's algorithm from scikit-image, the
wavelet one an exact soft threshold (PyWavelets, periodised, so the transform is orthonormal).
Their weights and iteration counts are tuned on validation images (`tune`), never on the test images.
"""
from __future__ import annotations

import numpy as np

from .fft import fft2c_np, ifft2c_np


def _fista(kspace: np.ndarray, mask: np.ndarray, prox, iterations: int, keep=(),
           complex_image: bool = False) -> np.ndarray | dict:
    """Real image (`complex_image`: the magnitude of a complex one) from masked centred k-space
    (FISTA, step 1 since ||M F|| <= 1); with `keep`, {n: the iterate after n iterations} for each n
    in keep (one run serves every count)."""
    mask = mask.astype(bool)
    part = (lambda v: v) if complex_image else np.real
    step = (lambda v: prox(v.real) + 1j * prox(v.imag)) if complex_image else prox
    out = np.abs if complex_image else np.copy
    x = part(ifft2c_np(kspace * mask))
    z, t, kept = x.copy(), 1.0, {}
    for i in range(1, iterations + 1):
        grad = part(ifft2c_np(mask * (fft2c_np(z) - kspace)))
        x_new = step(z - grad)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = x_new + ((t - 1) / t_new) * (x_new - x)
        x, t = x_new, t_new
        if i in keep:
            kept[i] = out(x)
    return kept if keep else out(x)


def tv_reconstruction(kspace: np.ndarray, mask: np.ndarray, weight: float = 0.005, iterations: int = 60,
                      keep=(), complex_image: bool = False) -> np.ndarray:
    """TV-regularised reconstruction (Chambolle's TV denoising as the proximal step)."""
    from skimage.restoration import denoise_tv_chambolle

    return _fista(kspace, mask, lambda v: denoise_tv_chambolle(v, weight=weight), iterations, keep, complex_image)


def wavelet_reconstruction(kspace: np.ndarray, mask: np.ndarray, weight: float = 0.01, iterations: int = 100,
                           keep=(), wavelet: str = "db4", level: int = 4, spin: bool = True,
                           complex_image: bool = False) -> np.ndarray:
    """L1-wavelet reconstruction: soft thresholds on the detail coefficients of an orthogonal
    wavelet (sides must be divisible by 2**level). `spin`: cycle spinning, a new random circular
    shift before each threshold (fixed seed), which removes the decimated transform's blocky,
    shift-dependent artefacts (the usual practice in CS-MRI, e.g. BART's random shifts)."""
    try:
        import pywt
    except ImportError:
        raise ImportError("the L1-wavelet baseline needs PyWavelets: pip install PyWavelets") from None

    rng = np.random.default_rng(0)

    def prox(v):
        shift = tuple(rng.integers(0, 2 ** level, 2)) if spin else (0, 0)
        coeffs = pywt.wavedec2(np.roll(v, shift, (0, 1)), wavelet, mode="periodization", level=level)
        kept = [coeffs[0]] + [tuple(pywt.threshold(c, weight, "soft") for c in detail) for detail in coeffs[1:]]
        out = pywt.waverec2(kept, wavelet, mode="periodization")[: v.shape[0], : v.shape[1]]
        return np.roll(out, (-shift[0], -shift[1]), (0, 1))

    return _fista(kspace, mask, prox, iterations, keep, complex_image)


METHODS = {"TV": tv_reconstruction, "L1-wavelet": wavelet_reconstruction}
#: the grids `tune` searches (weights on images in [0, 1]; iterations up to where PSNR stops moving)
GRIDS = {"TV": {"weight": (0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005), "iterations": (100, 200, 400, 800)},
         "L1-wavelet": {"weight": (0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005), "iterations": (100, 200, 400, 800)}}


def tune(method: str, kspaces: np.ndarray, truths: np.ndarray, mask: np.ndarray, score,
         grid: dict | None = None, complex_image: bool = False) -> tuple[dict, float]:
    """The (weight, iterations) of `method` from `grid` (default GRIDS[method]) with the best mean
    `score(pred, truth)` on validation slices; returns (settings, that score). One run per weight
    serves every iteration count."""
    grid = grid or GRIDS[method]
    counts = grid["iterations"]
    best, best_score = None, -np.inf
    for w in grid["weight"]:
        runs = [METHODS[method](k, mask, weight=w, iterations=max(counts), keep=counts, complex_image=complex_image)
                for k in kspaces]
        for n in counts:
            s = float(np.mean([score(r[n], g) for r, g in zip(runs, truths)]))
            if s > best_score:
                best, best_score = {"weight": w, "iterations": n}, s
    return best, best_score
