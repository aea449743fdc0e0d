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
