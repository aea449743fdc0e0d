"""Attention-guided CycleGAN (Mejjati, Richardt, Tompkin, Cosker & Kim, NeurIPS 2018,
"Unsupervised Attention-guided Image-to-Image Translation").

Domain A is the paper's source S, domain B its target T. Per direction a ResNet generator F and
an attention network A that predicts a sigmoid mask a in [0, 1]:

    s' = a_s * F_ST(s) + (1 - a_s) * s,    a_s = A_S(s)

so only attended regions change and the background is copied from the input. Training is
CycleGAN's (LSGAN adversarial terms, L1 cycle s'' ~ s with lambda_cyc = 10, image pools for D),
the cycle running through the other direction's attention: s'' = A_T(s') * F_TS(s') + (1 - A_T(s')) * s'.

From iteration `freeze_attention_after` on (the paper: epoch 30 of 100, which is what the default
-1 resolves to: 30% of TrainConfig.iterations) the attention networks are frozen and the
discriminators only see the attended regions: real t and fake s' are both multiplied by the
binary mask (a > attention_threshold), with a = A_T(t) for the real image and a = A_S(s) (the
attention that produced s') for the fake, as in the authors' code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from ..errors import ConfigError
from ..losses import GANLoss, l1
from ..nets import DiscriminatorConfig, GeneratorConfig, build_discriminator, build_generator
from ..nets.encoders import Conv2dBlock, ResBlock
from ..nets.prior import PriorResidual, fit_priors, with_prior
from ._pool import ImagePool
from .base import NESTED_SIZES, Im2ImModel, ModelConfig, register, require_blendable


@dataclass
class AttentionCycleGANConfig(ModelConfig):
    """Both domains share `in_channels` (the blend a*G(x) + (1-a)*x needs equal channels)."""
    SIZES: ClassVar[dict] = {**NESTED_SIZES, "attention_ngf": "width"}

    generator: GeneratorConfig = field(default_factory=GeneratorConfig)  # 9-block ResNet, ngf 64
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)  # 70x70 PatchGAN
    attention_ngf: int = 32
    attention_norm: str = "instance"
    gan_mode: str = "lsgan"
    lambda_cyc: float = 10.0
    #: CycleGAN's identity term on the blended output, |attend(t, AtoB) - t|: a target-domain image
    #: must pass unchanged, so attention stays closed on what both domains share; relative to
    #: lambda_cyc as in cycle_gan (0 in the paper)
    lambda_identity: float = 0.0
    #: iteration from which attention is frozen and D sees masked inputs; -1: 30% of the run (paper)
    freeze_attention_after: int = -1
    attention_threshold: float = 0.1
    #: "match"/"invert": unattended pixels get a fixed quantile mapping of the input instead of the
    #: input itself, and the generators learn a residual on it (nets/prior.py)
    intensity_prior: str = "none"


class AttentionNet(nn.Module):
    """The paper's attention network: c7s2-32, c3s2-64, a residual block, two (nearest x2 up,
    3x3 conv) stages, c7s1-1 and a sigmoid; total stride 4, output (N, 1, H, W) in [0, 1]."""

    def __init__(self, in_ch: int, ngf: int = 32, norm: str = "instance"):
        super().__init__()
        self.model = nn.Sequential(
            Conv2dBlock(in_ch, ngf, 7, 2, 3, norm), Conv2dBlock(ngf, 2 * ngf, 3, 2, 1, norm),
            ResBlock(2 * ngf, norm),
            nn.Upsample(scale_factor=2, mode="nearest"), Conv2dBlock(2 * ngf, 2 * ngf, 3, 1, 1, norm),
            nn.Upsample(scale_factor=2, mode="nearest"), Conv2dBlock(2 * ngf, ngf, 3, 1, 1, norm),
            Conv2dBlock(ngf, 1, 7, 1, 3, "none", "sigmoid"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel attention in [0, 1]."""
        return self.model(x)


