"""UNIT: Unsupervised Image-to-Image Translation Networks (Liu, Breuel & Kautz, NIPS 2017).

Shared-latent-space assumption: a pair of corresponding images (x1, x2) maps to one code z.
Two VAE-GANs, one per domain, implement it with weight sharing:

- encoders E1, E2 whose LAST `n_shared` residual blocks are one module object (`E1.shared is
  E2.shared`), so both domains are encoded into the same high-level latent space;
- generators G1, G2 whose FIRST `n_shared` residual blocks are one module object;
- discriminators D1 (domain 1 = "A") and D2 (domain 2 = "B").
E1, E2, G1, G2 live in one ModuleDict `vae` (the only entry of `generator_names`), so copies made
by the engine (EMA) and exports keep the tied layers tied; `model.E1` etc. are properties.

Latent: q_i(z|x_i) = N(E_i(x_i), I) (unit variance, as in the paper's implementation), sampled with
the reparameterisation z = mu + eps, eps ~ N(0, I) while training; z = mu at inference.

Losses (paper notation, objective Eq. 2 = sum of the six terms, min over E/G, max over D):
  Eq. 3  L_VAE_i = lambda1 KL(q_i(z_i|x_i) || N(0,I)) - lambda2 E[log p_Gi(x_i|z_i)]
  Eq. 4  L_GAN_1 = lambda0 E[log D1(x1)] + lambda0 E[log(1 - D1(G1(z2)))]   (and L_GAN_2 with D2, G2(z1))
  Eq. 5  L_CC_1  = lambda3 KL(q1(z1|x1)) + lambda3 KL(q2(z2|x1->2)) - lambda4 E[log p_G1(x1|z2)]
The negative log-likelihoods are Laplacian with unit scale, i.e. L1 reconstruction (the constant is
dropped); the KL of N(mu, I) against N(0, I) is 0.5 * mean(mu^2). Defaults are the paper's:
lambda0=10, lambda1=0.1, lambda2=100, lambda3=0.1, lambda4=100; Adam lr 1e-4, betas (0.5, 0.999).

Intensity prior (`intensity_prior`, not in the paper; nets/prior.py): each output adds a fixed
base image to G_i(z): the input itself for a within-domain stream and the quantile mapping q of
the source's foreground histogram onto the target's for a cross-domain one (x1->2 = q12(x1) +
G2(z1)). The generators' last layers start at zero, so training starts from the mapping.

`arch="official"` builds mingyuliutw/UNIT's PyTorch networks (master's VAEGen, what
`im2im_core.foreign.unit` imports into): no weight-tied layers (n_shared = 0; the official
PyTorch code ties nothing, the shared latent comes from the losses alone) and their layer norm
(nets/norm.py `MUNITLayerNorm2d`) after each up-sampling conv where ours uses `norm`.

GAN loss: `gan_mode="vanilla"` (the paper's; generator side non-saturating) by default, "lsgan"
(the official PyTorch code's) selectable. Discriminators: multi-scale PatchGANs (`n_scales`
junyanz PatchGANs on the image and 2x/4x average-pooled copies, as in the official PyTorch code);
`n_scales=1` is a single PatchGAN. Per-scale losses are averaged so lambda0 keeps its meaning.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..errors import ConfigError
from ..losses import GANLoss, kl_unit_variance, l1
from ..nets.prior import check_prior, QuantileMap, fit_priors, zero_last_conv
from ..nets.encoders import (ConvDecoder, ConvEncoder, MultiScaleDiscriminator, SharedHeadDecoder,
                             SharedTailEncoder, res_blocks)
from .base import LATENT_SIZES, Im2ImModel, ModelConfig, register


@dataclass
class UNITConfig(ModelConfig):
    """Domain 1 is "A" (in_channels), domain 2 is "B" (out_channels)."""
    SIZES: ClassVar[dict] = LATENT_SIZES

    dim: int = 64  # channels of the first conv; the latent has dim * 2**n_downsample channels
    n_downsample: int = 2
    n_res: int = 4  # residual blocks per encoder and per generator, shared ones included
    n_shared: int = 1  # last encoder / first generator residual blocks that are weight-tied
    norm: str = "instance"
    activation: str = "relu"
    pad_type: str = "reflect"
    ndf: int = 64
    d_layers: int = 3  # per-scale PatchGAN depth (3: 70x70 patches at full resolution)
    n_scales: int = 3
    d_norm: str = "none"
    gan_mode: str = "vanilla"  # the paper; "lsgan" is the official code's choice
    lambda0: float = 10.0  # GAN
    lambda1: float = 0.1  # KL in the VAE terms
    lambda2: float = 100.0  # reconstruction NLL (L1)
    lambda3: float = 0.1  # KL in the cycle terms
    lambda4: float = 100.0  # cycle-reconstruction NLL (L1)
    lr: float = 1e-4  # the paper's Adam step; 0 takes TrainConfig.optim.lr instead
    #: "match"/"invert": outputs are a base image (the input, or its quantile mapping to the other
    #: domain) plus G_i(z); see the module docstring
    intensity_prior: str = "none"
    lambda_prior: float = 0.0  # L1 pull of each translation towards q(x); needs intensity_prior
    #: "ours" or "official" (mingyuliutw/UNIT's VAEGen: nothing tied, their layer norm; see the module docstring)
    arch: str = "ours"

    def preset(self, capacity: str = "full", size: int = 256):
        """As every family's, but the shared blocks stay: n_res >= n_shared."""
        cfg = super().preset(capacity, size)
        return dataclasses.replace(cfg, n_res=max(cfg.n_res, cfg.n_shared))


