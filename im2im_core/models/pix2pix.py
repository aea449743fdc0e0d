"""pix2pix (Isola et al. 2017): paired translation with a U-Net generator, a conditional PatchGAN
discriminator on concat(input, output) and an L1 term (lambda_L1 = 100), as in junyanz's code."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from ..errors import ConfigError
from ..losses import GANLoss, l1
from ..nets import DiscriminatorConfig, GeneratorConfig, build_discriminator, build_generator
from ..nets.init import init_weights
from ..nets.prior import check_prior, fit_priors, with_prior
from .base import NESTED_SIZES, Im2ImModel, ModelConfig, register, require_blendable


@dataclass
class Pix2PixConfig(ModelConfig):
    SIZES: ClassVar[dict] = NESTED_SIZES
    generator: GeneratorConfig = field(
        default_factory=lambda: GeneratorConfig(arch="unet", num_downs=8, norm="batch", dropout=True))
    discriminator: DiscriminatorConfig = field(default_factory=lambda: DiscriminatorConfig(norm="batch"))
    gan_mode: str = "vanilla"
    lambda_L1: float = 100.0
    #: "match"/"invert": G learns a residual, starting at zero, on the quantile mapping of the two
    #: domains' foreground histograms (nets/prior.py), as the unpaired families can
    intensity_prior: str = "none"


@register("pix2pix")
class Pix2Pix(Im2ImModel):
    """G: A -> B; D sees (A, B) or (A, G(A)) pairs. Needs paired data; one direction only."""
    paper: ClassVar[tuple] = (
        "Isola, Zhu, Zhou & Efros: Image-to-Image Translation with Conditional Adversarial "
        "Networks, CVPR 2017",
        "https://arxiv.org/abs/1611.07004")

    Config = Pix2PixConfig
    pure_bf16 = True
    generator_names = ("netG",)
    inference_options = frozenset({"dropout_noise"})
    needs_pairs = True

    def __init__(self, config: Pix2PixConfig):
        super().__init__(config)
        if config.lambda_L1 < 0:
            raise ConfigError(f"pix2pix: lambda_L1 must be >= 0, got {config.lambda_L1}")
        check_prior("pix2pix", config.intensity_prior)
        if config.intensity_prior != "none":
            require_blendable("pix2pix", config, "adds its output to the mapped input (intensity_prior)")
        self.netG = with_prior(init_weights(build_generator(config.generator, config.in_channels, config.out_channels)),
                               config.intensity_prior)
        self.netD = init_weights(build_discriminator(config.discriminator, config.in_channels + config.out_channels))
        self.gan_loss = GANLoss(config.gan_mode)

    def prepare_data(self, dataset):
        fit_priors(self, dataset, [("netG", "A", "B")])

    def directions(self):
        return ["AtoB"]

    def size_multiple(self):
        return self.config.generator.size_multiple()

    def inference_forward(self, x, direction, dropout_noise: bool = False, **opts):
        """G(x); `dropout_noise=True` keeps dropout active as the paper did at test time."""
        drops = [m for m in self.netG.modules() if isinstance(m, nn.Dropout)] if dropout_noise else []
        states = [m.training for m in drops]
        for m in drops:
            m.train()
        try:
            return self.netG(x)
        finally:
            for m, s in zip(drops, states):
                m.train(s)

    # ---- training --------------------------------------------------------------------
    def configure_optimizers(self, train_cfg):
        """Adam for G and for D (no image pool: junyanz pix2pix uses pool_size 0)."""
        self.optimizers = {"G": self.adam(self.netG.parameters(), train_cfg), "D": self.adam(self.netD.parameters(), train_cfg)}
        return self.optimizers

    def train_step(self, batch, step):
        """D on real/fake pairs, then G on GAN + lambda_L1 * L1 (junyanz order)."""
        real_A, real_B = batch["A"], batch["B"]
        fake_B = self.netG(real_A)
        # D: real pairs -> 1, fake pairs -> 0; halved so D learns slower than G (junyanz)
        self.set_requires_grad(self.netD, True)
        loss_D_fake = self.gan_loss(self.netD(torch.cat([real_A, fake_B.detach()], 1)), False)
        loss_D_real = self.gan_loss(self.netD(torch.cat([real_A, real_B], 1)), True)
        self.optimize("D", 0.5 * (loss_D_fake + loss_D_real))
        # G: fool D, stay close to B in L1
        self.set_requires_grad(self.netD, False)
        loss_G_GAN = self.gan_loss(self.netD(torch.cat([real_A, fake_B], 1)), True, for_discriminator=False)
        loss_G_L1 = l1(fake_B, real_B) * self.config.lambda_L1
        self.optimize("G", loss_G_GAN + loss_G_L1)
        self.set_requires_grad(self.netD, True)
        return {"G_GAN": loss_G_GAN.item(), "G_L1": loss_G_L1.item(), "D_real": loss_D_real.item(),
                "D_fake": loss_D_fake.item()}

    @torch.no_grad()
    def visuals(self, batch):
        """Input, output and target for the sample grid."""
        return {"real_A": batch["A"], "fake_B": self.netG(batch["A"]), "real_B": batch["B"]}
