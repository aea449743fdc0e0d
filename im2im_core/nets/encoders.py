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
from .norm import GlobalInstanceNorm2d, norm_layer
from .pad import ReflectionPad2d

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
        return ReflectionPad2d(amount)
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


# ---- style (MUNIT and the multimodal families) -----------------------------------------------------
class StyleEncoder(nn.Module):
    """c7s1-dim, 2 x (4x4 stride-2 conv, channels doubling), n_down-2 more stride-2 convs, global
    average pooling, 1x1 conv to `style_dim`: a global style code (N, style_dim). No normalisation:
    instance norm would remove exactly the mean/variance statistics a style is made of."""

    def __init__(self, in_ch: int, dim: int = 64, n_down: int = 4, style_dim: int = 8, activation: str = "relu",
                 pad_type: str = "reflect"):
        super().__init__()
        layers = [Conv2dBlock(in_ch, dim, 7, 1, 3, "none", activation, pad_type)]
        for i in range(n_down):
            nxt = dim * 2 if i < 2 else dim
            layers.append(Conv2dBlock(dim, nxt, 4, 2, 1, "none", activation, pad_type))
            dim = nxt
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, style_dim, 1)]
        self.model = nn.Sequential(*layers)
        self.min_side = 2 ** n_down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Image -> (N, style_dim)."""
        if min(x.shape[-2:]) < self.min_side:
            raise InputError(f"style image {tuple(x.shape[-2:])} too small: the style encoder needs sides >= {self.min_side}")
        return self.model(x).flatten(1)


class MLP(nn.Module):
    """n_layers linear layers (ReLU between): MUNIT's map from a style code to AdaIN parameters."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 256, n_layers: int = 3, activation: str = "relu"):
        super().__init__()
        dims = [in_dim] + [hidden] * (n_layers - 1) + [out_dim]
        layers: list[nn.Module] = []
        for i in range(n_layers):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < n_layers - 1:
                layers.append(activation_layer(activation))
        self.model = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)


class AdaIN(nn.Module):
    """Adaptive instance normalisation (Huang & Belongie 2017): gamma * IN(x) + beta, with
    per-sample (gamma, beta) given at call time. The IN is a `GlobalInstanceNorm2d`, so tiled
    inference shares whole-image statistics."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = GlobalInstanceNorm2d(channels, affine=False, track_running_stats=False)

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        return self.norm(x) * gamma[:, :, None, None].to(x.dtype) + beta[:, :, None, None].to(x.dtype)


class AdaINResBlock(nn.Module):
    """x + [conv3 -> AdaIN -> act -> conv3 -> AdaIN](x); consumes 4 * dim AdaIN parameters."""

    def __init__(self, dim: int, activation: str = "relu", pad_type: str = "reflect"):
        super().__init__()
        self.dim = dim
        self.pad1, self.pad2 = pad_layer(pad_type, 1), pad_layer(pad_type, 1)
        self.conv1, self.conv2 = nn.Conv2d(dim, dim, 3), nn.Conv2d(dim, dim, 3)
        self.norm1, self.norm2 = AdaIN(dim), AdaIN(dim)
        self.act = activation_layer(activation)

    n_params = property(lambda self: 4 * self.dim)

    def forward(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """params: (N, 4 * dim) = (gamma1, beta1, gamma2, beta2)."""
        g1, b1, g2, b2 = params.split(self.dim, dim=1)
        h = self.act(self.norm1(self.conv1(self.pad1(x)), g1, b1))
        return x + self.norm2(self.conv2(self.pad2(h)), g2, b2)


class StyleDecoder(nn.Module):
    """MUNIT's decoder: `n_res` AdaIN residual blocks whose AdaIN parameters an MLP computes from
    the style code, then n_up x (nearest x2, 5x5 conv, layer norm), then c7s1-out with tanh.
    `mlp_activation` is the MLP's (the official MUNIT uses the decoder's `activ` there)."""

    def __init__(self, in_dim: int, out_ch: int, n_up: int = 2, n_res: int = 4, style_dim: int = 8,
                 mlp_dim: int = 256, up_norm: str = "layer", activation: str = "relu", pad_type: str = "reflect",
                 mlp_activation: str = "relu"):
        super().__init__()
        self.res = nn.ModuleList([AdaINResBlock(in_dim, activation, pad_type) for _ in range(n_res)])
        layers: list[nn.Module] = []
        dim = in_dim
        for _ in range(n_up):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                       Conv2dBlock(dim, dim // 2, 5, 1, 2, up_norm, activation, pad_type)]
            dim //= 2
        layers.append(Conv2dBlock(dim, out_ch, 7, 1, 3, "none", "tanh", pad_type))
        self.up = nn.Sequential(*layers)
        self.mlp = MLP(style_dim, sum(b.n_params for b in self.res) or 1, mlp_dim, activation=mlp_activation)

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """content (N, in_dim, h, w), style (N, style_dim) -> image (N, out_ch, h * 2**n_up, ...)."""
        params = self.mlp(style.to(self.mlp.model[0].weight.dtype))
        x, start = content, 0
        for block in self.res:
            x = block(x, params[:, start:start + block.n_params])
            start += block.n_params
        return self.up(x)


__all__ = ["ACTIVATIONS", "PAD_TYPES", "activation_layer", "pad_layer", "Conv2dBlock", "ResBlock", "res_blocks",
           "ConvEncoder", "ConvDecoder", "SharedTailEncoder", "SharedHeadDecoder", "MultiScaleDiscriminator",
           "StyleEncoder", "MLP", "AdaIN", "AdaINResBlock", "StyleDecoder"]
