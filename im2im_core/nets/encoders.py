"""Convolutional encoder/decoder building blocks shared by the latent-space families (UNIT, and later
MUNIT / DRIT): conv blocks, residual blocks, a down-sampling encoder, an up-sampling decoder,
encoder/decoder wrappers whose deep part can be one module object shared between two domains,
and a multi-scale PatchGAN discriminator.

Layout follows the MUNIT/UNIT reference code (conv7 stem, stride-2 4x4 convs down, residual blocks,
nearest-neighbour up-sampling followed by a 5x5 conv, conv7 head). Instance norm is always the
`norm_layer("instance")` module, so tiled inference can share whole-image statistics.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, InputError
from .discriminators import NLayerDiscriminator
from .norm import norm_layer

ACTIVATIONS = ("relu", "lrelu", "tanh", "sigmoid", "none")
PAD_TYPES = ("reflect", "replicate", "zero")


def activation_layer(kind: str) -> nn.Module:
    """The activation module for `kind`, so configs can name it."""
    table = {"relu": lambda: nn.ReLU(True), "lrelu": lambda: nn.LeakyReLU(0.2, True), "tanh": nn.Tanh,
             "sigmoid": nn.Sigmoid, "none": nn.Identity}
    if kind not in table:
        raise ConfigError(f"activation {kind!r} unknown; use one of {ACTIVATIONS}")
    return table[kind]()


def pad_layer(kind: str, amount: int) -> nn.Module:
    """Explicit padding (reflect by default) so borders look like image content, not zeros."""
    if kind == "reflect":
        return nn.ReflectionPad2d(amount)
    if kind == "replicate":
        return nn.ReplicationPad2d(amount)
    if kind == "zero":
        return nn.ZeroPad2d(amount)
    raise ConfigError(f"pad_type {kind!r} unknown; use one of {PAD_TYPES}")


class Conv2dBlock(nn.Module):
    """pad -> conv -> norm -> activation: the unit every encoder and decoder here is made of."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0,
                 norm: str = "instance", activation: str = "relu", pad_type: str = "reflect"):
        super().__init__()
        self.pad = pad_layer(pad_type, padding)
        # a bias is redundant only in front of batch norm (instance norm is affine-free here anyway)
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, bias=norm != "batch")
        self.norm = norm_layer(norm, out_ch)
        self.act = activation_layer(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        return self.act(self.norm(self.conv(self.pad(x))))


class ResBlock(nn.Module):
    """x + conv3(act(conv3(x))): keeps resolution and channels, eases deep optimisation."""

    def __init__(self, dim: int, norm: str = "instance", activation: str = "relu", pad_type: str = "reflect"):
        super().__init__()
        self.block = nn.Sequential(Conv2dBlock(dim, dim, 3, 1, 1, norm, activation, pad_type),
                                   Conv2dBlock(dim, dim, 3, 1, 1, norm, "none", pad_type))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual connection around two 3x3 conv blocks."""
        return x + self.block(x)


def res_blocks(n: int, dim: int, norm: str = "instance", activation: str = "relu",
               pad_type: str = "reflect") -> nn.Sequential:
    """`n` residual blocks in a Sequential (empty, i.e. identity, for n=0)."""
    if n < 0:
        raise ConfigError(f"number of residual blocks must be >= 0, got {n}")
    return nn.Sequential(*[ResBlock(dim, norm, activation, pad_type) for _ in range(n)])


class ConvEncoder(nn.Module):
    """c7s1-dim, n_down x (4x4 stride-2 conv, channels doubling), n_res residual blocks.

    `out_channels` is dim * 2**n_down; the spatial size shrinks by 2**n_down.
    """

    def __init__(self, in_ch: int, dim: int = 64, n_down: int = 2, n_res: int = 4, norm: str = "instance",
                 activation: str = "relu", pad_type: str = "reflect"):
        super().__init__()
        layers = [Conv2dBlock(in_ch, dim, 7, 1, 3, norm, activation, pad_type)]
        for _ in range(n_down):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, norm, activation, pad_type))
            dim *= 2
        layers.append(res_blocks(n_res, dim, norm, activation, pad_type))
        self.model = nn.Sequential(*layers)
        self.out_channels = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Image -> feature map at 1/2**n_down resolution."""
        return self.model(x)


class ConvDecoder(nn.Module):
    """n_res residual blocks, n_up x (nearest x2 up-sampling, 5x5 conv halving channels), c7s1-out.

    Nearest up-sampling + conv (rather than transposed conv) avoids checkerboard artefacts.
    """

    def __init__(self, in_dim: int, out_ch: int, n_up: int = 2, n_res: int = 4, res_norm: str = "instance",
                 up_norm: str = "instance", activation: str = "relu", pad_type: str = "reflect",
                 out_activation: str = "tanh"):
        super().__init__()
        dim = in_dim
        layers: list[nn.Module] = [res_blocks(n_res, dim, res_norm, activation, pad_type)]
        for _ in range(n_up):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                       Conv2dBlock(dim, dim // 2, 5, 1, 2, up_norm, activation, pad_type)]
            dim //= 2
        layers.append(Conv2dBlock(dim, out_ch, 7, 1, 3, "none", out_activation, pad_type))
        self.model = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Feature map -> image at 2**n_up times the resolution."""
        return self.model(z)


class SharedTailEncoder(nn.Module):
    """private(x) then shared(.): `shared` may be the very same module object in another encoder
    (UNIT's weight-tied last encoder layers that map both domains into one latent space)."""

    def __init__(self, private: nn.Module, shared: nn.Module):
        super().__init__()
        self.private = private
        self.shared = shared

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Domain-specific front, then the (possibly shared) deep layers."""
        return self.shared(self.private(x))


class SharedHeadDecoder(nn.Module):
    """shared(z) then private(.): `shared` may be the same module object in another decoder
    (UNIT's weight-tied first generator layers that decode the shared high-level latent)."""

    def __init__(self, shared: nn.Module, private: nn.Module):
        super().__init__()
        self.shared = shared
        self.private = private

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(Possibly shared) high-level layers, then the domain-specific rendering."""
        return self.private(self.shared(z))


class MultiScaleDiscriminator(nn.Module):
    """PatchGAN discriminators on the image and on 2x, 4x... average-pooled copies; returns the list
    of patch-logit maps (coarse scales judge global structure, fine scales texture)."""

    def __init__(self, in_ch: int, ndf: int = 64, n_layers: int = 3, n_scales: int = 3, norm: str = "none",
                 spectral: bool = False):
        super().__init__()
        if n_scales < 1:
            raise ConfigError(f"n_scales must be >= 1, got {n_scales}")
        self.scales = nn.ModuleList([NLayerDiscriminator(in_ch, ndf, n_layers, norm, spectral)
                                     for _ in range(n_scales)])
        # n_layers stride-2 convs then two 4x4 stride-1 convs need >= 3 pixels at the coarsest scale
        self.min_side = 3 * 2 ** (n_layers + n_scales - 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One logit map per scale, finest first."""
        if min(x.shape[-2:]) < self.min_side:
            raise InputError(f"discriminator input {tuple(x.shape[-2:])} too small: this multi-scale "
                             f"discriminator needs sides >= {self.min_side} (use fewer scales or layers)")
        outs = []
        for i, d in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outs.append(d(x))
        return outs


__all__ = ["ACTIVATIONS", "PAD_TYPES", "activation_layer", "pad_layer", "Conv2dBlock", "ResBlock", "res_blocks",
           "ConvEncoder", "ConvDecoder", "SharedTailEncoder", "SharedHeadDecoder", "MultiScaleDiscriminator"]
