"""HsinYingLee/DRIT's networks, for `DRITConfig(arch="official")`: E_content, E_attr /
E_attr_concat and G / G_concat, split per domain into modules with our DRIT's interface
(Ec(x) -> content, Ea(x) -> (mu, logvar), G(content, a) -> image). Sub-module layouts are theirs,
so their keys map by prefix. How theirs differs from our DRIT: the content encoders' first conv
(LeakyReLUConv2d, slope 0.01) never normalises (its norm test compares two string literals);
3x3 stride-2 down convs, 3x3 transposed convs up with a layer norm; the attribute enters either
by concatenation at every decoder stage (concat=1, the encoder a KL-regularised ResNet) or, with
concat=0, through MisINSResBlocks: 1x1 convs over [features, z-map] after each instance norm,
with per-block codes from an MLP.
"""
from __future__ import annotations

import torch
from torch import nn

from .codemap import with_code
from .norm import GlobalLayerNorm2d, norm_layer
from .pad import ReflectionPad2d

torch.fx.wrap("with_code")  # one pointwise step for the streaming executor (nets/codemap.py)


class Block(nn.Module):
    """Their single-`model` blocks: LeakyReLUConv2d, ReLUINSConv2d, ReLUINSConvTranspose2d."""

    def __init__(self, *layers):
        super().__init__()
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class INSResBlock(Block):
    """x + [pad, conv3, IN, ReLU, pad, conv3, IN](x)."""

    def __init__(self, dim: int):
        super().__init__(ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm_layer("instance", dim), nn.ReLU(True),
                         ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm_layer("instance", dim))

    def forward(self, x):
        return x + self.model(x)


class GaussianNoise(nn.Module):
    """Their GaussianNoiseLayer: unit noise while training, identity otherwise."""

    def forward(self, x):
        return x + torch.randn_like(x) if self.training else x


def lrelu_conv(cin, cout, k, s, p):
    return Block(ReflectionPad2d(p), nn.Conv2d(cin, cout, k, s), nn.LeakyReLU(0.01, True))


def relu_ins_conv(cin, cout, k, s, p):
    return Block(ReflectionPad2d(p), nn.Conv2d(cin, cout, k, s), norm_layer("instance", cout), nn.ReLU(True))


def relu_ins_convT(cin, cout):
    return Block(nn.ConvTranspose2d(cin, cout, 3, 2, 1, 1), GlobalLayerNorm2d(cout), nn.ReLU(True))


def shared_content_block(dim: int) -> nn.Module:
    """Their conv_share: one INSResBlock (and training noise), one module object for both domains."""
    return nn.Sequential(INSResBlock(4 * dim), GaussianNoise())


class ContentEncoder(nn.Module):
    """Their convA / convB, then the shared block."""

    def __init__(self, in_ch: int, dim: int, share: nn.Module):
        super().__init__()
        self.share = share
        self.conv = nn.Sequential(lrelu_conv(in_ch, dim, 7, 1, 3), relu_ins_conv(dim, 2 * dim, 3, 2, 1),
                                  relu_ins_conv(2 * dim, 4 * dim, 3, 2, 1), *[INSResBlock(4 * dim) for _ in range(3)])

    def forward(self, x):
        return self.share(self.conv(x))


class AttrEncoder(nn.Module):
    """Their E_attr half (concat=0): convs without norm, global pooling, a 1x1 conv to z; returns (z, 0)."""

    def __init__(self, in_ch: int, dim: int, nz: int):
        super().__init__()
        layers, ch = [ReflectionPad2d(3), nn.Conv2d(in_ch, dim, 7, 1), nn.ReLU(True)], dim
        for out in (2 * dim, 4 * dim, 4 * dim, 4 * dim):
            layers += [ReflectionPad2d(1), nn.Conv2d(ch, out, 4, 2), nn.ReLU(True)]
            ch = out
        self.model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Conv2d(ch, nz, 1, 1, 0))

    def forward(self, x):
        z = self.model(x).flatten(1)
        return z, torch.zeros_like(z)


