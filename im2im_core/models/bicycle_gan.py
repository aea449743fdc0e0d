"""BicycleGAN: Toward Multimodal Image-to-Image Translation (Zhu, Zhang, Pathak, Darrell, Efros,
Wang & Shechtman, NeurIPS 2017).

Paired data (like pix2pix). A latent code z (`nz`=8) carries what A does not determine about B.
Networks: a U-Net generator G(A, z) with z tiled spatially and concatenated to the input as `nz`
extra channels (the paper's "add_to_input"); a ResNet encoder E(B) -> (mu, log sigma^2); two
PatchGAN discriminators, D for the cVAE-GAN pass and D2 for the cLR-GAN pass (the paper's
default; `shared_d=True` uses one), each multi-scale (`n_scales`=2 as in the reference code) and
unconditional (they see B only).

Losses (paper Sec. 3, Eq. 9; min over G, E, max over D, D2):
  cVAE-GAN (B -> z -> B): z_enc = mu + sigma * eps with (mu, log sigma^2) = E(B)
    lambda_gan  * GAN(D, B, G(A, z_enc))
    lambda_l1   * |B - G(A, z_enc)|_1                      (lambda_l1 = 10)
    lambda_kl   * KL(N(mu, sigma^2) || N(0, I))            (lambda_kl = 0.01)
  cLR-GAN (z -> B -> z): z_rand ~ N(0, I)
    lambda_gan2 * GAN(D2, B, G(A, z_rand))
    lambda_latent * |z_rand - mu(E(G(A, z_rand)))|_1       (lambda_latent = 0.5)
The latent regression updates G only (E is frozen for that term, as in the paper's code); E is
trained by the cVAE-GAN terms. LSGAN, per-scale GAN losses summed, Adam lr 2e-4, betas
(0.5, 0.999) (TrainConfig.optim). Unlike the reference code, which feeds the two passes disjoint
halves of each batch, both passes here see the whole batch (so batch size 1 works); D2's real
images are the batch's B.

With `intensity_prior` (not in the paper; nets/prior.py, as for the unpaired families) G outputs
q(A) + U-Net(A, z), q being the quantile mapping of A's foreground histogram onto B's.

Inference (`Translator.translate` options):
- nothing: z = 0, the prior's mean (deterministic, and what exports compute);
- `seed=s`: one z drawn from N(0, I) with that seed; `n_samples=K` (seed 0 unless given): K codes
  drawn once per call (every tile and every slice share them) and a leading axis of K outputs;
- `style_from=ref`: z = mu(E(ref)) of a reference image of the output domain B (normalised with
  the checkpoint's Intensity window computed on the reference).

`arch="official"` builds junyanz/BicycleGAN's generator (what `im2im_core.foreign.bicycle_gan`
imports into): `G_Unet_add_all` (nets/unet_add_all.py), z added at every U-Net level where ours
adds it to the input only. The encoder is the same network as their `E_ResNet` except that it
pools globally where theirs ends in AvgPool2d(8), which ties theirs to 256 px (resnet_256) or
128 px (resnet_128) references; at those sizes the two agree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..errors import ConfigError, InputError
from ..losses import GANLoss, kl_gaussian, l1
from ..nets import GeneratorConfig, build_generator
from ..nets.codemap import with_code
from ..nets.encoders import MultiScaleDiscriminator
from ..nets.norm import conv_bias, norm_layer
from ..nets.prior import QuantileMap, check_prior, fit_priors, zero_last_conv
from ..nets.init import init_weights
from .latents import MultimodalModel, draw_codes, reference_tensor
from .base import ModelConfig, check_losses, register

torch.fx.wrap("with_code")  # one pointwise step for the streaming executor (nets/codemap.py)


@dataclass
class BicycleGANConfig(ModelConfig):
    """A is the input (in_channels), B the output (out_channels); one direction, AtoB."""
    SIZES: ClassVar[dict] = {"ngf": "width", "num_downs": "levels", "nef": "width", "e_blocks": "depth", "ndf": "width",
                            "n_scales": "scales"}

    nz: int = 8  # latent code length
    ngf: int = 64
    num_downs: int = 8  # U-Net levels (8: the paper's unet_256; sides must be multiples of 2**num_downs)
    norm: str = "instance"  # generator and encoder norm (the reference code's default)
    nef: int = 64  # encoder width
    e_blocks: int = 5  # encoder: one stride-2 conv, then e_blocks - 1 residual down blocks (resnet_256)
    ndf: int = 64
    d_layers: int = 3
    n_scales: int = 2  # the reference code's basic_256_multi: two scales
    d_norm: str = "instance"
    shared_d: bool = False  # True: one discriminator for both passes
    gan_mode: str = "lsgan"
    lambda_gan: float = 1.0  # cVAE-GAN adversarial weight
    lambda_gan2: float = 1.0  # cLR-GAN adversarial weight
    lambda_l1: float = 10.0
    lambda_kl: float = 0.01
    lambda_latent: float = 0.5
    #: "match"/"invert": G adds its output to a fixed quantile mapping q(A) (nets/prior.py), not in the paper
    intensity_prior: str = "none"
    #: "ours" or "official" (junyanz/BicycleGAN's G_Unet_add_all; see the module docstring)
    arch: str = "ours"


class ResDownBlock(nn.Module):
    """norm -> lrelu -> conv3 -> norm -> lrelu -> conv3 -> avgpool2, plus an avgpool2 -> conv1 shortcut:
    halves the resolution, in_ch -> out_ch channels."""

    def __init__(self, in_ch: int, out_ch: int, norm: str):
        super().__init__()
        bias = conv_bias(norm) or norm == "none"
        self.body = nn.Sequential(
            norm_layer(norm, in_ch), nn.LeakyReLU(0.2), nn.Conv2d(in_ch, in_ch, 3, padding=1, bias=bias),
            norm_layer(norm, in_ch), nn.LeakyReLU(0.2), nn.Conv2d(in_ch, out_ch, 3, padding=1),
            nn.AvgPool2d(2))
        self.skip = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(in_ch, out_ch, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class LatentEncoder(nn.Module):
    """E(B) -> (mu, logvar), each (N, nz): conv4 stride 2, `n_blocks - 1` residual down blocks
    (widths nef * min(k, 4)), lrelu, global average pooling, two linear heads. Any input size whose
    sides survive the halvings works (global pooling), so references need not match the inputs."""

    def __init__(self, in_ch: int, nz: int, nef: int = 64, n_blocks: int = 5, norm: str = "instance"):
        super().__init__()
        if n_blocks < 1:
            raise ConfigError(f"bicycle_gan: e_blocks must be >= 1, got {n_blocks}")
        layers: list[nn.Module] = [nn.Conv2d(in_ch, nef, 4, 2, 1)]
        width = nef
        for k in range(1, n_blocks):
            nxt = nef * min(k + 1, 4)
            layers.append(ResDownBlock(width, nxt, norm))
            width = nxt
        layers += [nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.fc_mu, self.fc_logvar = nn.Linear(width, nz), nn.Linear(width, nz)
        self.min_side = 2 ** n_blocks

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if min(x.shape[-2:]) < self.min_side:
            raise InputError(f"image {tuple(x.shape[-2:])} too small for the latent encoder: sides must be >= "
                             f"{self.min_side}")
        h = self.features(x)
        return self.fc_mu(h), self.fc_logvar(h)


class LatentUnet(nn.Module):
    """G(A, z): a U-Net on concat(A, z tiled over the image) (the paper's add_to_input); with a prior,
    q(A) + U-Net(...), the U-Net's last conv starting at zero."""

    def __init__(self, in_ch: int, out_ch: int, nz: int, cfg: GeneratorConfig, prior: str = "none"):
        super().__init__()
        self.nz = nz
        self.unet = build_generator(cfg, in_ch + nz, out_ch)
        #: with an intensity prior: the fixed mapping q the U-Net adds its output to
        self.prior = QuantileMap(prior == "invert") if prior != "none" else None

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W), z (N, nz) -> (N, out, H, W)."""
        y = self.unet(with_code(x, z))
        return y if self.prior is None else self.prior(x) + y


@register("bicycle_gan")
class BicycleGAN(MultimodalModel):
    """netG: A, z -> B; netE: B -> (mu, logvar); netD (cVAE-GAN pass) and netD2 (cLR-GAN pass)."""
    paper: ClassVar[tuple] = (
        "Zhu et al.: Toward Multimodal Image-to-Image Translation, NIPS 2017",
        "https://arxiv.org/abs/1711.11586")

    Config = BicycleGANConfig
    generator_names = ("netG", "netE")  # the encoder is kept for style_from
    needs_pairs = True

    def __init__(self, config: BicycleGANConfig):
        super().__init__(config)
        c = config
        check_losses("bicycle_gan", c, ("lambda_gan", "lambda_gan2", "lambda_l1", "lambda_kl", "lambda_latent"))
        if c.nz < 1:
            raise ConfigError(f"bicycle_gan: nz must be >= 1, got {c.nz}")
        check_prior("bicycle_gan", c.intensity_prior)
        if c.arch == "official":
            if c.intensity_prior != "none":
                raise ConfigError("bicycle_gan: arch 'official' (their G_Unet_add_all) takes no intensity prior")
            from ..nets.unet_add_all import UnetAddAll

            self.netG = init_weights(UnetAddAll(c.in_channels, c.out_channels, c.nz, c.num_downs, c.ngf, c.norm))
            self.netG.prior = None
        elif c.arch == "ours":
            gcfg = GeneratorConfig(arch="unet", num_downs=c.num_downs, ngf=c.ngf, norm=c.norm)
            self.netG = init_weights(LatentUnet(c.in_channels, c.out_channels, c.nz, gcfg, c.intensity_prior))
        else:
            raise ConfigError(f"bicycle_gan: arch {c.arch!r} unknown; use 'ours' or 'official' (junyanz/BicycleGAN)")
        if self.netG.prior is not None:
            zero_last_conv(self.netG.unet)  # the model starts as the mapping q
        self.netE = init_weights(LatentEncoder(c.out_channels, c.nz, c.nef, c.e_blocks, c.norm))
        self.netD = init_weights(MultiScaleDiscriminator(c.out_channels, c.ndf, c.d_layers, c.n_scales, c.d_norm))
        self.netD2 = None if c.shared_d else init_weights(
            MultiScaleDiscriminator(c.out_channels, c.ndf, c.d_layers, c.n_scales, c.d_norm))
        self.gan = GANLoss(c.gan_mode)

    def directions(self):
        return ["AtoB"]

    q = property(lambda self: self.netG.prior, doc="q from A into B (None without a prior).")

    def prepare_data(self, dataset):
        fit_priors(self, dataset, [("q", "A", "B")])

    def size_multiple(self) -> int:
        return 2 ** self.config.num_downs

    @property
    def D2(self) -> nn.Module:
        """The cLR-GAN pass's discriminator (netD itself when shared_d)."""
        return self.netD if self.netD2 is None else self.netD2

    # ---- inference -------------------------------------------------------------------------------
    def resolve_samples(self, direction, opts, device):
        """One {"z": (1, nz)} per output: the prior mean, seeded draws or a reference's encoded mu."""
        ref = reference_tensor(opts, "style_from", self.config.out_channels)
        if ref is not None:
            return [{"z": self.encode_reference(ref)}]
        codes = draw_codes(opts, self.config.nz, device)
        return [{"z": None}] if codes is None else [{"z": z} for z in codes]

    @torch.no_grad()
    def encode_reference(self, ref: torch.Tensor) -> torch.Tensor:
        """mu(E(ref)), (1, nz), of one reference image of domain B, (1, C, H, W) in [-1, 1]."""
        param = next(self.netE.parameters())
        return self.netE(ref.to(device=param.device, dtype=param.dtype))[0].float()

    def inference_forward(self, x, direction, z: torch.Tensor | None = None):
        if z is None:
            z = torch.zeros(1, self.config.nz, device=x.device)
        return self.netG(x, z.to(device=x.device, dtype=x.dtype).expand(x.shape[0], -1))

    # ---- training --------------------------------------------------------------------------------
    def configure_optimizers(self, train_cfg) -> dict:
        """One Adam for G and E (E's gradient excludes the latent regression), one for D and D2."""
        dis = list(self.netD.parameters()) + ([] if self.netD2 is None else list(self.netD2.parameters()))
        return {"gen": self.adam(list(self.netG.parameters()) + list(self.netE.parameters()), train_cfg),
                "dis": self.adam(dis, train_cfg)}

    def adv(self, preds: list[torch.Tensor], real: bool, for_discriminator: bool = True) -> torch.Tensor:
        """GAN loss summed over the discriminator's scales (as in the reference code)."""
        return sum(self.gan(p, real, for_discriminator) for p in preds)

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        """G and E on Eq. 9's terms, then D and D2 on real B vs the two passes' fakes."""
        c = self.config
        real_a, real_b = batch["A"], batch["B"]
        mu, logvar = self.netE(real_b)
        z_enc = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # reparameterised draw from q(z|B)
        z_rand = torch.randn(real_a.shape[0], c.nz, device=real_a.device)
        fake_enc = self.netG(real_a, z_enc)  # cVAE-GAN: B -> z -> B
        fake_rand = self.netG(real_a, z_rand)  # cLR-GAN: z -> B -> z
        # generator and encoder (first, as in the reference code)
        self.set_requires_grad([self.netD, self.D2], False)
        terms = {
            "G_GAN": c.lambda_gan * self.adv(self.netD(fake_enc), True, False),
            "G_GAN2": c.lambda_gan2 * self.adv(self.D2(fake_rand), True, False),
            "G_L1": c.lambda_l1 * l1(fake_enc, real_b),
            "kl": c.lambda_kl * kl_gaussian(mu.float(), logvar.float()),
        }
        if c.lambda_latent > 0:
            # latent regression through a frozen E: its gradient reaches G only
            self.set_requires_grad(self.netE, False)
            mu_rec, _ = self.netE(fake_rand)
            self.set_requires_grad(self.netE, True)
            terms["z_L1"] = c.lambda_latent * l1(mu_rec, z_rand)
        total = sum(terms.values())
        self.optimize("gen", total)
        # discriminators, on this step's fakes
        self.set_requires_grad([self.netD, self.D2], True)
        d1 = self.adv(self.netD(real_b), True) + self.adv(self.netD(fake_enc.detach()), False)
        d2 = self.adv(self.D2(real_b), True) + self.adv(self.D2(fake_rand.detach()), False)
        self.optimize("dis", c.lambda_gan * d1 + c.lambda_gan2 * d2)
        out = {k: float(v.detach()) for k, v in terms.items()}
        out.update(G_total=float(total.detach()), D=float(d1.detach()), D2=float(d2.detach()))
        return out

    @torch.no_grad()
    def visuals(self, batch: dict) -> dict[str, torch.Tensor]:
        """Input, target, the target's encoded reconstruction and a fixed random sample."""
        real_a, real_b = batch["A"], batch["B"]
        g = torch.Generator().manual_seed(0)
        z = torch.randn(1, self.config.nz, generator=g).to(real_a.device).expand(len(real_a), -1)
        return {"real_A": real_a, "real_B": real_b, "fake_B_encoded": self.netG(real_a, self.netE(real_b)[0]),
                "fake_B_random": self.netG(real_a, z)}
