"""Training augmentation on normalised (C, H, W) tensors: resize, random crop, horizontal flip;
`PhotoAugment` adds zoomed-out crops, the 8 orientations and gamma curves for small photo sets.

Random draws come from torch's global generator, which the trainer reseeds from (seed, step,
rank) every iteration, so augmentation is reproducible and a resumed run sees the same crops.
Paired images go through one call so both halves get the same crop and flip.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InputError


@dataclass
class Augment:
    """`load_size`: resize to a square of this side first (0 keeps the size); `crop_size`:
    random square crop (0 keeps the whole image); `flip`: random horizontal flip."""

    load_size: int = 0
    crop_size: int = 0
    flip: bool = True

    def __call__(self, images: list[torch.Tensor], names: tuple[str, ...] = ()) -> list[torch.Tensor]:
        """Apply one draw of resize/crop/flip to every image of a (paired) sample."""
        images = [resize(t, self.load_size) if self.load_size else t for t in images]
        if self.crop_size:
            h, w = images[0].shape[-2:]
            if any(t.shape[-2:] != (h, w) for t in images):
                raise InputError(f"paired images {names or ''} differ in size {[tuple(t.shape[-2:]) for t in images]}; "
                                 "set data.load_size so both are resized to one size")
            if h < self.crop_size or w < self.crop_size:
                where = f" ({', '.join(names)})" if names else ""
                raise InputError(f"image of {h}x{w}{where} is smaller than crop_size {self.crop_size}; "
                                 "lower data.crop_size or set data.load_size >= crop_size")
            top = int(torch.randint(0, h - self.crop_size + 1, ()).item())
            left = int(torch.randint(0, w - self.crop_size + 1, ()).item())
            images = [t[..., top:top + self.crop_size, left:left + self.crop_size] for t in images]
        if self.flip and bool(torch.rand(()) < 0.5):
            images = [t.flip(-1) for t in images]
        return [t.contiguous() for t in images]


def resize(t: torch.Tensor, size: int) -> torch.Tensor:
    """Antialiased bilinear resize of a (C, H, W) tensor to size x size."""
    if tuple(t.shape[-2:]) == (size, size):
        return t
    out = F.interpolate(t[None].float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]
    return out.clamp_(-1.0, 1.0)


@dataclass
class PhotoAugment(Augment):
    """Augment's crop for a few photos that must look like many: the crop comes from a window up
    to `zoom_out` times larger, shrunk with antialiasing (so it stays as sharp as the photo), in one
    of the 8 dihedral orientations, with a monotone intensity curve x**gamma, log(gamma) within
    +/- `gamma`. No warps: resampling would blur the targets and bring in borders photos don't have."""

    zoom_out: float = 2.0
    gamma: float = 0.3

    def __post_init__(self):
        if not self.crop_size:
            raise InputError("PhotoAugment needs crop_size > 0")
        if self.zoom_out < 1 or self.gamma < 0:
            raise InputError(f"PhotoAugment needs zoom_out >= 1 and gamma >= 0, got {self.zoom_out}, {self.gamma}")

    def __call__(self, images: list[torch.Tensor], names: tuple[str, ...] = ()) -> list[torch.Tensor]:
        h, w = images[0].shape[-2:]
        most = min(h, w) / self.crop_size
        zoom = 1 + (min(self.zoom_out, max(most, 1)) - 1) * float(torch.rand(()))
        side = max(self.crop_size, int(self.crop_size * zoom))
        images = Augment(crop_size=side, flip=self.flip)(images, names)
        images = [resize(t, self.crop_size) for t in images]
        k = int(torch.randint(0, 4, ()))
        vflip = bool(torch.rand(()) < 0.5)
        g = math.exp(self.gamma * (2 * float(torch.rand(())) - 1))
        out = []
        for t in images:
            t = torch.rot90(t, k, dims=(-2, -1))
            t = t.flip(-2) if vflip else t
            out.append((((t + 1) / 2).clamp(0, 1) ** g * 2 - 1).contiguous())
        return out
