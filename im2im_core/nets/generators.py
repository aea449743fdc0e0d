"""ResNet and U-Net generators with the exact module layout of pytorch-CycleGAN-and-pix2pix.

Keeping the layout (one `Sequential` named `model`, same indices) means their state_dicts load
into these classes unchanged; see `im2im_core.foreign`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from .norm import conv_bias, norm_layer
from .pad import ReflectionPad2d


@dataclass
class GeneratorConfig:
    """`arch`: "resnet" (n_blocks residual blocks at 1/4 resolution), "unet" (num_downs levels) or
    "attentiongan" (Ha0Tang/AttentionGAN's ResnetGenerator_our, nets/attention_resnet.py)."""

    arch: str = "resnet"
    n_blocks: int = 9
    num_downs: int = 8
    ngf: int = 64
    norm: str = "instance"
    dropout: bool = False

    def size_multiple(self) -> int:
        """Input sides must be a multiple of this."""
        return 2 ** self.num_downs if self.arch == "unet" else 4


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, norm: str, dropout: bool):
        super().__init__()
        bias = conv_bias(norm)
        layers = [ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """c7s1-64, d128, d256, n_blocks x R256, u128, u64, c7s1-out, tanh (Johnson et al.)."""

    def __init__(self, in_ch: int, out_ch: int, ngf: int = 64, norm: str = "instance",
                 dropout: bool = False, n_blocks: int = 9, final_act: bool = True):
        super().__init__()
        if n_blocks < 0:
            raise ConfigError(f"n_blocks must be >= 0, got {n_blocks}")
        bias = conv_bias(norm)
        layers = [ReflectionPad2d(3), nn.Conv2d(in_ch, ngf, 7, bias=bias), norm_layer(norm, ngf), nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2 ** i
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=bias), norm_layer(norm, 2 * c), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm, dropout) for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                       norm_layer(norm, c // 2), nn.ReLU(True)]
        layers += [ReflectionPad2d(3), nn.Conv2d(ngf, out_ch, 7)]
        if final_act:
            layers.append(nn.Tanh())
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class UnetSkipConnectionBlock(nn.Module):
    """One U-Net level: down, submodule, up, with the skip concatenated (except outermost)."""

    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False,
                 innermost=False, norm="batch", dropout=False, final_act=True):
        super().__init__()
        self.outermost = outermost
        bias = conv_bias(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=bias)
        if outermost:
            up = [nn.ReLU(True), nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)]
            model = [downconv, submodule] + up + ([nn.Tanh()] if final_act else [])
        elif innermost:
            up = [nn.ReLU(True), nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=bias),
                  norm_layer(norm, outer_nc)]
            model = [nn.LeakyReLU(0.2, True), downconv] + up
        else:
            down = [nn.LeakyReLU(0.2, True), downconv, norm_layer(norm, inner_nc)]
            up = [nn.ReLU(True), nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=bias),
                  norm_layer(norm, outer_nc)]
            model = down + [submodule] + up + ([nn.Dropout(0.5)] if dropout else [])
        self.model = nn.Sequential(*model)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """U-Net with `num_downs` levels; channels ngf*min(2^i, 8); dropout on the deep 8*ngf levels.

    num_downs=8 is junyanz's unet_256, 7 is unet_128; any depth >= 1 works.
    """

    def __init__(self, in_ch: int, out_ch: int, num_downs: int = 8, ngf: int = 64, norm: str = "batch",
                 dropout: bool = False, final_act: bool = True):
        super().__init__()
        if num_downs < 1:
            raise ConfigError(f"num_downs must be >= 1, got {num_downs}")
        width = [ngf * min(2 ** i, 8) for i in range(num_downs)]
        block = None
        for i in reversed(range(1, num_downs)):
            block = UnetSkipConnectionBlock(width[i - 1], width[i], submodule=block, innermost=block is None,
                                            norm=norm, dropout=dropout and 4 <= i < num_downs - 1)
        if block is None:  # a single level is both outermost and innermost: plain conv/deconv
            self.model = nn.Sequential(nn.Conv2d(in_ch, ngf, 4, 2, 1), nn.ReLU(True),
                                       nn.ConvTranspose2d(ngf, out_ch, 4, 2, 1),
                                       *([nn.Tanh()] if final_act else []))
        else:
            self.model = UnetSkipConnectionBlock(out_ch, ngf, input_nc=in_ch, submodule=block, outermost=True,
                                                 norm=norm, final_act=final_act)
        self.num_downs = num_downs

    def size_multiple(self) -> int:
        """Input sides must be a multiple of this (one halving per level)."""
        return 2 ** self.num_downs

    def forward(self, x):
        return self.model(x)


def build_generator(cfg: GeneratorConfig, in_ch: int, out_ch: int, final_act: bool = True) -> nn.Module:
    """A generator from its config."""
    if cfg.arch == "resnet":
        return ResnetGenerator(in_ch, out_ch, cfg.ngf, cfg.norm, cfg.dropout, cfg.n_blocks, final_act)
    if cfg.arch == "unet":
        return UnetGenerator(in_ch, out_ch, cfg.num_downs, cfg.ngf, cfg.norm, cfg.dropout, final_act)
    if cfg.arch == "attentiongan":
        from .attention_resnet import AttentionResnetGenerator

        return AttentionResnetGenerator(in_ch, out_ch, cfg.ngf, cfg.n_blocks)
    raise ConfigError(f"generator arch {cfg.arch!r} unknown; use 'resnet', 'unet' or 'attentiongan'")
