"""CycleGAN (Zhu et al. 2017): unpaired translation with two ResNet generators, two PatchGANs,
LSGAN, cycle consistency (lambda 10), identity loss (0.5 * lambda) and image pools, as in
junyanz's pytorch-CycleGAN-and-pix2pix (names netG_A: A->B, netD_A: judges domain B)."""
from __future__ import annotations

from typing import ClassVar

import itertools
from dataclasses import dataclass, field

import torch

from ..errors import ConfigError
from ..losses import GANLoss, l1
from ..nets import DiscriminatorConfig, GeneratorConfig, build_discriminator, build_generator
from ..nets.prior import check_prior, fit_priors, with_prior
from ..nets.init import init_weights
from ._pool import ImagePool
from .base import NESTED_SIZES, Im2ImModel, ModelConfig, register


@dataclass
class CycleGANConfig(ModelConfig):
    SIZES: ClassVar[dict] = NESTED_SIZES
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    gan_mode: str = "lsgan"
    lambda_A: float = 10.0  # cycle A -> B -> A
    lambda_B: float = 10.0  # cycle B -> A -> B
    lambda_identity: float = 0.5  # identity weight, relative to lambda_A/lambda_B
    #: "match"/"invert": generators add a residual to a fixed quantile mapping (nets/prior.py)
    intensity_prior: str = "none"
    #: L1 pull of each translation towards its prior mapping q(x) (the residual stays small unless
    #: the discriminator insists); needs intensity_prior
    lambda_prior: float = 0.0


@register("cycle_gan")
class CycleGAN(Im2ImModel):
    """G_A: A -> B, G_B: B -> A; D_A tells real B from G_A(A), D_B real A from G_B(B)."""
    paper: ClassVar[tuple] = (
        "Zhu, Park, Isola & Efros: Unpaired Image-to-Image Translation using Cycle-Consistent "
        "Adversarial Networks, ICCV 2017",
        "https://arxiv.org/abs/1703.10593")
    pure_bf16 = True

    Config = CycleGANConfig
    generator_names = ("netG_A", "netG_B")

    def __init__(self, config: CycleGANConfig):
        super().__init__(config)
        c = config
        if min(c.lambda_A, c.lambda_B, c.lambda_identity) < 0:
            raise ConfigError("cycle_gan: lambda_A, lambda_B and lambda_identity must be >= 0")
        check_prior("cycle_gan", c.intensity_prior, c.lambda_prior)
        if c.lambda_identity > 0 and c.in_channels != c.out_channels:
            raise ConfigError(f"cycle_gan: identity loss needs in_channels == out_channels (got {c.in_channels} and "
                              f"{c.out_channels}); set lambda_identity=0")
        self.netG_A = with_prior(init_weights(build_generator(c.generator, c.in_channels, c.out_channels)),
                                 c.intensity_prior)
        self.netG_B = with_prior(init_weights(build_generator(c.generator, c.out_channels, c.in_channels)),
                                 c.intensity_prior)
        self.netD_A = init_weights(build_discriminator(c.discriminator, c.out_channels))
        self.netD_B = init_weights(build_discriminator(c.discriminator, c.in_channels))
        self.gan_loss = GANLoss(c.gan_mode)
        self.pools: dict[str, ImagePool] = {}

    def size_multiple(self):
        return self.config.generator.size_multiple()

    def prepare_data(self, dataset):
        fit_priors(self, dataset, [("netG_A", "A", "B"), ("netG_B", "B", "A")])

    def inference_forward(self, x, direction, **opts):
        """G_A for AtoB, G_B for BtoA."""
        return self.netG_A(x) if direction == "AtoB" else self.netG_B(x)

    # ---- training --------------------------------------------------------------------
    def configure_optimizers(self, train_cfg):
        """One Adam over both generators, one over both discriminators, and the fake pools."""
        self.pools = {"fake_B": ImagePool(train_cfg.pool_size), "fake_A": ImagePool(train_cfg.pool_size)}
        self.optimizers = {
            "G": self.adam(itertools.chain(self.netG_A.parameters(), self.netG_B.parameters()), train_cfg),
            "D": self.adam(itertools.chain(self.netD_A.parameters(), self.netD_B.parameters()), train_cfg),
        }
        return self.optimizers

    def _d_loss(self, netD, real, fake):
        """Real -> 1, (pooled) fake -> 0, halved so D learns slower than G."""
        return 0.5 * (self.gan_loss(netD(real), True) + self.gan_loss(netD(fake.detach()), False))

    def train_step(self, batch, step):
        """Generators (GAN + cycle + identity) with D frozen, then both Ds on pooled fakes."""
        c = self.config
        real_A, real_B = batch["A"], batch["B"]
        fake_B = self.netG_A(real_A)
        rec_A = self.netG_B(fake_B)
        fake_A = self.netG_B(real_B)
        rec_B = self.netG_A(fake_A)
        # generators, with the discriminators frozen
        self.set_requires_grad([self.netD_A, self.netD_B], False)
        losses = {"G_A": self.gan_loss(self.netD_A(fake_B), True, for_discriminator=False),
                  "G_B": self.gan_loss(self.netD_B(fake_A), True, for_discriminator=False),
                  "cycle_A": l1(rec_A, real_A) * c.lambda_A,
                  "cycle_B": l1(rec_B, real_B) * c.lambda_B}
        if c.lambda_identity > 0:
            losses["idt_A"] = l1(self.netG_A(real_B), real_B) * c.lambda_B * c.lambda_identity
            losses["idt_B"] = l1(self.netG_B(real_A), real_A) * c.lambda_A * c.lambda_identity
        if c.lambda_prior > 0:
            losses["prior_A"] = l1(fake_B, self.netG_A.mapping(real_A)) * c.lambda_prior
            losses["prior_B"] = l1(fake_A, self.netG_B.mapping(real_B)) * c.lambda_prior
        self.optimize("G", sum(losses.values()))
        # discriminators, on pooled fakes
        self.set_requires_grad([self.netD_A, self.netD_B], True)
        losses["D_A"] = self._d_loss(self.netD_A, real_B, self.pools["fake_B"].query(fake_B))
        losses["D_B"] = self._d_loss(self.netD_B, real_A, self.pools["fake_A"].query(fake_A))
        self.optimize("D", losses["D_A"] + losses["D_B"])
        return {k: v.item() for k, v in losses.items()}

    @torch.no_grad()
    def visuals(self, batch):
        """Both translations and reconstructions for the sample grid."""
        real_A, real_B = batch["A"], batch["B"]
        fake_B, fake_A = self.netG_A(real_A), self.netG_B(real_B)
        return {"real_A": real_A, "fake_B": fake_B, "rec_A": self.netG_B(fake_B),
                "real_B": real_B, "fake_A": fake_A, "rec_B": self.netG_A(fake_A)}
