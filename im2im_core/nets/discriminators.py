"""PatchGAN discriminators (junyanz layout), optionally spectrally normalised (SN-PatchGAN)."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .norm import conv_bias, norm_layer


@dataclass
class DiscriminatorConfig:
    n_layers: int = 3
    ndf: int = 64
    norm: str = "instance"
    spectral: bool = False


class NLayerDiscriminator(nn.Module):
    """70x70 PatchGAN for n_layers=3: a map of real/fake logits, one per overlapping patch."""

    def __init__(self, in_ch: int, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
                 spectral: bool = False, out_ch: int = 1):
        super().__init__()
        sn = spectral_norm if spectral else (lambda m: m)
        bias = conv_bias(norm)
        seq = [sn(nn.Conv2d(in_ch, ndf, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            seq += [sn(nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=bias)),
                    norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        seq += [sn(nn.Conv2d(ndf * mult, out_ch, 4, stride=1, padding=1))]
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)


def build_discriminator(cfg: DiscriminatorConfig, in_ch: int, out_ch: int = 1) -> nn.Module:
    return NLayerDiscriminator(in_ch, cfg.ndf, cfg.n_layers, cfg.norm, cfg.spectral, out_ch)


class AuxClassifierDiscriminator(nn.Module):
    """StarGAN's discriminator (Choi et al. 2018): a shared trunk of `n_layers` 4x4 stride-2 convs
    (channels doubling from `ndf`, LeakyReLU 0.01, no normalisation, as WGAN-GP asks) and two heads:

    - D_src: a 3x3 conv to one logit per patch (the PatchGAN real/fake critic);
    - D_cls: domain-classification logits (N, n_classes). The paper's head is one conv whose kernel
      covers the whole final map (tied to the training size); here a 3x3 conv to n_classes maps is
      averaged over space instead, so one discriminator serves any image size.
    - optional (`src_layers` = k < n_layers, not in the paper): D_src sits on the trunk's k-th layer, a
      local PatchGAN critic, while D_cls keeps the whole trunk. A local classifier would average
      its logits over background patches that look the same in every domain.
    forward returns (src, cls).
    """

    def __init__(self, in_ch: int, n_classes: int, ndf: int = 64, n_layers: int = 6, max_ch: int = 2048,
                 src_layers: int = 0):
        super().__init__()
        self.src_layers = src_layers or n_layers
        if not 1 <= self.src_layers <= n_layers:
            from ..errors import ConfigError

            raise ConfigError(f"src_layers must be in [1, {n_layers}] (0: the last layer), got {src_layers}")
        seq, ch = [nn.Conv2d(in_ch, ndf, 4, 2, 1), nn.LeakyReLU(0.01, True)], ndf
        for _ in range(1, n_layers):
            nxt = min(ch * 2, max_ch)
            seq += [nn.Conv2d(ch, nxt, 4, 2, 1), nn.LeakyReLU(0.01, True)]
            ch = nxt
        self.main = nn.Sequential(*seq)
        self.src = nn.Conv2d(min(ndf << (self.src_layers - 1), max_ch), 1, 3, 1, 1, bias=False)  # layer k's width
        self.cls = nn.Conv2d(ch, n_classes, 3, 1, 1, bias=False)
        self.n_layers, self.min_side = n_layers, 2 ** n_layers

    def forward(self, x):
        if min(x.shape[-2:]) < self.min_side:
            from ..errors import InputError

            raise InputError(f"discriminator input {tuple(x.shape[-2:])} too small: its {self.n_layers} stride-2 "
                             f"layers need sides >= {self.min_side} (lower d_layers)")
        k = 2 * self.src_layers  # (conv, activation) per layer
        h_src = self.main[:k](x)
        h = self.main[k:](h_src)
        return self.src(h_src), self.cls(h).mean(dim=(2, 3))
