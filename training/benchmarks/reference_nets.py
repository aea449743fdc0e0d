"""junyanz/pytorch-CycleGAN-and-pix2pix generators, restated from their published description
(not from `im2im_core.nets`): the "official" baseline of the speed benchmark and the independent
reference of the `.pth` import tests. State-dict keys match theirs, in-place activations included.
"""
from __future__ import annotations

import functools

import torch
from torch import nn


def norm_layer(kind: str):
    """(layer factory, conv bias): their instance norm has no affine and no running stats, and
    convolutions carry a bias only when the norm has none."""
    if kind == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False), True
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True), False
    return (lambda c: nn.Identity()), False


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, norm: str, dropout: bool):
        super().__init__()
        n, bias = norm_layer(norm)
        seq = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), n(dim), nn.ReLU(True)]
        seq += [nn.Dropout(0.5)] if dropout else []
        seq += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), n(dim)]
        self.conv_block = nn.Sequential(*seq)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """resnet_9blocks / resnet_6blocks."""

    def __init__(self, cin: int, cout: int, norm: str = "instance", blocks: int = 9, dropout: bool = False,
                 ngf: int = 64):
        super().__init__()
        n, bias = norm_layer(norm)
        m = [nn.ReflectionPad2d(3), nn.Conv2d(cin, ngf, 7, bias=bias), n(ngf), nn.ReLU(True),
             nn.Conv2d(ngf, 2 * ngf, 3, 2, 1, bias=bias), n(2 * ngf), nn.ReLU(True),
             nn.Conv2d(2 * ngf, 4 * ngf, 3, 2, 1, bias=bias), n(4 * ngf), nn.ReLU(True)]
        m += [ResnetBlock(4 * ngf, norm, dropout) for _ in range(blocks)]
        m += [nn.ConvTranspose2d(4 * ngf, 2 * ngf, 3, 2, 1, output_padding=1, bias=bias), n(2 * ngf), nn.ReLU(True),
              nn.ConvTranspose2d(2 * ngf, ngf, 3, 2, 1, output_padding=1, bias=bias), n(ngf), nn.ReLU(True),
              nn.ReflectionPad2d(3), nn.Conv2d(ngf, cout, 7), nn.Tanh()]
        self.model = nn.Sequential(*m)

    def forward(self, x):
        return self.model(x)


class UnetBlock(nn.Module):
    """One level: down (LeakyReLU 0.2 in place, 4x4 stride-2 conv, norm), the inner levels, up
    (ReLU in place, 4x4 stride-2 transposed conv, norm), and the skip concatenation. The in-place
    LeakyReLU also rewrites the skip, as in their code."""

    def __init__(self, outer: int, inner: int, cin: int | None = None, sub: nn.Module | None = None,
                 outermost: bool = False, innermost: bool = False, norm: str = "batch", dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        n, bias = norm_layer(norm)
        down = nn.Conv2d(cin or outer, inner, 4, 2, 1, bias=bias)
        if outermost:
            seq = [down, sub, nn.ReLU(True), nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1), nn.Tanh()]
        elif innermost:
            seq = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True),
                   nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias), n(outer)]
        else:
            seq = [nn.LeakyReLU(0.2, True), down, n(inner), sub, nn.ReLU(True),
                   nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1, bias=bias), n(outer)]
            seq += [nn.Dropout(0.5)] if dropout else []
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """unet_256 (num_downs 8) / unet_128 (num_downs 7)."""

    def __init__(self, cin: int, cout: int, num_downs: int = 8, ngf: int = 64, norm: str = "batch",
                 dropout: bool = False):
        super().__init__()
        block = UnetBlock(8 * ngf, 8 * ngf, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetBlock(8 * ngf, 8 * ngf, sub=block, norm=norm, dropout=dropout)
        for outer in (4 * ngf, 2 * ngf, ngf):
            block = UnetBlock(outer, 2 * outer, sub=block, norm=norm)
        self.model = UnetBlock(cout, ngf, cin=cin, sub=block, outermost=True, norm=norm)

    def forward(self, x):
        return self.model(x)


def conv_flops(net: nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds x 2 of every convolution and transposed convolution of one forward pass."""
    total = [0]

    def hook(m, inp, out):
        k = m.weight[0].numel()  # in_channels / groups x kernel area
        if isinstance(m, nn.ConvTranspose2d):  # each input pixel scatters into out_channels x kernel
            total[0] += 2 * inp[0].numel() * m.out_channels // m.groups * m.weight[0, 0].numel()
        else:
            total[0] += 2 * out.numel() * k
    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in hs:
            h.remove()
    return total[0]
