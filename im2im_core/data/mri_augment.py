"""Appearance and shape augmentation that makes a few clean volumes look like many real scans.

A template or one subject is smooth and noise-free; real acquisitions differ in shape (affine and
elastic deformation), coil shading (a smooth multiplicative bias field), contrast (a monotone
intensity curve) and noise (Rician: the magnitude of a complex image with Gaussian noise). Every
draw comes from torch's global generator, which the trainer reseeds from (seed, step, rank), so a
resumed run sees the same images. Images are (C, H, W) tensors in [-1, 1]; the images of a
paired sample share one draw (each gets its own noise realisation, as two acquisitions would).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InputError
from .transforms import Augment


def _uniform(lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand(()))


@dataclass
class MRIAugment(Augment):
    """Augment's resize/crop/flip, then (each with probability `p`) a random affine warp of the
    crop (rotation up to `rotate` degrees, scale within 1 +/- `scale`, shear up to `shear`, in
    normalised coordinates; the field a warp brings in is black), an elastic warp (a 4x4 grid of
    Gaussian displacements with standard deviation `elastic` pixels, bicubic in between), a
    smooth bias field exp(`bias` * b) with b bicubic from a 3x3 grid in [-1, 1] (slight overshoot
    possible), a monotone intensity curve x**gamma with log(gamma) within +/- `gamma`, and Rician
    noise of a standard deviation drawn from [0, `noise`] of the [0, 1] range.

    With probability `curves` the gamma curve gives way to a random contrast: a piecewise-linear
    curve through `curve_points` evenly spaced knots, 0 kept at 0 (air stays dark in every
    contrast) and the other knots drawn in [0, 1], unsorted (so tissues swap order, as between T1
    and T2 weighting) or, half the time, inverted (bright fluid, dark white matter). A model that
    sees only T1 anatomy learns T1's contrast as part of the image prior.

    `transpose` swaps the image axes half the time (with the flip, all eight orientations of a
    square crop: the phase-encoding direction of a scan may run along either anatomical axis), and
    `lowres` (probability p) keeps only the central fraction f of k-space along each axis, f drawn
    from [1 - lowres, 1]: a scan acquired at a coarser matrix (EPI, 2 mm), sharp edges ringing.
    With probability `zero_outside`, after the noise, everything outside a random box (each side
    trimmed by up to a fifth) is exactly 0, as in scans that a scanner or converter zero-padded or
    masked: real images hold exact zeros beside noise, which noise everywhere never shows."""

    rotate: float = 10.0
    scale: float = 0.1
    shear: float = 0.05
    elastic: float = 4.0
    bias: float = 0.3
    gamma: float = 0.3
    noise: float = 0.03
    curves: float = 0.0
    curve_points: int = 6
    transpose: bool = False
    lowres: float = 0.0
    zero_outside: float = 0.0
    p: float = 0.8

    def __post_init__(self):
        for name in ("rotate", "scale", "shear", "elastic", "bias", "gamma", "noise"):
            if getattr(self, name) < 0:
                raise InputError(f"MRIAugment.{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.p <= 1:
            raise InputError(f"MRIAugment.p must be within [0, 1], got {self.p}")
        for name in ("curves", "zero_outside"):
            if not 0 <= getattr(self, name) <= 1:
                raise InputError(f"MRIAugment.{name} (a probability) must be within [0, 1], got {getattr(self, name)}")
        if not 0 <= self.lowres < 1:
            raise InputError(f"MRIAugment.lowres must be within [0, 1), got {self.lowres}")
        if self.curve_points < 2:
            raise InputError(f"MRIAugment.curve_points must be >= 2, got {self.curve_points}")

    def __call__(self, images: list[torch.Tensor], names: tuple[str, ...] = ()) -> list[torch.Tensor]:
        images = super().__call__(images, names)
        if self.transpose and bool(torch.rand(()) < 0.5):
            images = [t.transpose(-1, -2).contiguous() for t in images]
        h, w = images[0].shape[-2:]
        if any(t.shape[-2:] != (h, w) for t in images):
            raise InputError(f"paired images {names or ''} differ in size {[tuple(t.shape[-2:]) for t in images]}; "
                             "MRIAugment warps them together, so they must match (set data.load_size)")
        grid = self._grid(h, w)
        if grid is not None:
            images = [self._warp(t, grid) for t in images]
        d = self._draw_appearance(h, w)
        return [self._appearance(t, d) for t in images]

    @staticmethod
    def _warp(t: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        """Resample on the [0, 1] scale, so the field outside the image is black (-1), not mid-grey."""
        x01 = F.grid_sample((t[None].float() + 1) / 2, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return (x01[0] * 2 - 1).to(t.dtype)

    def _on(self) -> bool:
        return bool(torch.rand(()) < self.p)

    def _grid(self, h: int, w: int) -> torch.Tensor | None:
        """One sampling grid (1, H, W, 2) combining the affine and elastic draws, or None."""
        affine = self._on() and (self.rotate or self.scale or self.shear)
        elastic = self._on() and self.elastic
        if not (affine or elastic):
            return None
        theta = torch.eye(2, 3)
        if affine:
            a = math.radians(_uniform(-self.rotate, self.rotate))
            s = 1 + _uniform(-self.scale, self.scale)
            sh = _uniform(-self.shear, self.shear)
            rot = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
            theta[:, :2] = rot @ torch.tensor([[1.0, sh], [0.0, 1.0]]) / s
        grid = F.affine_grid(theta[None], (1, 1, h, w), align_corners=False)
        if elastic:
            coarse = torch.randn(1, 2, 4, 4) * self.elastic
            disp = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)
            grid = grid + disp.permute(0, 2, 3, 1) * torch.tensor([2.0 / w, 2.0 / h])
        return grid

    def _draw_appearance(self, h: int, w: int) -> dict:
        """One draw of bias field, gamma and noise level for every image of a sample."""
        d = {}
        if self._on() and self.bias:
            d["field"] = F.interpolate(torch.rand(1, 1, 3, 3) * 2 - 1, size=(h, w), mode="bicubic", align_corners=True)[0]
        if self.curves and bool(torch.rand(()) < self.curves):
            knots = torch.rand(self.curve_points)
            if bool(torch.rand(()) < 0.5):  # inverted: the brightest tissue comes out darkest
                knots = knots.sort(descending=True).values
            d["curve"] = torch.cat([torch.zeros(1), knots / knots.amax().clamp(min=1e-6)])
        elif self._on() and self.gamma:
            d["gamma"] = math.exp(_uniform(-self.gamma, self.gamma))
        if self.lowres and self._on():
            d["keep"] = _uniform(1 - self.lowres, 1)
        if self._on() and self.noise:
            d["sigma"] = _uniform(0, self.noise)
        if self.zero_outside and bool(torch.rand(()) < self.zero_outside):
            top, bottom, left, right = (round(_uniform(0, 0.2) * n) for n in (h, h, w, w))
            box = torch.zeros(h, w)
            box[top:h - bottom, left:w - right] = 1
            d["box"] = box
        return d

    def _appearance(self, t: torch.Tensor, d: dict) -> torch.Tensor:
        """Bias field, intensity curve and Rician noise (its own realisation per image) on the
        [0, 1] scale of a [-1, 1] image."""
        if not d:
            return t
        x = ((t.float() + 1) / 2).clamp(0, 1)
        if "field" in d:
            x = x * torch.exp(d["field"] * self.bias)
            x = x / x.amax().clamp(min=1e-6) if x.amax() > 1 else x
        if "gamma" in d:
            x = x.clamp(0, 1) ** d["gamma"]
        if "curve" in d:
            x = _piecewise_linear(x.clamp(0, 1), d["curve"])
        if "keep" in d:
            x = _low_pass(x, d["keep"])
        if "sigma" in d:
            x = torch.sqrt((x + d["sigma"] * torch.randn_like(x)) ** 2 + (d["sigma"] * torch.randn_like(x)) ** 2)
        if "box" in d:
            x = x * d["box"]
        return (x.clamp(0, 1) * 2 - 1).to(t.dtype)


def _piecewise_linear(x: torch.Tensor, knots: torch.Tensor) -> torch.Tensor:
    """The curve through (i / (K - 1), knots[i]) for i < K, linear between knots, at each x in [0, 1]."""
    pos = x * (len(knots) - 1)
    i = pos.floor().clamp(max=len(knots) - 2).long()
    frac = pos - i
    return knots[i] * (1 - frac) + knots[i + 1] * frac


def _low_pass(x: torch.Tensor, keep: float) -> torch.Tensor:
    """The magnitude of x with only the central `keep` fraction of its k-space along each axis."""
    h, w = x.shape[-2:]
    k = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1))
    kh, kw = max(1, round(h * keep / 2)), max(1, round(w * keep / 2))
    box = torch.zeros(h, w, dtype=torch.bool)
    box[h // 2 - kh:h // 2 + kh, w // 2 - kw:w // 2 + kw] = True
    return torch.fft.ifft2(torch.fft.ifftshift(k * box, dim=(-2, -1))).abs()
