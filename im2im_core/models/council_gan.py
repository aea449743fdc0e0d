"""Council-GAN (Nizan & Tal, CVPR 2020, "Breaking the Cycle - Colleagues Are All You Need").

One-way translation A -> B without a cycle loss. A council of `members` triplets: a generator
G_i(x, s) (nets/masked.py: content encoder, AdaIN decoder driven by noise s ~ N(0, I), and a mask
that blends its output with the input), a discriminator D_i (real B against G_i's outputs) and a
council discriminator C_i that sees (image, input) pairs concatenated along channels. C_i takes
G_i(x, s) for fake and another member's G_j(x, less_noise * s) for real, so every member is pushed
towards what its colleagues would produce: the council agrees on what to change.

Losses, as in the authors' code (Onr/Council-GAN, trainer_council.py, configs/galsses_council_folder.yaml):
  D_i:  lambda_gan * LS_D(D_i; x_b real, G_i(x, s) fake), summed over scales
  C_i:  lambda_council * mean over j != i of LS_D(C_i; (G_j(x, less_noise*s), x) real, (G_i(x, s), x) fake)
  G_i:  lambda_gan * LS_G(D_i(G_i(x, s)))
        + lambda_council * w_i * LS_G(C_i(G_i(x, s), x))    w_i = mean(last 100 GAN terms of member i) /
                                                             mean(last 100 council terms of member i)
        + lambda_binary * mean 1 / (|m - 0.5| + 0.01) + lambda_size * mean(m)^2 + lambda_tv * TV(m)
The council terms start at `council_start` and the mask (focus) terms at `focus_start` (the
reference: iterations 10,000 and 15,000 of runs of 10^5-10^6; -1 here means 5% and 7.5% of the run).
One iteration updates every D_i, then every C_i, then every G_i, on one batch. Adam lr 1e-4,
betas (0.5, 0.999), weight decay 1e-4 (one Adam over all members equals one per member).

Deviations, named: one mask (the reference blends three masks in turn); C_i sees every other
member once per step (the reference draws 4 colleagues, with repeats); the style code is 8-d
(reference 64) and the generator smaller (dim 32, 4 residual blocks); with `intensity_prior`
(not in the paper) the output is q(x) + m * G(x, s), with q the quantile mapping of nets/prior.py
and G starting at zero, for translations between contrasts.

`arch="official"` builds Onr/Council-GAN's generator (nets/council_official.py says how it
differs; what `im2im_core.foreign.council_gan` imports into) with their `n_masks`
(num_of_mask_dim_to_add), `activation` and `pad_type`; one member is then enough (an import of a
single member's file), and `residual` and the intensity prior do not apply.

Inference: `member=i` picks a member (default 0) with s = 0; `seed` / `n_samples=K` draw K codes and,
without `member`, sample k comes from member k mod members; `return_attention=True` adds the mask.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..errors import ConfigError, InputError
from ..losses import GANLoss, multiscale_gan
from ..nets.encoders import MultiScaleDiscriminator
from ..nets.masked import MaskedStyleGenerator, mask_binary, mask_tv
from ..nets.prior import check_prior, QuantileMap, fit_priors
from ..nets.init import init_weights
from ._masked import MaskedGANConfig
from .base import Im2ImModel, register, require_blendable
from .latents import draw_codes

HISTORY = 100  # loss-matching window (the reference's loss_matching_hist_size)


@dataclass
class CouncilGANConfig(MaskedGANConfig):
    members: int = 4
    mask_sharpness: float = 10.0
    n_scales: int = 2
    lambda_gan: float = 24.0
    lambda_council: float = 12.0
    lambda_binary: float = 10.0  # mask pushed to 0 or 1
    lambda_size: float = 57.0  # mean(mask)^2: change little
    lambda_tv: float = 2.2
    less_noise: float = 0.7  # colleagues' "real" outputs use this fraction of the noise
    council_start: int = -1  # iteration; -1: 5% of the run
    focus_start: int = -1  # iteration; -1: 7.5% of the run
    loss_matching: bool = True
    #: "ours" or "official" (Onr/Council-GAN's generator; see the module docstring)
    arch: str = "ours"
    n_masks: int = 3  # arch "official": their num_of_mask_dim_to_add
    activation: str = "relu"  # arch "official": their gen.activ
    pad_type: str = "zero"  # arch "official": their gen.pad_type


@register("council_gan")
class CouncilGAN(Im2ImModel):
    paper: ClassVar[tuple] = (
        "Nizan & Tal: Breaking the Cycle - Colleagues Are All You Need, CVPR 2020",
        "https://arxiv.org/abs/1911.10538")
    Config = CouncilGANConfig
    unstreamable = "whole"  # AdaIN codes and masks: tiles would not match the whole image
    generator_names = ("gens",)
    inference_options = frozenset({"member", "n_samples", "seed", "return_attention"})
    pure_bf16 = True

    def __init__(self, config: CouncilGANConfig):
        super().__init__(config)
        c = config
        require_blendable("council_gan", c)
        official = c.arch == "official"
        if c.arch not in ("ours", "official"):
            raise ConfigError(f"council_gan: arch {c.arch!r} unknown; use 'ours' or 'official' (Onr/Council-GAN)")
        if c.members < (1 if official else 2):
            raise ConfigError(f"council_gan needs a council of at least 2 members, got members={c.members}")
        if official and (c.residual or c.intensity_prior != "none" or c.n_masks < 1):
            raise ConfigError("council_gan: arch 'official' takes no residual or intensity prior, and n_masks >= 1")
        if min(c.lambda_gan, c.lambda_council, c.lambda_binary, c.lambda_size, c.lambda_tv) < 0:
            raise ConfigError("council_gan: loss weights must be >= 0")
        if not 0 <= c.less_noise <= 1:
            raise ConfigError(f"council_gan: less_noise must be in [0, 1], got {c.less_noise}")
        check_prior("council_gan", c.intensity_prior)
        ch = c.in_channels
        if official:
            from ..nets.council_official import CouncilGenerator

            self.gens = nn.ModuleList(CouncilGenerator(ch, c.dim, c.n_down, c.n_res, c.style_dim, c.mlp_dim, c.n_masks,
                                                       c.activation, c.pad_type) for _ in range(c.members))
        else:
            self.gens = nn.ModuleList(MaskedStyleGenerator(ch, c.dim, c.n_down, c.n_res, c.style_dim, c.mlp_dim,
                                                           c.mask_sharpness,
                                                           residual=c.residual or c.intensity_prior != "none")
                                      for _ in range(c.members))
        self.dis = nn.ModuleList(init_weights(MultiScaleDiscriminator(ch, c.ndf, c.d_layers, c.n_scales, "none"))
                                 for _ in range(c.members))
        self.council = nn.ModuleList(init_weights(MultiScaleDiscriminator(2 * ch, c.ndf, c.d_layers, c.n_scales, "none"))
                                     for _ in range(c.members))
        self.prior = QuantileMap(c.intensity_prior == "invert") if c.intensity_prior != "none" else None
        if self.prior is not None:
            self.generator_names = ("gens", "prior")  # exports keep the fitted mapping
        self.register_buffer("gan_hist", torch.ones(c.members, HISTORY))
        self.register_buffer("council_hist", torch.ones(c.members, HISTORY))
        self.register_buffer("hist_count", torch.zeros((), dtype=torch.long))
        self.gan = GANLoss("lsgan")
        self.starts = (c.council_start, c.focus_start)

    def directions(self):
        return ["AtoB"]

    def size_multiple(self) -> int:
        return 2 ** self.config.n_down

    def prepare_data(self, dataset):
        fit_priors(self, dataset, [("prior", "A", "B")])

    def base(self, x: torch.Tensor) -> torch.Tensor:
        """What unmasked pixels show: x, or q(x) with an intensity prior."""
        return x if self.prior is None else self.prior(x)

    # ---- inference -------------------------------------------------------------------------------
    def resolve_samples(self, direction, opts, device):
        member = opts.get("member")
        if member is not None and (isinstance(member, bool) or not isinstance(member, int)
                                   or not 0 <= member < self.config.members):
            raise InputError(f"member must be an integer in [0, {self.config.members - 1}], got {member!r}")
        att = bool(opts.get("return_attention", False))
        codes = draw_codes(opts, self.config.style_dim, device)
        if codes is None:
            return [{"member": member or 0, "style": None, "return_attention": att}]
        return [{"member": k % self.config.members if member is None else member, "style": s, "return_attention": att}
                for k, s in enumerate(codes)]

    def inference_forward(self, x, direction, member: int = 0, style=None, return_attention: bool = False):
        z = torch.zeros(1, self.config.style_dim, device=x.device) if style is None else style
        y, m = self.gens[member](x, z.to(device=x.device, dtype=x.dtype), self.base(x))
        return {"image": y, "attention": m} if return_attention else y

    # ---- training --------------------------------------------------------------------------------
    def configure_optimizers(self, train_cfg) -> dict:
        c, o = self.config, train_cfg.optim
        frac = lambda v, f: v if v >= 0 else round(f * train_cfg.iterations)  # noqa: E731
        self.starts = (frac(c.council_start, 0.05), frac(c.focus_start, 0.075))
        kw = dict(lr=c.lr or o.lr, betas=(o.beta1, o.beta2), weight_decay=c.weight_decay)
        return {"gen": torch.optim.Adam(self.gens.parameters(), **kw),
                "dis": torch.optim.Adam(self.dis.parameters(), **kw),
                "council": torch.optim.Adam(self.council.parameters(), **kw)}

    def adv(self, preds, real: bool, for_discriminator: bool = True) -> torch.Tensor:
        return multiscale_gan(self.gan, preds, real, for_discriminator)

    def match_weights(self) -> torch.Tensor:
        """w_i = mean GAN term / mean council term over the last HISTORY G steps (no gradient)."""
        if not self.config.loss_matching:
            return torch.ones(self.config.members)
        return self.gan_hist.mean(1) / self.council_hist.mean(1).clamp_min(1e-8)

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        c = self.config
        x_a, x_b = batch["A"], batch["B"]
        council_on, focus_on = step >= self.starts[0], step >= self.starts[1]
        s = torch.randn(x_a.shape[0], c.style_dim, device=x_a.device)
        base = self.base(x_a)
        outs = [g(x_a, s, base) for g in self.gens]
        out: dict[str, float] = {}
        # domain discriminators
        self.set_requires_grad(self.council, False)
        d_loss = sum(self.adv(d(x_b), True) + self.adv(d(y.detach()), False) for d, (y, _) in zip(self.dis, outs))
        self.optimize("dis", c.lambda_gan * d_loss)
        out["D"] = float(d_loss.detach())
        # council discriminators: own output (fake) against colleagues' less-noisy outputs (real)
        if council_on:
            self.set_requires_grad(self.council, True)
            with torch.no_grad():
                less = [g(x_a, c.less_noise * s, base)[0] for g in self.gens]
            c_loss = 0.0
            for i, cd in enumerate(self.council):
                fake = self.adv(cd(torch.cat([outs[i][0].detach(), x_a], 1)), False)
                real = sum(self.adv(cd(torch.cat([less[j], x_a], 1)), True) for j in range(c.members) if j != i)
                c_loss = c_loss + fake + real / (c.members - 1)
            self.optimize("council", c.lambda_council * c_loss)
            out["C"] = float(c_loss.detach())
        # generators
        self.set_requires_grad([self.dis, self.council], False)
        w = self.match_weights()
        g_total, gan_terms, council_terms = 0.0, [], []
        for i, (y, m) in enumerate(outs):
            gan_i = self.adv(self.dis[i](y), True, False)
            g_total = g_total + c.lambda_gan * gan_i
            gan_terms.append(float(gan_i.detach()))
            if council_on:
                council_i = self.adv(self.council[i](torch.cat([y, x_a], 1)), True, False)
                g_total = g_total + c.lambda_council * float(w[i]) * council_i
                council_terms.append(float(council_i.detach()))
            if focus_on:
                g_total = g_total + (c.lambda_binary * mask_binary(m) + c.lambda_size * m.float().mean() ** 2
                                     + c.lambda_tv * mask_tv(m))
        self.optimize("gen", g_total)
        self.set_requires_grad([self.dis, self.council], True)
        if council_on:
            k = int(self.hist_count) % HISTORY
            self.gan_hist[:, k] = torch.tensor(gan_terms, device=self.gan_hist.device)
            self.council_hist[:, k] = torch.tensor(council_terms, device=self.council_hist.device)
            self.hist_count += 1
            out["council_weight"] = float(w.mean())
        out.update(G_total=float(g_total.detach()), G_gan=sum(gan_terms) / c.members,
                   mask_mean=float(torch.stack([m.detach().float().mean() for _, m in outs]).mean()))
        return out

    @torch.no_grad()
    def visuals(self, batch: dict) -> dict[str, torch.Tensor]:
        """Input, two members' translations (s = 0) and their masks (rescaled to [-1, 1])."""
        x = batch["A"]
        z = torch.zeros(1, self.config.style_dim, device=x.device)
        vis = {"real_A": x}
        for i in range(min(2, self.config.members)):
            y, m = self.gens[i](x, z, self.base(x))
            vis[f"fake_B_{i}"], vis[f"mask_{i}"] = y, m * 2 - 1
        return vis
