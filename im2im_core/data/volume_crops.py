"""Random 2D crops from 3D volumes, in every orientation, at the volumes' native pixel size.

Why: a model trained on whole slices resized to a thumbnail sees a different pixel size from the
one a user brings. Crops of native slices keep the pixel size and still give small, fast training
images; whole slices are for inference. Each item draws an orientation, a slice with enough
foreground, a crop position, flips, a mild rotation/zoom and (optionally) a mild intensity curve,
all from torch's global generator (reseeded per step by the trainer), so a resumed run draws the
same crops. Paired volumes (voxel-aligned A and B) share every geometric draw.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from .datasets import MultiDomainDataset, TranslationDataset
from .transforms import Augment


def _usable(vol: torch.Tensor, axes, min_fraction: float, min_side: int) -> list[tuple[int, int]]:
    """(axis, index) of slices whose foreground (above the -1 floor) exceeds `min_fraction` and
    whose sides are both at least `min_side` (thin strips of a cut volume are skipped)."""
    fg = vol > -1.0 + 1e-3
    out = []
    for ax in axes:
        if min(s for d, s in enumerate(vol.shape) if d != ax) < min_side:
            continue
        frac = fg.float().mean(dim=tuple(d for d in range(3) if d != ax))
        out += [(ax, int(i)) for i in torch.nonzero(frac > min_fraction).flatten()]
    return out


class VolumeCrops(TranslationDataset):
    """Items {"A", "B"}: (C, crop, crop) crops in [-1, 1] from normalised 3D volumes.

    `A`, `B`: lists of (X, Y, Z) float arrays already in [-1, 1] (background -1). Unpaired: A and
    B crops are drawn independently; `paired=True` needs equal lists of equally shaped volumes
    and crops both at the same place. `rotate` (degrees) and `zoom` (fraction) bound the random
    rotation and scale; `gamma` bounds a random intensity curve x -> x**g on the [0, 1] scale
    (applied to A only when paired, so the target stays exact). `length` is the nominal epoch.
    `balance=True` centres crops on interior foreground pixels (3 px or more from background, so
    partial-volume edges do not count as rare) drawn evenly over the slice's intensity histogram
    (16 bins): rare tissue (CSF is 1% of the MNI brain) is seen as often as common tissue. Each
    domain balances on its own intensities, so no pairing is used; orientations are then drawn
    with equal probability whatever their slice counts.
    """

    def __init__(self, A, B, crop: int = 128, paired: bool = False, axes=(0, 1, 2), rotate: float = 10.0,
                 zoom: float = 0.1, gamma: float = 0.1, flip: bool = True, min_fraction: float = 0.05,
                 length: int = 1000, channels=(1, 1), intensity=None, description: str = "", spacing=None,
                 balance: bool = False):
        super().__init__(channels, intensity)
        if crop < 8:
            raise InputError(f"crop must be >= 8 pixels, got {crop}")
        if any(a not in (0, 1, 2) for a in axes) or not axes:
            raise InputError(f"axes must be a non-empty subset of (0, 1, 2), got {axes}")
        self.paired, self.crop, self.axes = bool(paired), int(crop), tuple(axes)
        self.rotate, self.zoom, self.gamma, self.flip = float(rotate), float(zoom), float(gamma), bool(flip)
        self.length = int(length)
        self.balance = bool(balance)
        self.vols = {k: [torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for v in vs]
                     for k, vs in (("A", A), ("B", B))}
        for k, vs in self.vols.items():
            if not vs or any(v.ndim != 3 for v in vs):
                raise InputError(f"domain {k} needs one or more 3D volumes")
        if self.paired and [v.shape for v in self.vols["A"]] != [v.shape for v in self.vols["B"]]:
            raise InputError("paired volumes must have identical shapes")
        self.slices = {k: [(i, ax, s) for i, v in enumerate(vs) for ax, s in _usable(v, self.axes, min_fraction, crop // 4)]
                       for k, vs in self.vols.items()}
        for k, sl in self.slices.items():
            if not sl:
                raise InputError(f"domain {k} has no slice with more than {min_fraction:.0%} foreground")
        self.by_axis = {k: [g for g in ([p for p in sl if p[1] == ax] for ax in self.axes) if g]
                        for k, sl in self.slices.items()}
        self.spacing = tuple(spacing) if spacing is not None else None
        self.description = description or (f"{crop}px crops of {len(self.slices['A'])} A / {len(self.slices['B'])} "
                                           f"B slices along axes {self.axes}{' (paired)' if self.paired else ''}")

    def pixels(self, domain: str) -> torch.Tensor:
        """Every voxel of a domain's volumes, un-augmented, on the model's scale (intensity priors)."""
        return torch.cat([v.reshape(-1) for v in self.vols[domain]])

    def __len__(self):
        return self.length

    def _slice(self, domain: str, pick) -> torch.Tensor:
        i, ax, s = pick
        return self.vols[domain][i].select(ax, s)[None, None]  # (1, 1, H, W)

    def _theta(self, img: torch.Tensor) -> torch.Tensor:
        """Affine grid (normalised coordinates) of a rotated, zoomed, flipped crop centred near a
        random foreground pixel."""
        c, (h, w) = self.crop, img.shape[-2:]
        ang = math.radians(float(torch.empty(()).uniform_(-self.rotate, self.rotate))) if self.rotate else 0.0
        scale = float(torch.empty(()).uniform_(1 - self.zoom, 1 + self.zoom)) if self.zoom else 1.0
        fx = -1.0 if self.flip and bool(torch.rand(()) < 0.5) else 1.0
        fy = -1.0 if self.flip and bool(torch.rand(()) < 0.5) else 1.0
        plane = img[0, 0]
        fg = torch.nonzero(plane > -1.0 + 1e-3)
        if len(fg) and self.balance:  # interior pixels, even over 16 intensity bins
            near_bg = F.max_pool2d((plane <= -1.0 + 1e-3).float()[None, None], 7, stride=1, padding=3)[0, 0]
            inner = torch.nonzero((near_bg == 0) & (plane > -1.0 + 1e-3))
            fg = inner if len(inner) else fg
            bins = ((plane[fg[:, 0], fg[:, 1]] + 1.0) * 8.0).long().clamp_(0, 15)
            weights = 1.0 / torch.bincount(bins, minlength=16).float()[bins]
            pick = int(torch.multinomial(weights, 1))
        else:
            pick = int(torch.randint(len(fg), ())) if len(fg) else -1
        cy, cx = (float(v) for v in fg[pick]) if len(fg) else ((h - 1) / 2, (w - 1) / 2)
        cy += float(torch.empty(()).uniform_(-c / 4, c / 4))
        cx += float(torch.empty(()).uniform_(-c / 4, c / 4))
        ex, ey = scale * c / w, scale * c / h  # the crop's half-extent in the input's normalised units
        cos, sin = math.cos(ang), math.sin(ang)
        tx = 2 * cx / (w - 1) - 1 if w > 1 else 0.0
        ty = 2 * cy / (h - 1) - 1 if h > 1 else 0.0
        return torch.tensor([[fx * ex * cos, -fy * ex * sin, tx], [fx * ey * sin, fy * ey * cos, ty]],
                            dtype=torch.float32)[None]

    def _sample(self, img: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        grid = F.affine_grid(theta, [1, 1, self.crop, self.crop], align_corners=True)
        out = F.grid_sample(img + 1.0, grid, mode="bilinear", padding_mode="zeros", align_corners=True) - 1.0
        return out[0].clamp_(-1.0, 1.0)

    def _curve(self, x: torch.Tensor) -> torch.Tensor:
        if not self.gamma:
            return x
        g = math.exp(float(torch.empty(()).uniform_(-self.gamma, self.gamma)))
        return ((x + 1.0) / 2.0).clamp_(0, 1).pow_(g).mul_(2.0).sub_(1.0)

    def _draw(self, domain: str):
        """A random usable slice (balanced: an orientation first, each equally likely)."""
        if self.balance:
            by_axis = self.by_axis[domain]
            sl = by_axis[int(torch.randint(len(by_axis), ()))]
        else:
            sl = self.slices[domain]
        return sl[int(torch.randint(len(sl), ()))]

    def random_crop(self, domain: str = "A") -> torch.Tensor:
        """One augmented (1, crop, crop) crop of a random usable slice of `domain`'s volumes."""
        img = self._slice(domain, self._draw(domain))
        return self._curve(self._sample(img, self._theta(img)))

    def __getitem__(self, index):
        if self.paired:
            pick = self._draw("A")
            a, b = self._slice("A", pick), self._slice("B", pick)
            theta = self._theta(a)
            out = {"A": self._curve(self._sample(a, theta)), "B": self._sample(b, theta)}
        else:
            out = {k: self.random_crop(k) for k in ("A", "B")}
        for k, c in zip(("A", "B"), self.channels):
            if c > 1:
                out[k] = out[k].expand(c, -1, -1)
            out[k] = out[k].contiguous()
        return out


