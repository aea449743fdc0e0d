"""junyanz/BicycleGAN's `G_Unet_add_all`: a U-Net whose every level takes the latent code z,
tiled over its input, as `nz` extra channels (BicycleGAN's default `where_add="all"`); 4x4
stride-2 convs down (zero padding), 4x4 transposed convs up ("basic" upsampling), instance norm.
Module names are theirs (model.down / model.submodule / model.up), so their keys load unchanged.
"""
from __future__ import annotations

import torch
from torch import nn

from .codemap import with_code
from .norm import norm_layer

torch.fx.wrap("with_code")  # one pointwise step for the streaming executor (nets/codemap.py)


class UnetBlockWithZ(nn.Module):
    """One level: [lrelu] conv4s2 [norm] -> inner level -> relu convT4s2 [norm] / tanh, skip by concat."""

    def __init__(self, input_nc: int, outer_nc: int, inner_nc: int, nz: int, submodule=None, outermost=False,
                 innermost=False, norm: str = "instance", dropout: bool = False):
        super().__init__()
        self.outermost, self.innermost, self.nz = outermost, innermost, nz
        downconv = nn.Conv2d(input_nc + nz, inner_nc, 4, 2, 1)
        up_in = inner_nc if innermost else inner_nc * 2
        upconv = nn.ConvTranspose2d(up_in, outer_nc, 4, 2, 1)
        if outermost:
            down, up = [downconv], [nn.ReLU(True), upconv, nn.Tanh()]
        elif innermost:
            down, up = [nn.LeakyReLU(0.2, True), downconv], [nn.ReLU(True), upconv, norm_layer(norm, outer_nc)]
        else:
            down = [nn.LeakyReLU(0.2, True), downconv, norm_layer(norm, inner_nc)]
            up = [nn.ReLU(True), upconv, norm_layer(norm, outer_nc)] + ([nn.Dropout(0.5)] if dropout else [])
        self.down = nn.Sequential(*down)
        self.submodule = submodule
        self.up = nn.Sequential(*up)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = with_code(x, z) if self.nz > 0 else x
        if self.outermost:
            return self.up(self.submodule(self.down(h), z))
        if self.innermost:
            return torch.cat([self.up(self.down(h)), x], 1)
        return torch.cat([self.up(self.submodule(self.down(h), z)), x], 1)


class UnetAddAll(nn.Module):
    """G(x, z) with z at every level; `num_downs` levels (8: their unet_256, 7: unet_128)."""

    def __init__(self, input_nc: int, output_nc: int, nz: int, num_downs: int, ngf: int = 64,
                 norm: str = "instance", dropout: bool = False):
        super().__init__()
        self.nz = nz
        block = UnetBlockWithZ(ngf * 8, ngf * 8, ngf * 8, nz, None, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetBlockWithZ(ngf * 8, ngf * 8, ngf * 8, nz, block, norm=norm, dropout=dropout)
        for mult in (4, 2, 1):
            block = UnetBlockWithZ(ngf * mult, ngf * mult, ngf * mult * 2, nz, block, norm=norm)
        self.model = UnetBlockWithZ(input_nc, output_nc, ngf, nz, block, outermost=True, norm=norm)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.model(x, z.to(dtype=x.dtype, device=x.device))