@register("unit")
class UNIT(Im2ImModel):
    """Coupled VAE-GANs with a shared latent space; AtoB = G2(E1(x)), BtoA = G1(E2(x))."""
    paper: ClassVar[tuple] = (
        "Liu, Breuel & Kautz: Unsupervised Image-to-Image Translation Networks, NIPS 2017",
        "https://arxiv.org/abs/1703.00848")

    Config = UNITConfig
    pure_bf16 = True
    generator_names = ("vae",)  # E1, E2, G1, G2 in one ModuleDict

    def __init__(self, config: UNITConfig):
        super().__init__(config)
        c = config
        if c.arch not in ("ours", "official"):
            raise ConfigError(f"unit: arch {c.arch!r} unknown; use 'ours' or 'official' (mingyuliutw/UNIT)")
        official = c.arch == "official"
        if not (0 if official else 1) <= c.n_shared <= c.n_res:
            raise ConfigError(f"unit: need 1 <= n_shared <= n_res, got n_shared={c.n_shared}, n_res={c.n_res}")
        if c.gan_mode not in ("vanilla", "lsgan"):
            raise ConfigError(f"unit: gan_mode {c.gan_mode!r} unknown; use 'vanilla' (paper) or 'lsgan'")
        check_prior("unit", c.intensity_prior, c.lambda_prior)
        blocks = dict(norm=c.norm, activation=c.activation, pad_type=c.pad_type)
        latent = c.dim * 2 ** c.n_downsample
        n_private = c.n_res - c.n_shared
        enc_shared = res_blocks(c.n_shared, latent, **blocks)  # ONE object, used by E1 and E2
        dec_shared = res_blocks(c.n_shared, latent, **blocks)  # ONE object, used by G1 and G2

        def encoder(ch):
            """Private conv front for `ch` channels, then the one shared tail."""
            return SharedTailEncoder(ConvEncoder(ch, c.dim, c.n_downsample, n_private, **blocks), enc_shared)

        def generator(ch):
            """The one shared head, then a private decoder to `ch` channels."""
            dec = ConvDecoder(latent, ch, c.n_downsample, n_private, c.norm, "munit_layer" if official else c.norm,
                              c.activation, c.pad_type)
            return SharedHeadDecoder(dec_shared, dec)

        # one container, so a deepcopy (the engine's EMA) or export keeps the tied layers tied
        self.vae = nn.ModuleDict({"E1": encoder(c.in_channels), "E2": encoder(c.out_channels),
                                  "G1": generator(c.in_channels), "G2": generator(c.out_channels)})
        if c.intensity_prior != "none":
            invert = c.intensity_prior == "invert"
            self.vae.update({"q12": QuantileMap(invert), "q21": QuantileMap(invert)})
            zero_last_conv(self.G1)
            zero_last_conv(self.G2)
        self.D1 = MultiScaleDiscriminator(c.in_channels, c.ndf, c.d_layers, c.n_scales, c.d_norm)
        self.D2 = MultiScaleDiscriminator(c.out_channels, c.ndf, c.d_layers, c.n_scales, c.d_norm)
        self.gan = GANLoss(c.gan_mode)

    E1 = property(lambda self: self.vae["E1"], doc="Encoder of domain 1 (A).")
    E2 = property(lambda self: self.vae["E2"], doc="Encoder of domain 2 (B).")
    G1 = property(lambda self: self.vae["G1"], doc="Generator of domain 1 (A).")
    G2 = property(lambda self: self.vae["G2"], doc="Generator of domain 2 (B).")

    @property
    def q12(self):
        """The fixed mapping of domain-1 intensities onto domain 2's (None without a prior)."""
        return self.vae["q12"] if "q12" in self.vae else None

    @property
    def q21(self):
        """The fixed mapping of domain-2 intensities onto domain 1's (None without a prior)."""
        return self.vae["q21"] if "q21" in self.vae else None

    def prepare_data(self, dataset):
        fit_priors(self, dataset, [("q12", "A", "B"), ("q21", "B", "A")])

    def decode(self, gen: nn.Module, z: torch.Tensor, x: torch.Tensor, q) -> torch.Tensor:
        """G(z), plus the base image with a prior: x itself (q is None: same domain) or q(x)."""
        if self.q12 is None:
            return gen(z)
        return gen(z) + (x if q is None else q(x))

    def size_multiple(self) -> int:
        """Sides must survive n_downsample halvings exactly."""
        return 2 ** self.config.n_downsample

    # ---- latent ------------------------------------------------------------------------------
    def sample(self, mu: torch.Tensor) -> torch.Tensor:
        """Reparameterised draw from q(z|x) = N(mu, I): z = mu + eps, so gradients reach mu."""
        return mu + torch.randn_like(mu)

    def translate(self, x: torch.Tensor, direction: str) -> torch.Tensor:
        """Deterministic translation through the mean code z = mu."""
        enc, gen, q = (self.E1, self.G2, self.q12) if direction == "AtoB" else (self.E2, self.G1, self.q21)
        return self.decode(gen, enc(x), x, q)

    def inference_forward(self, x, direction, **opts):
        """AtoB: x1 -> E1 -> z = mu -> G2; BtoA: x2 -> E2 -> G1."""
        return self.translate(x, direction)

    # ---- training ------------------------------------------------------------------------------
    def configure_optimizers(self, train_cfg) -> dict:
        """One Adam for E1, E2, G1, G2 (shared layers listed once) and one for D1, D2."""
        o = train_cfg.optim
        lr = self.config.lr or o.lr
        kw = dict(lr=lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay)
        return {"gen": torch.optim.Adam(_unique_params(self.vae), **kw),
                "dis": torch.optim.Adam(_unique_params(self.D1, self.D2), **kw)}

    def adv(self, preds: list[torch.Tensor], real: bool, for_discriminator: bool = True) -> torch.Tensor:
        """GAN loss averaged over the discriminator's scales."""
        return sum(self.gan(p, real, for_discriminator) for p in preds) / len(preds)

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        """One descent step on E/G (all streams of Eq. 2), then one ascent step on D1, D2."""
        c = self.config
        x1, x2 = batch["A"], batch["B"]
        self.set_requires_grad([self.D1, self.D2], False)
        mu1, mu2 = self.E1(x1), self.E2(x2)
        z1, z2 = self.sample(mu1), self.sample(mu2)
        dec, q12, q21 = self.decode, self.q12, self.q21
        x11, x22 = dec(self.G1, z1, x1, None), dec(self.G2, z2, x2, None)  # reconstruction streams
        x21, x12 = dec(self.G1, z2, x2, q21), dec(self.G2, z1, x1, q12)  # translation streams: x2->1, x1->2
        mu12, mu21 = self.E2(x12), self.E1(x21)  # q2(z2|x1->2), q1(z1|x2->1)
        # cycle-reconstruction streams
        x121, x212 = dec(self.G1, self.sample(mu12), x12, q21), dec(self.G2, self.sample(mu21), x21, q12)
        kl1, kl2 = kl_unit_variance(mu1), kl_unit_variance(mu2)
        terms = {
            # Eq. 3, L_VAE1: lambda1 KL(q1(z1|x1)||p(z)) - lambda2 E[log p_G1(x1|z1)] (Laplacian NLL = L1)
            "VAE1_kl": c.lambda1 * kl1, "VAE1_rec": c.lambda2 * l1(x11, x1),
            # Eq. 3, L_VAE2: the same for domain 2
            "VAE2_kl": c.lambda1 * kl2, "VAE2_rec": c.lambda2 * l1(x22, x2),
            # Eq. 4, L_GAN1 (E2, G1 side): lambda0 E[log(1 - D1(G1(z2)))], non-saturating for vanilla
            "GAN1": c.lambda0 * self.adv(self.D1(x21), True, False),
            # Eq. 4, L_GAN2 (E1, G2 side): lambda0 E[log(1 - D2(G2(z1)))]
            "GAN2": c.lambda0 * self.adv(self.D2(x12), True, False),
            # Eq. 5, L_CC1: lambda3 KL(q1(z1|x1)) + lambda3 KL(q2(z2|x1->2)) - lambda4 E[log p_G1(x1|z2)]
            "CC1_kl_x1": c.lambda3 * kl1, "CC1_kl_x12": c.lambda3 * kl_unit_variance(mu12),
            "CC1_rec": c.lambda4 * l1(x121, x1),
            # Eq. 5, L_CC2: lambda3 KL(q2(z2|x2)) + lambda3 KL(q1(z1|x2->1)) - lambda4 E[log p_G2(x2|z1)]
            "CC2_kl_x2": c.lambda3 * kl2, "CC2_kl_x21": c.lambda3 * kl_unit_variance(mu21),
            "CC2_rec": c.lambda4 * l1(x212, x2),
        }
        if c.lambda_prior > 0:
            terms["prior_12"] = c.lambda_prior * l1(x12, q12(x1))
            terms["prior_21"] = c.lambda_prior * l1(x21, q21(x2))
        g_total = sum(terms.values())
        self.optimize("gen", g_total)
        self.set_requires_grad([self.D1, self.D2], True)
        d1, d2 = self.discriminator_losses(x1, x2, x21.detach(), x12.detach())
        self.optimize("dis", d1 + d2)
        out = {k: float(v.detach()) for k, v in terms.items()}
        out.update(G_total=float(g_total.detach()), D1=float(d1.detach()), D2=float(d2.detach()))
        return out

    def discriminator_losses(self, x1, x2, x21, x12) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 4 from the D side: D1 maximises lambda0 (log D1(x1) + log(1 - D1(x2->1))), i.e.
        minimises lambda0 x BCE (or the LSGAN equivalent); D2 likewise with x1->2."""
        lam = self.config.lambda0
        d1 = lam * (self.adv(self.D1(x1), True) + self.adv(self.D1(x21), False))
        d2 = lam * (self.adv(self.D2(x2), True) + self.adv(self.D2(x12), False))
        return d1, d2

    @torch.no_grad()
    def visuals(self, batch: dict) -> dict[str, torch.Tensor]:
        """Inputs, translations, within-domain reconstructions and cycles, all with z = mu."""
        x1, x2 = batch["A"], batch["B"]
        x12, x21 = self.translate(x1, "AtoB"), self.translate(x2, "BtoA")
        rec = lambda gen, enc, x: self.decode(gen, enc(x), x, None)  # noqa: E731
        return {"real_A": x1, "fake_B": x12, "rec_A": rec(self.G1, self.E1, x1), "cyc_A": self.translate(x12, "BtoA"),
                "real_B": x2, "fake_A": x21, "rec_B": rec(self.G2, self.E2, x2), "cyc_B": self.translate(x21, "AtoB")}


def _unique_params(*modules: nn.Module) -> list[nn.Parameter]:
    """Parameters of all modules, each listed once even when a module object is shared."""
    seen, params = set(), []
    for m in modules:
        for p in m.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    return params
