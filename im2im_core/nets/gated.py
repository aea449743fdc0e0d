"""Gated convolutions (Yu et al., "Free-Form Image Inpainting with Gated Convolution", ICCV 2019).

A vanilla convolution treats hole pixels and valid pixels alike; a gated convolution learns a
soft mask per channel and pixel, ``y = act(W_f * x) * sigmoid(W_g * x)``, so every layer can
tell (and progressively update) which inputs are trustworthy. Feature and gate filters are two
independent filter banks; here they live in one Conv2d with 2x the output channels, split in
two, which is the same function at one kernel launch.

`GatedGenerator` is a single-stage DeepFill v2 style encoder-decoder: gated convs, two stride-2
downsamplings, a dilated bottleneck (rates 2, 4, 8, 16) for a large receptive field, nearest
upsampling + gated conv instead of transposed convs, and a tanh output. DeepFill v2's second
(refinement) stage with contextual attention is left out: it matters most for large natural
images with long-range texture copies, and costs memory and speed on microscopy/MRI.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

ACTIVATIONS = ("elu", "lrelu", "none")


def _activation(name: str) -> nn.Module:
    """Feature activation of a gated conv (DeepFill v2 uses ELU)."""
    if name == "elu":
        return nn.ELU()
    if name == "lrelu":
        return nn.LeakyReLU(0.2)
    if name == "none":
        return nn.Identity()
    raise ConfigError(f"activation {name!r} unknown; use one of {ACTIVATIONS}")


#: fraction of the variance-preserving gain actually used. Measured on 200-step inpainting runs
#: (tests/test_recon_inpaint_sr.py's setup): seeds that improve on the prefill were 2 of 4 at the
#: full gain, 2 of 4 at 0.9, 10 of 10 at 0.8, 3 of 3 at 0.7 and 1 of 4 at 0.6.
INIT_SCALE = 0.8


@functools.lru_cache(maxsize=None)
def _gated_gain(activation: str) -> float:
    """INIT_SCALE x the weight gain that keeps E[y^2] = E[x^2] through act(f) * sigmoid(g) with
    f, g ~ N(0, 1): 1 / sqrt(E[act(z)^2] E[sigmoid(z)^2]), by quadrature. PyTorch's default init
    shrinks the signal about 4x per gated layer, so 17 layers deep the input is gone and only the
    last layers learn; the exact variance-preserving gain trains, but erratically."""
    z = np.linspace(-12.0, 12.0, 48001)
    pdf = np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    act = {"elu": np.where(z > 0, z, np.expm1(np.minimum(z, 0))), "lrelu": np.where(z > 0, z, 0.2 * z),
           "none": z}[activation]
    moment = lambda f: float(np.trapezoid(f * f * pdf, z))  # noqa: E731
    return INIT_SCALE / math.sqrt(moment(act) * moment(1 / (1 + np.exp(-z))))


class GatedConv2d(nn.Module):
    """act(conv_feature(x)) * sigmoid(conv_gate(x)), 'same' padding for any dilation."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, dilation: int = 1,
                 activation: str = "elu"):
        super().__init__()
        self.out_ch = out_ch
        self.act = _activation(activation)
        self.conv = nn.Conv2d(in_ch, 2 * out_ch, kernel, stride=stride, padding=dilation * (kernel - 1) // 2,
                              dilation=dilation)
        nn.init.normal_(self.conv.weight, 0.0, _gated_gain(activation) / math.sqrt(in_ch * kernel * kernel))
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features gated by a learned soft mask."""
        feature, gate = self.conv(x).split(self.out_ch, dim=1)
        return self.act(feature) * torch.sigmoid(gate)


class GatedUpConv2d(nn.Module):
    """Nearest x2 upsampling then a gated conv: no checkerboard artefacts (DeepFill's gen_deconv)."""

    def __init__(self, in_ch: int, out_ch: int, activation: str = "elu"):
        super().__init__()
        self.conv = GatedConv2d(in_ch, out_ch, 3, activation=activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Upsample then gated conv."""
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class GatedGenerator(nn.Module):
    """Gated-conv encoder-decoder with a dilated bottleneck; input sides must be multiples of 2**n_down."""

    def __init__(self, in_ch: int, out_ch: int, ngf: int = 32, n_down: int = 2,
                 dilations: tuple = (2, 4, 8, 16), activation: str = "elu"):
        super().__init__()
        if ngf < 2 or n_down < 0:
            raise ConfigError(f"GatedGenerator needs ngf >= 2 and n_down >= 0, got ngf={ngf}, n_down={n_down}")
        if any(int(d) < 1 for d in dilations):
            raise ConfigError(f"dilations must be >= 1, got {list(dilations)}")
        self.n_down = n_down
        a = activation
        layers: list[nn.Module] = [GatedConv2d(in_ch, ngf, 5, activation=a)]
        ch = ngf
        for _ in range(n_down):
            layers += [GatedConv2d(ch, 2 * ch, 3, stride=2, activation=a), GatedConv2d(2 * ch, 2 * ch, 3, activation=a)]
            ch *= 2
        layers += [GatedConv2d(ch, ch, 3, dilation=int(d), activation=a) for d in dilations]
        layers += [GatedConv2d(ch, ch, 3, activation=a), GatedConv2d(ch, ch, 3, activation=a)]
        for _ in range(n_down):
            layers += [GatedUpConv2d(ch, ch // 2, activation=a), GatedConv2d(ch // 2, ch // 2, 3, activation=a)]
            ch //= 2
        layers += [GatedConv2d(ch, max(1, ch // 2), 3, activation=a),
                   nn.Conv2d(max(1, ch // 2), out_ch, 3, padding=1), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def size_multiple(self) -> int:
        """Input sides must be a multiple of this (the encoder's total stride)."""
        return 2 ** self.n_down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Masked image + mask channel -> completed image in [-1, 1]."""
        return self.model(x)


__all__ = ["GatedConv2d", "GatedUpConv2d", "GatedGenerator", "ACTIVATIONS"]