class MultiDomainVolumeCrops(MultiDomainDataset):
    """Multi-domain (StarGAN) items {"image", "label"}: a random crop of one domain's volumes, drawn
    as `VolumeCrops` draws unpaired crops. `volumes` maps a domain name to a list of normalised 3D
    arrays; `length` items per domain make the nominal epoch."""

    def __init__(self, volumes: dict, crop: int = 128, length: int = 1000, channels=(1, 1), intensity=None,
                 description: str = "", spacing=None, **crop_kw):
        super().__init__(list(volumes), channels, intensity, Augment(flip=False))
        names = list(volumes)
        # one two-domain sampler per domain (its B side is unused), so every draw is the same code
        self.samplers = [VolumeCrops(volumes[n], volumes[n][:1], crop=crop, channels=channels, **crop_kw)
                         for n in names]
        self.items = [(label, label) for label in range(len(names)) for _ in range(int(length))]
        self.spacing = tuple(spacing) if spacing is not None else None
        self.description = description or f"{crop}px crops of {len(names)} domains"

    def pixels(self, domain: str, limit: int = 0) -> torch.Tensor:
        """Every voxel of a domain's volumes, un-augmented (intensity priors)."""
        return self.samplers[self.domains.index(str(domain))].pixels("A")

    def _image(self, label) -> torch.Tensor:
        return self.samplers[label].random_crop("A").expand(self.channels[0], -1, -1).contiguous()
