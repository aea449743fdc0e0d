"""Single-image super-resolution: SRResNet / SRGAN (Ledig et al., CVPR 2017).

Training is self-supervised: ``batch["A"]`` holds CLEAN high-resolution images in [-1, 1]
(sides are cropped to a multiple of ``scale``); the low-resolution input is made on the fly by
``downsample`` ("bicubic": antialiased bicubic, like MATLAB imresize; "area": box average).

Generator (SRResNet): 9x9 conv + PReLU, ``n_blocks`` residual blocks (conv-[BN]-PReLU-conv-[BN];
BN off by default as in EDSR, since BN hurts SR fidelity and makes eval differ from training),
conv-[BN] with a long skip, then log2(scale) x (conv -> PixelShuffle(2) -> PReLU) and a 9x9 conv.
With ``upsample_skip=True`` (default) the network predicts a residual on top of bicubic
upsampling of the input (global residual learning, Kim et al. VDSR, CVPR 2016) and its last
conv starts at zero, so an untrained model equals bicubic and training only has to add detail.

Loss: ``content_loss`` ("l1" or "mse") between SR and HR. ``lambda_gan`` = 0 (default)
is SRResNet; > 0 builds a PatchGAN (``discriminator``, ``gan_mode``) and adds the adversarial term
(SRGAN used 1e-3 next to a VGG loss; values around 1e-3 - 5e-3 suit the L1 content loss here).

Inference: x is the low-resolution image in [-1, 1]; the output is ``scale`` x larger, clipped to
[-1, 1]. Everything is convolutional with no image-size-dependent operation (no normalisation
layer that sees whole images), so the Translator's tiling works: ``tileable = True``,
``size_multiple() == 1`` and ``scale_factor == scale`` (the tiler reads the scale from the output).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..losses import GAN_MODES, GANLoss
from ..nets import DiscriminatorConfig, build_discriminator
from .base import Im2ImModel, ModelConfig, check_choices, register

SCALES = (2, 4)
DOWNSAMPLERS = ("bicubic", "area")
CONTENT_LOSSES = ("l1", "mse")


@dataclass
class SuperResolutionConfig(ModelConfig):
    """SRResNet width/depth, scale, degradation and the optional SRGAN term."""
    SIZES: ClassVar[dict] = {"nf": "width", "n_blocks": "depth", "discriminator.ndf": "width"}

    #: old keys still read (with a DeprecationWarning): one name, lambda_gan, for every family
    RENAMED: ClassVar[dict] = {"adversarial_weight": "lambda_gan"}

    scale: int = 4
    n_blocks: int = 16
    nf: int = 64
    batch_norm: bool = False
    upsample_skip: bool = True
    downsample: str = "bicubic"
    content_loss: str = "l1"
    lambda_gan: float = 0.0
    gan_mode: str = "vanilla"
    discriminator: DiscriminatorConfig = field(
        default_factory=lambda: DiscriminatorConfig(n_layers=3, ndf=64, norm="batch"))
    domains: tuple = ("low-res", "high-res")


class _ResidualBlock(nn.Module):
    """conv-[BN]-PReLU-conv-[BN] + identity: SRResNet's building block."""

    def __init__(self, nf: int, bn: bool):
        super().__init__()
        norm = (lambda: nn.BatchNorm2d(nf)) if bn else nn.Identity
        self.body = nn.Sequential(nn.Conv2d(nf, nf, 3, padding=1), norm(), nn.PReLU(nf),
                                  nn.Conv2d(nf, nf, 3, padding=1), norm())

    def forward(self, x):
        """Residual block: x + body(x)."""
        return x + self.body(x)


class SRResNet(nn.Module):
    """Ledig et al.'s generator; pixel-shuffle x2 stages; optional bicubic global skip."""

    def __init__(self, in_ch: int, out_ch: int, scale: int = 4, nf: int = 64, n_blocks: int = 16,
                 bn: bool = False, upsample_skip: bool = True):
        super().__init__()
        if scale not in SCALES:
            raise ConfigError(f"scale must be one of {SCALES}, got {scale}")
        self.scale, self.upsample_skip = scale, upsample_skip
        self.head = nn.Sequential(nn.Conv2d(in_ch, nf, 9, padding=4), nn.PReLU(nf))
        self.body = nn.Sequential(*[_ResidualBlock(nf, bn) for _ in range(n_blocks)],
                                  nn.Conv2d(nf, nf, 3, padding=1), nn.BatchNorm2d(nf) if bn else nn.Identity())
        ups = []
        for _ in range(scale.bit_length() - 1):
            ups += [nn.Conv2d(nf, 4 * nf, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(nf)]
        self.upsample = nn.Sequential(*ups)
        self.tail = nn.Conv2d(nf, out_ch, 9, padding=4)
        if upsample_skip:  # start exactly at bicubic: the net learns only the missing detail
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)
        if upsample_skip and in_ch != out_ch:
            raise ConfigError(f"upsample_skip needs in_channels == out_channels, got {in_ch} and {out_ch}")

    def forward(self, x):
        """LR -> SR; plus bicubic(x) when upsample_skip."""
        feat = self.head(x)
        y = self.tail(self.upsample(feat + self.body(feat)))
        if self.upsample_skip:
            y = y + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return y