@register("attention_cycle_gan")
class AttentionCycleGAN(Im2ImModel):
    """AtoB: A_S(s) * F_ST(s) + (1 - A_S(s)) * s; BtoA with F_TS, A_T."""
    paper: ClassVar[tuple] = (
        "Mejjati, Richardt, Tompkin, Cosker & Kim: Unsupervised Attention-guided Image-to-Image "
        "Translation, NeurIPS 2018",
        "https://arxiv.org/abs/1806.02311")

    Config = AttentionCycleGANConfig
    pure_bf16 = True
    generator_names = ("F_ST", "F_TS", "A_S", "A_T")
    inference_options = frozenset({"return_attention"})

    def __init__(self, config: AttentionCycleGANConfig):
        super().__init__(config)
        c = config
        require_blendable("attention_cycle_gan", c)
        if not 0.0 <= c.attention_threshold < 1.0:
            raise ConfigError(f"attention_threshold must be in [0, 1), got {c.attention_threshold}")
        if c.lambda_identity < 0:
            raise ConfigError(f"attention_cycle_gan: lambda_identity must be >= 0, got {c.lambda_identity}")
        ch = c.in_channels
        self.F_ST, self.F_TS = (with_prior(build_generator(c.generator, ch, ch), c.intensity_prior) for _ in range(2))
        self.A_S, self.A_T = (AttentionNet(ch, c.attention_ngf, c.attention_norm) for _ in range(2))
        self.D_S, self.D_T = (build_discriminator(c.discriminator, ch) for _ in range(2))
        self.gan = GANLoss(c.gan_mode)
        self.pools: dict[str, ImagePool] = {}
        self.freeze_at = c.freeze_attention_after if c.freeze_attention_after >= 0 else None

    def size_multiple(self) -> int:
        """The generator's multiple, and 4 for the attention net's two stride-2 convs."""
        return max(self.config.generator.size_multiple(), 4)

    def prepare_data(self, dataset):
        fit_priors(self, dataset, [("F_ST", "A", "B"), ("F_TS", "B", "A")])

    # ---- forward -------------------------------------------------------------------------------
    def attend(self, x: torch.Tensor, direction: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(a * G(x) + (1 - a) * x, a) for the direction's generator and attention network
        (with an intensity prior q: a * G(x) + (1 - a) * q(x))."""
        gen, att = (self.F_ST, self.A_S) if direction == "AtoB" else (self.F_TS, self.A_T)
        a = att(x)
        if isinstance(gen, PriorResidual):  # a * (q + r) + (1 - a) * q = q + a * r: one mapping pass
            return gen.mapping(x) + a * gen.net(x), a
        return a * gen(x) + (1 - a) * x, a

    def inference_forward(self, x, direction, return_attention: bool = False, **opts):
        """The attention-blended translation; with return_attention also the mask (N, 1, H, W)."""
        out, a = self.attend(x, direction)
        return {"image": out, "attention": a} if return_attention else out

    # ---- training ------------------------------------------------------------------------------
    def configure_optimizers(self, train_cfg) -> dict:
        """Adam for generators + attention nets and for the discriminators; image pools; the
        freeze iteration (30% of the run when not given, as the paper's epoch 30 of 100)."""
        if self.config.freeze_attention_after < 0:
            self.freeze_at = round(0.3 * train_cfg.iterations)
        self.pools = {"A": ImagePool(train_cfg.pool_size), "B": ImagePool(train_cfg.pool_size)}
        gen = [*self.F_ST.parameters(), *self.F_TS.parameters(), *self.A_S.parameters(), *self.A_T.parameters()]
        return {"G": self.adam(gen, train_cfg),
                "D": self.adam([*self.D_S.parameters(), *self.D_T.parameters()], train_cfg)}

    def attention_frozen(self, step: int) -> bool:
        """True from the switch iteration on: attention fixed, D sees attended regions only."""
        return self.freeze_at is not None and step >= self.freeze_at

    def masked(self, x: torch.Tensor, a: torch.Tensor, frozen: bool) -> torch.Tensor:
        """x * (a > threshold) once frozen (the paper's attention-guided D input), else x."""
        return x * (a > self.config.attention_threshold).to(x.dtype) if frozen else x

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        """G step (LSGAN + lambda_cyc * L1 cycle through both attention blends, optionally the
        identity term), then D step."""
        s, t = batch["A"], batch["B"]
        frozen = self.attention_frozen(step)
        self.set_requires_grad([self.A_S, self.A_T], not frozen)
        self.set_requires_grad([self.D_S, self.D_T], False)
        s2t, a_s = self.attend(s, "AtoB")  # s'
        t2s, a_t = self.attend(t, "BtoA")  # t'
        s_cyc, _ = self.attend(s2t, "BtoA")  # s'' = A_T(s') F_TS(s') + (1 - A_T(s')) s'
        t_cyc, _ = self.attend(t2s, "AtoB")  # t''
        g_st = self.gan(self.D_T(self.masked(s2t, a_s, frozen)), True, False)
        g_ts = self.gan(self.D_S(self.masked(t2s, a_t, frozen)), True, False)
        cyc_s, cyc_t = self.config.lambda_cyc * l1(s_cyc, s), self.config.lambda_cyc * l1(t_cyc, t)
        g_total = g_st + g_ts + cyc_s + cyc_t
        idt = {}
        if self.config.lambda_identity > 0:
            w = self.config.lambda_identity * self.config.lambda_cyc
            idt = {"identity_A": w * l1(self.attend(s, "BtoA")[0], s), "identity_B": w * l1(self.attend(t, "AtoB")[0], t)}
            g_total = g_total + idt["identity_A"] + idt["identity_B"]
        self.optimize("G", g_total)
        self.set_requires_grad([self.D_S, self.D_T], True)
        d_t = self.discriminator_loss(self.D_T, t, a_t.detach(), s2t.detach(), a_s.detach(), self.pools["B"], frozen)
        d_s = self.discriminator_loss(self.D_S, s, a_s.detach(), t2s.detach(), a_t.detach(), self.pools["A"], frozen)
        self.optimize("D", d_t + d_s)
        return {"G_ST": float(g_st.detach()), "G_TS": float(g_ts.detach()), "cycle_A": float(cyc_s.detach()),
                "cycle_B": float(cyc_t.detach()), "G_total": float(g_total.detach()), "D_T": float(d_t.detach()),
                "D_S": float(d_s.detach()), "attention_A": float(a_s.detach().mean()),
                "attention_B": float(a_t.detach().mean()), "attention_frozen": float(frozen),
                **{k: float(v.detach()) for k, v in idt.items()}}

    def discriminator_loss(self, net, real, a_real, fake, a_fake, pool: ImagePool, frozen: bool) -> torch.Tensor:
        """0.5 (L(D(real), 1) + L(D(pooled fake), 0)); the pool keeps each fake's attention with it
        (as an extra channel) so a replayed fake is masked by its own attention."""
        pooled = pool.query(torch.cat([fake, a_fake], 1))
        fake, a_fake = pooled[:, :-1], pooled[:, -1:]
        return 0.5 * (self.gan(net(self.masked(real, a_real, frozen)), True)
                      + self.gan(net(self.masked(fake, a_fake, frozen)), False))

    @torch.no_grad()
    def visuals(self, batch: dict) -> dict[str, torch.Tensor]:
        """Inputs, translations, cycles and attention maps (maps rescaled to [-1, 1] like images)."""
        s, t = batch["A"], batch["B"]
        s2t, a_s = self.attend(s, "AtoB")
        t2s, a_t = self.attend(t, "BtoA")
        return {"real_A": s, "fake_B": s2t, "attention_A": a_s * 2 - 1, "cyc_A": self.attend(s2t, "BtoA")[0],
                "real_B": t, "fake_A": t2s, "attention_B": a_t * 2 - 1, "cyc_B": self.attend(t2s, "AtoB")[0]}