class BasicBlock(nn.Module):
    """Their BasicBlock without norm: lrelu, conv3, lrelu, conv3, avgpool + avgpool, conv1 shortcut."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Sequential(nn.LeakyReLU(0.2), ReflectionPad2d(1), nn.Conv2d(cin, cin, 3), nn.LeakyReLU(0.2),
                                  nn.Sequential(ReflectionPad2d(1), nn.Conv2d(cin, cout, 3), nn.AvgPool2d(2)))
        self.shortcut = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(cin, cout, 1))

    def forward(self, x):
        return self.conv(x) + self.shortcut(x)


class AttrEncoderConcat(nn.Module):
    """Their E_attr_concat half (concat=1): a ResNet to (mu, logvar)."""

    def __init__(self, in_ch: int, dim: int, nz: int):
        super().__init__()
        widths = [dim * min(4, n) for n in range(1, 5)]
        self.fc = nn.Sequential(nn.Linear(widths[-1], nz))
        self.fcVar = nn.Sequential(nn.Linear(widths[-1], nz))
        self.conv = nn.Sequential(ReflectionPad2d(1), nn.Conv2d(in_ch, dim, 4, 2, 0),
                                  *[BasicBlock(a, b) for a, b in zip(widths, widths[1:])],
                                  nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(1))

    def forward(self, x):
        h = self.conv(x).flatten(1)
        return self.fc(h), self.fcVar(h)


class MisINSResBlock(nn.Module):
    """x + blk2([IN(conv3(blk1([IN(conv3(x)), z]))), z]); blk = 1x1 conv, ReLU, 1x1 conv, ReLU."""

    def __init__(self, dim: int, extra: int):
        super().__init__()
        for k in (1, 2):
            setattr(self, f"conv{k}", nn.Sequential(nn.Sequential(ReflectionPad2d(1), nn.Conv2d(dim, dim, 3)),
                                                    norm_layer("instance", dim)))
        for k in (1, 2):
            setattr(self, f"blk{k}", nn.Sequential(nn.Conv2d(dim + extra, dim + extra, 1), nn.ReLU(),
                                                   nn.Conv2d(dim + extra, dim, 1), nn.ReLU()))
        self.model = nn.Sequential()

    def forward(self, x, z):
        h = self.blk1(with_code(self.conv1(x), z))
        return x + self.blk2(with_code(self.conv2(h), z))


class Generator(nn.Module):
    """One domain of their G (concat=0): an MLP splits z into four codes for four MisINSResBlocks."""

    def __init__(self, out_ch: int, dim: int, nz: int):
        super().__init__()
        tch = 4 * dim
        self.tch = tch
        for k in range(1, 5):
            setattr(self, f"dec{k}", MisINSResBlock(tch, tch))
        self.dec5 = nn.Sequential(relu_ins_convT(tch, tch // 2), relu_ins_convT(tch // 2, tch // 4),
                                  nn.ConvTranspose2d(tch // 4, out_ch, 1, 1, 0), nn.Tanh())
        self.mlp = nn.Sequential(nn.Linear(nz, tch), nn.ReLU(True), nn.Linear(tch, tch), nn.ReLU(True),
                                 nn.Linear(tch, tch * 4))

    def forward(self, content, z):
        codes = self.mlp(z.to(self.mlp[0].weight.dtype))
        h = content
        for k in range(1, 5):  # slices, not split(): a traced tensor cannot be iterated (stream.py)
            h = getattr(self, f"dec{k}")(h, codes[:, (k - 1) * self.tch:k * self.tch])
        return self.dec5(h)


class GeneratorConcat(nn.Module):
    """One domain of their G_concat: the shared block, then z concatenated before every stage."""

    def __init__(self, share: nn.Module, out_ch: int, dim: int, nz: int):
        super().__init__()
        self.share = share
        tch = 4 * dim + nz
        self.dec1 = nn.Sequential(*[INSResBlock(tch) for _ in range(3)])
        tch += nz
        self.dec2 = nn.Sequential(relu_ins_convT(tch, tch // 2))
        tch = tch // 2 + nz
        self.dec3 = nn.Sequential(relu_ins_convT(tch, tch // 2))
        tch = tch // 2 + nz
        self.dec4 = nn.Sequential(nn.ConvTranspose2d(tch, out_ch, 1, 1, 0), nn.Tanh())

    def forward(self, content, z):
        h = self.share(content)
        for stage in (self.dec1, self.dec2, self.dec3, self.dec4):
            h = stage(with_code(h, z))
        return h