@register("super_resolution")
class SuperResolution(Im2ImModel):
    """Low-res -> scale x high-res; fully convolutional, so tiled inference is seamless."""
    paper: ClassVar[tuple] = (
        "Ledig et al.: Photo-Realistic Single Image Super-Resolution Using a Generative "
        "Adversarial Network, CVPR 2017",
        "https://arxiv.org/abs/1609.04802")

    Config = SuperResolutionConfig
    pure_bf16 = True
    generator_names = ("netG",)
    tileable = True
    two_domains = False

    def __init__(self, config: SuperResolutionConfig):
        super().__init__(config)
        self._check_config(config)
        self.scale_factor = int(config.scale)
        self.netG = SRResNet(config.in_channels, config.out_channels, config.scale, config.nf, config.n_blocks,
                             config.batch_norm, config.upsample_skip)
        if config.lambda_gan > 0:
            self.netD = build_discriminator(config.discriminator, config.out_channels)
            self.gan = GANLoss(config.gan_mode)

    @staticmethod
    def _check_config(c: SuperResolutionConfig) -> None:
        """Fail at build time, naming the field, rather than mid-training."""
        if c.scale not in SCALES:
            raise ConfigError(f"scale must be one of {SCALES}, got {c.scale!r}")
        check_choices(c, downsample=DOWNSAMPLERS, content_loss=CONTENT_LOSSES, gan_mode=GAN_MODES)
        if c.lambda_gan < 0:
            raise ConfigError(f"lambda_gan must be >= 0, got {c.lambda_gan}")

    def directions(self):
        """Only low-res -> high-res exists."""
        return ["AtoB"]

    def size_multiple(self):
        """1: fully convolutional at the input resolution, any size works."""
        return 1

    def inference_forward(self, x, direction, **opts):
        """Upscale x by `scale`; output clipped to [-1, 1]."""
        return self.netG(x).clamp(-1, 1)

    # ---- training ------------------------------------------------------------------------
    def degrade(self, hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(low-res input, high-res target cropped to a multiple of scale), made from the clean batch."""
        s = self.config.scale
        h, w = hr.shape[-2:]
        hr = hr[..., : h - h % s, : w - w % s].float()
        if self.config.downsample == "area":
            lr = F.interpolate(hr, scale_factor=1 / s, mode="area")
        else:
            lr = F.interpolate(hr, scale_factor=1 / s, mode="bicubic", antialias=True, align_corners=False)
        return lr.clamp(-1, 1), hr

    def content(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """L1 or MSE content loss, per the config."""
        return F.l1_loss(sr, hr) if self.config.content_loss == "l1" else F.mse_loss(sr, hr)

    def configure_optimizers(self, train_cfg):
        """Adam for G (and D when the SRGAN term is on) with the run's lr and betas."""
        opts = {"G": self.adam(self.netG.parameters(), train_cfg)}
        if hasattr(self, "netD"):
            opts["D"] = self.adam(self.netD.parameters(), train_cfg)
        return opts

    def train_step(self, batch, step):
        """Optional D update, then one G update on a freshly downsampled batch."""
        lr, hr = self.degrade(batch["A"])
        sr = self.netG(lr).float()
        logs = {}
        adv = torch.zeros((), device=hr.device)
        if hasattr(self, "netD"):
            self.set_requires_grad(self.netD, True)
            loss_d = 0.5 * (self.gan(self.netD(hr), True) + self.gan(self.netD(sr.detach()), False))
            self.optimize("D", loss_d)
            self.set_requires_grad(self.netD, False)
            adv = self.gan(self.netD(sr), True, for_discriminator=False)
            logs["D"] = loss_d.item()
        content = self.content(sr, hr)
        loss_g = content + self.config.lambda_gan * adv
        self.optimize("G", loss_g)
        if hasattr(self, "netD"):
            self.set_requires_grad(self.netD, True)
        logs.update({"G": loss_g.item(), "G_content": content.item(), "G_adv": adv.item()})
        return logs

    @torch.no_grad()
    def visuals(self, batch):
        """High-res, bicubic and super-resolved panels for the training previews."""
        lr, hr = self.degrade(batch["A"])
        up = F.interpolate(lr, scale_factor=self.config.scale, mode="bicubic", align_corners=False)
        return {"high_res": hr, "bicubic": up.clamp(-1, 1), "super_resolved": self.netG(lr).clamp(-1, 1)}


__all__ = ["SuperResolution", "SuperResolutionConfig", "SRResNet", "SCALES"]
