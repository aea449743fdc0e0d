"""ACL-GAN (Zhao, Wu, Cao, Guo & Li, ECCV 2020, "Unpaired Image-to-Image Translation using
Adversarial Consistency Loss").

Two noise-driven masked generators (nets/masked.py), G_ST: A -> B and G_TS: -> A. From a source
image x three images are made, each with fresh noise z ~ N(0, I):
  x_bar   = G_ST(x, z1)          the translation
  x_hat   = G_TS(x, alpha * z2)  a reconstruction straight from x
  x_tilde = G_TS(x_bar, z3)      the way back
A pair discriminator D_2 sees (x, image) concatenated along channels and tells (x, x_tilde) from
(x, x_hat). That adversarial consistency loss replaces the pixel cycle loss: the way back must be
a plausible source image for x, not x itself, so the translation need not hide x in its pixels.

Losses, as in the authors' code (hyperplane-lab/ACL-GAN, trainer.py, configs/male2female.yaml);
LSGAN summed over 3 scales:
  D:  lambda_gan * (0.5 [LS_D(D_A; x real, x_hat fake) + LS_D(D_A; x real, x_tilde fake)] + LS_D(D_B; x_b real, x_bar fake))
      + lambda_acl * LS_D(D_2; (x, x_tilde) real, (x, x_hat) fake)
  G:  lambda_gan * (0.5 [LS_G(D_A(x_hat)) + LS_G(D_A(x_tilde))] + LS_G(D_B(x_bar)))
      + lambda_acl * (LS(D_2(x, x_hat) -> real) + LS(D_2(x, x_tilde) -> fake))
      + lambda_identity * (|G_TS(x) - x|_1 + |G_ST(x_b) - x_b|_1)   (unblended outputs)
      + lambda_focus / 3 * sum over the three masks of
            focus_delta * N * (relu(mean m - 0.5)^2 + relu(0.3 - mean m)^2) + mean 1 / (|m - 0.5| + 0.01)
  with N the mask's element count. lambda_acl 0.2, lambda_identity 1, lambda_focus 0.025, focus_delta 1e-3,
  mask range [0.3, 0.5]. D updates every iteration, the generators every `g_every` = 2nd (on
  the same batch, after D). Adam lr 1e-4, betas (0.5, 0.999), weight decay 1e-4.

Deviations, named: the generated images are detached for the D update (the reference is not, then
zeroes those gradients); the identity term uses z = 0, since there is no style encoder here (the
reference encodes the image's own style); the style code is 8-d as in the reference, the
generators smaller (dim 32). With `intensity_prior` (not in the paper) a translation between
domains is q(x) + m * G(x, z), with q the quantile mapping of nets/prior.py and G starting at zero,
and one within a domain x + m * G(x, z).

Inference: AtoB uses G_ST, BtoA G_TS, with z = 0 unless `seed` / `n_samples=K` draw codes;
`return_attention=True` adds the mask.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..errors import ConfigError
from ..losses import GANLoss, l1, multiscale_gan
from ..nets.encoders import MultiScaleDiscriminator
from ..nets.init import init_weights
from ..nets.masked import MaskedStyleGenerator, mask_binary, mask_outside
from ..nets.prior import BACKGROUND, QuantileMap, check_prior, fit_priors
from ._masked import MaskedGANConfig
from .base import Im2ImModel, register, require_blendable
from .latents import draw_codes


@dataclass
class ACLGANConfig(MaskedGANConfig):
    n_scales: int = 3
    lambda_gan: float = 1.0
    lambda_acl: float = 0.2
    lambda_identity: float = 1.0
    lambda_focus: float = 0.025
    focus_delta: float = 1e-3
    mask_low: float = 0.3
    mask_high: float = 0.5
    #: where the mean mask is measured: "all" pixels (the paper), or the input's "foreground" (not
    #: background at -1): with half of an MR slice black, an all-pixel mean is met by masking the
    #: background alone
    mask_region: str = "all"
    alpha: float = 1.0  # noise scale of the direct reconstruction x_hat
    g_every: int = 2  # generator update every this many iterations


@register("acl_gan")
class ACLGAN(Im2ImModel):
    paper: ClassVar[tuple] = (
        "Zhao, Wu, Cao, Guo & Li: Unpaired Image-to-Image Translation using Adversarial "
        "Consistency Loss, ECCV 2020",
        "https://arxiv.org/abs/2003.04858")
    Config = ACLGANConfig
    unstreamable = "whole"  # AdaIN codes and masks: tiles would not match the whole image
    generator_names = ("G_ST", "G_TS")
    inference_options = frozenset({"n_samples", "seed", "return_attention"})
    pure_bf16 = True

    def __init__(self, config: ACLGANConfig):
        super().__init__(config)
        c = config
        require_blendable("acl_gan", c)
        if min(c.lambda_gan, c.lambda_acl, c.lambda_identity, c.lambda_focus, c.focus_delta, c.alpha) < 0:
            raise ConfigError("acl_gan: loss weights, focus_delta and alpha must be >= 0")
        if c.mask_region not in ("all", "foreground"):
            raise ConfigError(f"acl_gan: mask_region must be 'all' or 'foreground', got {c.mask_region!r}")
        if not 0 <= c.mask_low <= c.mask_high <= 1:
            raise ConfigError(f"acl_gan: need 0 <= mask_low <= mask_high <= 1, got {c.mask_low}, {c.mask_high}")
        if c.g_every < 1:
            raise ConfigError(f"acl_gan: g_every must be >= 1, got {c.g_every}")
        check_prior("acl_gan", c.intensity_prior)
        ch, gen = c.in_channels, (c.dim, c.n_down, c.n_res, c.style_dim, c.mlp_dim)
        prior = c.intensity_prior != "none"
        self.G_ST, self.G_TS = (MaskedStyleGenerator(ch, *gen, residual=prior or c.residual) for _ in range(2))
        self.D_A, self.D_B = (init_weights(MultiScaleDiscriminator(ch, c.ndf, c.d_layers, c.n_scales, "none"))
                              for _ in range(2))
        self.D_2 = init_weights(MultiScaleDiscriminator(2 * ch, c.ndf, c.d_layers, c.n_scales, "none"))
        self.q_ab = QuantileMap(c.intensity_prior == "invert") if prior else None
        self.q_ba = QuantileMap(c.intensity_prior == "invert") if prior else None
        if prior:
            self.generator_names = ("G_ST", "G_TS", "q_ab", "q_ba")  # exports keep the fitted mappings
        self.gan = GANLoss("lsgan")

    def size_multiple(self) -> int:
        return 2 ** self.config.n_down

    def prepare_data(self, dataset):
        fit_priors(self, dataset, [("q_ab", "A", "B"), ("q_ba", "B", "A")])

    def translate(self, x: torch.Tensor, z: torch.Tensor, direction: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(translation of x to the other domain, its mask)."""
        gen, q = (self.G_ST, self.q_ab) if direction == "AtoB" else (self.G_TS, self.q_ba)
        return gen(x, z, x if q is None else q(x))

    # ---- inference -------------------------------------------------------------------------------
    def resolve_samples(self, direction, opts, device):
        att = bool(opts.get("return_attention", False))
        codes = draw_codes(opts, self.config.style_dim, device)
        return [{"style": s, "return_attention": att} for s in (codes or [None])]

    def inference_forward(self, x, direction, style=None, return_attention: bool = False):
        z = torch.zeros(1, self.config.style_dim, device=x.device) if style is None else style
        y, m = self.translate(x, z.to(device=x.device, dtype=x.dtype), direction)
        return {"image": y, "attention": m} if return_attention else y

    # ---- training --------------------------------------------------------------------------------
    def configure_optimizers(self, train_cfg) -> dict:
        c, o = self.config, train_cfg.optim
        kw = dict(lr=c.lr or o.lr, betas=(o.beta1, o.beta2), weight_decay=c.weight_decay)
        gens = [*self.G_ST.parameters(), *self.G_TS.parameters()]
        dis = [*self.D_A.parameters(), *self.D_B.parameters(), *self.D_2.parameters()]
        return {"gen": torch.optim.Adam(gens, **kw), "dis": torch.optim.Adam(dis, **kw)}

    @staticmethod
    def same(gen, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """A generator applied to an image of its own output domain: the unblended image (the
        reference's identity term), or with an intensity prior the residual blend x + m * G(x, z)."""
        return gen(x, z)[0] if gen.residual else gen.raw(x, z)[0]

    def adv(self, preds, real: bool, for_discriminator: bool = True) -> torch.Tensor:
        return multiscale_gan(self.gan, preds, real, for_discriminator)

    def focus(self, m: torch.Tensor, where: torch.Tensor | None) -> torch.Tensor:
        """Focus loss of a mask; `where` (or all pixels when None) bounds the size term."""
        c = self.config
        return c.focus_delta * mask_outside(m, c.mask_low, c.mask_high, where) + mask_binary(m)

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        c = self.config
        x, x_b = batch["A"], batch["B"]
        g_step = step % c.g_every == 0
        n, sd = x.shape[0], c.style_dim
        z1, z2, z3 = (torch.randn(n, sd, device=x.device) for _ in range(3))
        with torch.set_grad_enabled(g_step):
            x_bar, m_bar = self.translate(x, z1, "AtoB")
            x_hat, m_hat = self.G_TS(x, c.alpha * z2)  # same domain: the unmasked pixels are x itself
            x_tilde, m_tilde = self.translate(x_bar, z3, "BtoA")
        pair = lambda y: torch.cat([x, y], 1)  # noqa: E731
        d_a = 0.5 * (self.adv(self.D_A(x), True) * 2 + self.adv(self.D_A(x_hat.detach()), False)
                     + self.adv(self.D_A(x_tilde.detach()), False))
        d_b = self.adv(self.D_B(x_b), True) + self.adv(self.D_B(x_bar.detach()), False)
        d_2 = self.adv(self.D_2(pair(x_tilde.detach())), True) + self.adv(self.D_2(pair(x_hat.detach())), False)
        self.optimize("dis", c.lambda_gan * (d_a + d_b) + c.lambda_acl * d_2)
        out = {"D_A": float(d_a.detach()), "D_B": float(d_b.detach()), "D_acl": float(d_2.detach()),
               "mask_mean": float(m_bar.detach().float().mean())}
        if not g_step:
            return out
        discs = [self.D_A, self.D_B, self.D_2]
        self.set_requires_grad(discs, False)
        z0 = torch.zeros(1, sd, device=x.device)
        # the masks all lie on x's geometry: its foreground bounds their size terms
        region = (x > BACKGROUND).amax(1, keepdim=True) if c.mask_region == "foreground" else None
        terms = {
            "G_gan": c.lambda_gan * (0.5 * (self.adv(self.D_A(x_hat), True, False) + self.adv(self.D_A(x_tilde), True, False))
                                     + self.adv(self.D_B(x_bar), True, False)),
            "G_acl": c.lambda_acl * (self.adv(self.D_2(pair(x_hat)), True, False)
                                     + self.adv(self.D_2(pair(x_tilde)), False, False)),
            "identity": c.lambda_identity * (l1(self.same(self.G_TS, x, z0), x) + l1(self.same(self.G_ST, x_b, z0), x_b)),
            "focus": c.lambda_focus / 3 * sum(self.focus(m, region) for m in (m_bar, m_hat, m_tilde)),
        }
        total = sum(terms.values())
        self.optimize("gen", total)
        self.set_requires_grad(discs, True)
        out.update({k: float(v.detach()) for k, v in terms.items()}, G_total=float(total.detach()))
        return out

    @torch.no_grad()
    def visuals(self, batch: dict) -> dict[str, torch.Tensor]:
        """x, its translation (z = 0) with mask, the way back, and the translation of a B image."""
        x, x_b = batch["A"], batch["B"]
        z = torch.zeros(1, self.config.style_dim, device=x.device)
        y, m = self.translate(x, z, "AtoB")
        return {"real_A": x, "fake_B": y, "mask_A": m * 2 - 1, "back_A": self.translate(y, z, "BtoA")[0],
                "real_B": x_b, "fake_A": self.translate(x_b, z, "BtoA")[0]}
