"""MUNIT: Multimodal Unsupervised Image-to-Image Translation (Huang, Liu, Belongie & Kautz, ECCV 2018).

An image is a domain-invariant content code c (a spatial map) and a domain-specific style code s
(a small vector, `style_dim`=8). Per domain i an auto-encoder: content encoder E_i^c (conv, 2
stride-2 downsamplings, residual blocks, instance norm), style encoder E_i^s (convs, global
average pooling, 1x1 conv; no norm) and decoder G_i (residual blocks with AdaIN whose parameters
an MLP computes from s, upsampling with layer norm). Translation 1->2: x_12 = G_2(E_1^c(x_1), s_2)
with s_2 drawn from the prior N(0, I) (multimodal output) or encoded from a domain-2 reference.

Losses (paper Sec. 3.2, objective Eq. 5; min over E, G, max over D):
  image reconstruction   L_recon^x1 = E||G_1(E_1^c(x_1), E_1^s(x_1)) - x_1||_1        (weight lambda_x)
  content reconstruction L_recon^c1 = E||E_2^c(G_2(c_1, s_2)) - c_1||_1                (weight lambda_c)
  style reconstruction   L_recon^s2 = E||E_2^s(G_2(c_1, s_2)) - s_2||_1, s_2 ~ N(0, I) (weight lambda_s)
  adversarial            L_GAN^x2 = E[log(1 - D_2(G_2(c_1, s_2)))] + E[log D_2(x_2)]   (LSGAN form here)
and the mirrored terms. Defaults are the paper's: lambda_x=10, lambda_c=1, lambda_s=1, LSGAN with
multi-scale discriminators (3 scales), Adam lr 1e-4, betas (0.5, 0.999) (TrainConfig.optim), weight
decay 1e-4; initialisation as in the reference code (kaiming-normal auto-encoders, N(0, 0.02)
discriminators). `lambda_cyc` (0 = off, the paper's main setting) adds the explicit style-augmented
cycle loss ||G_1(E_2^c(x_12), E_1^s(x_1)) - x_1||_1 of the paper's appendix. Per-scale GAN losses
are averaged, as in UNIT here.

Inference (`Translator.translate` options):
- nothing: the zero style, i.e. the prior's mean (deterministic, and what exports compute);
- `seed=s`: one style drawn from N(0, I) with that seed; `n_samples=K` (seed 0 unless given):
  K styles drawn once per call (so every tile and every slice of a stack share them) and a
  leading axis of K outputs;
- `style_from=ref`: the style of a reference image of the output domain (normalised with the
  checkpoint's Intensity window computed on the reference, like any input).
With `intensity_prior` (not in the paper; nets/prior.py, as for UNIT) each decoder output is a
base image plus G(c, s): the input itself within a domain, the quantile mapping q of the source's
foreground histogram onto the target's across domains; the decoders' last layers start at zero.

`arch="official"` builds the networks of NVlabs/MUNIT (what `im2im_core.foreign.munit` imports
into): the decoder's layer norm is theirs, (x - mean) / (std + eps) with the unbiased std, where
ours is (x - mean) / sqrt(var + eps), and the style MLP uses `activation` (ours: always ReLU).
Their AdaIN takes (bias, weight) per layer from the MLP where ours takes (gamma, beta) per
block; the import permutes the MLP's last rows, so no network change is needed for that.

Every norm is tile-aware (instance norms in the content encoder and AdaIN, layer norms in the
decoder, see `GlobalLayerNorm2d`) and the style is a global vector computed once, so tiled
inference is seamless.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..errors import ConfigError
from ..losses import GANLoss, l1
from ..nets.encoders import ConvEncoder, MultiScaleDiscriminator, StyleDecoder, StyleEncoder
from ..nets.init import init_weights, kaiming_init
from ..nets.prior import check_prior, QuantileMap, fit_priors, zero_last_conv
from .latents import MultimodalModel, draw_codes, reference_tensor
from .base import LATENT_SIZES, ModelConfig, check_losses, register


@dataclass
class MUNITConfig(ModelConfig):
    """Domain 1 is "A" (in_channels), domain 2 is "B" (out_channels)."""
    SIZES: ClassVar[dict] = {**LATENT_SIZES, "mlp_dim": "width"}

    dim: int = 64  # first conv width of the content and style encoders
    style_dim: int = 8
    n_down: int = 2  # content encoder downsamplings (decoder upsamplings)
    n_res: int = 4  # residual blocks in the content encoder and AdaIN blocks in the decoder
    n_style_down: int = 4  # style encoder downsamplings
    mlp_dim: int = 256
    activation: str = "relu"
    pad_type: str = "reflect"
    ndf: int = 64
    d_layers: int = 4
    n_scales: int = 3
    gan_mode: str = "lsgan"
    lambda_gan: float = 1.0
    lambda_x: float = 10.0
    lambda_c: float = 1.0
    lambda_s: float = 1.0
    lambda_cyc: float = 0.0
    lr: float = 1e-4  # 0 takes TrainConfig.optim.lr
    weight_decay: float = 1e-4
    #: "match"/"invert": outputs are a base image (the input, or its quantile mapping from the other
    #: domain) plus G(c, s); see the module docstring
    intensity_prior: str = "none"
    #: L1 pull of each translation (random style) towards q(x); needs intensity_prior
    lambda_prior: float = 0.0
    #: "ours" or "official" (NVlabs/MUNIT's layer norm and MLP activation; see the module docstring)
    arch: str = "ours"


class MUNITAutoEncoder(nn.Module):
    """One domain's content encoder, style encoder and AdaIN decoder."""

    def __init__(self, channels: int, c: MUNITConfig):
        super().__init__()
        self.enc_content = ConvEncoder(channels, c.dim, c.n_down, c.n_res, "instance", c.activation, c.pad_type)
        self.enc_style = StyleEncoder(channels, c.dim, c.n_style_down, c.style_dim, c.activation, c.pad_type)
        official = c.arch == "official"
        self.dec = StyleDecoder(self.enc_content.out_channels, channels, c.n_down, c.n_res, c.style_dim, c.mlp_dim,
                                "munit_layer" if official else "layer", c.activation, c.pad_type,
                                mlp_activation=c.activation if official else "relu")
        #: q from the other domain into this one (with an intensity prior)
        self.prior = QuantileMap(c.intensity_prior == "invert") if c.intensity_prior != "none" else None

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.enc_content(x), self.enc_style(x)

    def decode(self, content: torch.Tensor, style: torch.Tensor, source: torch.Tensor | None = None,
               own: bool = True) -> torch.Tensor:
        """G(c, s); with a prior plus the base image of `source`: itself (`own`: an image of this
        domain) or its mapping q into this domain."""
        y = self.dec(content, style)
        if self.prior is None or source is None:
            return y
        return y + (source if own else self.prior(source))


@register("munit")
class MUNIT(MultimodalModel):
    """gen_a / gen_b: auto-encoders of domains A and B; dis_a / dis_b: multi-scale discriminators."""
    paper: ClassVar[tuple] = (
        "Huang, Liu, Belongie & Kautz: Multimodal Unsupervised Image-to-Image Translation, ECCV "
        "2018",
        "https://arxiv.org/abs/1804.04732")

    Config = MUNITConfig
    generator_names = ("gen_a", "gen_b")

    def __init__(self, config: MUNITConfig):
        super().__init__(config)
        c = config
        check_losses("munit", c, ("lambda_gan", "lambda_x", "lambda_c", "lambda_s", "lambda_cyc"))
        if c.style_dim < 1 or c.n_style_down < 2:
            raise ConfigError(f"munit: need style_dim >= 1 and n_style_down >= 2, got {c.style_dim}, {c.n_style_down}")
        check_prior("munit", c.intensity_prior, c.lambda_prior)
        if c.arch not in ("ours", "official"):
            raise ConfigError(f"munit: arch {c.arch!r} unknown; use 'ours' or 'official' (NVlabs/MUNIT)")
        # inits of the reference code: kaiming for the auto-encoders, N(0, 0.02) for the discriminators
        self.gen_a = kaiming_init(MUNITAutoEncoder(c.in_channels, c))
        self.gen_b = kaiming_init(MUNITAutoEncoder(c.out_channels, c))
        if c.intensity_prior != "none":  # the residual starts at zero: the model starts as the mapping
            zero_last_conv(self.gen_a.dec)
            zero_last_conv(self.gen_b.dec)
        self.dis_a = init_weights(MultiScaleDiscriminator(c.in_channels, c.ndf, c.d_layers, c.n_scales, "none"))
        self.dis_b = init_weights(MultiScaleDiscriminator(c.out_channels, c.ndf, c.d_layers, c.n_scales, "none"))
        self.gan = GANLoss(c.gan_mode)

    def size_multiple(self) -> int:
        return 2 ** self.config.n_down

    q_ab = property(lambda self: self.gen_b.prior, doc="q from A into B (None without a prior).")
    q_ba = property(lambda self: self.gen_a.prior, doc="q from B into A (None without a prior).")

    def prepare_data(self, dataset):
        fit_priors(self, dataset, [("q_ab", "A", "B"), ("q_ba", "B", "A")])

    def _pair(self, direction: str) -> tuple[MUNITAutoEncoder, MUNITAutoEncoder]:
        """(source, target) auto-encoders of a direction."""
        return (self.gen_a, self.gen_b) if direction == "AtoB" else (self.gen_b, self.gen_a)

    # ---- inference -------------------------------------------------------------------------------
    def resolve_samples(self, direction, opts, device):
        """One {"style": (1, style_dim)} per output: the prior mean, seeded draws or a reference's style."""
        ref = reference_tensor(opts, "style_from", self.channels(direction)[1])
        if ref is not None:
            return [{"style": self.reference_style(ref, direction)}]
        codes = draw_codes(opts, self.config.style_dim, device)
        return [{"style": None}] if codes is None else [{"style": s} for s in codes]

    @torch.no_grad()
    def reference_style(self, ref: torch.Tensor, direction: str) -> torch.Tensor:
        """Style code (1, style_dim) of a reference image of the output domain, (1, C, H, W) in [-1, 1]."""
        enc = self._pair(direction)[1].enc_style
        param = next(enc.parameters())
        return enc(ref.to(device=param.device, dtype=param.dtype)).float()

    def inference_forward(self, x, direction, style: torch.Tensor | None = None):
        src, dst = self._pair(direction)
        content = src.enc_content(x)
        if style is None:
            style = torch.zeros(1, self.config.style_dim, device=x.device)
        return dst.decode(content, style.to(device=x.device, dtype=x.dtype).expand(x.shape[0], -1), x, own=False)

    # ---- training --------------------------------------------------------------------------------
    def configure_optimizers(self, train_cfg) -> dict:
        o = train_cfg.optim
        kw = dict(lr=self.config.lr or o.lr, betas=(o.beta1, o.beta2), weight_decay=self.config.weight_decay)
        gen = list(self.gen_a.parameters()) + list(self.gen_b.parameters())
        dis = list(self.dis_a.parameters()) + list(self.dis_b.parameters())
        return {"gen": torch.optim.Adam(gen, **kw), "dis": torch.optim.Adam(dis, **kw)}

    def adv(self, preds: list[torch.Tensor], real: bool, for_discriminator: bool = True) -> torch.Tensor:
        """GAN loss averaged over the discriminator's scales."""
        return sum(self.gan(p, real, for_discriminator) for p in preds) / len(preds)

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        """Encoders/decoders on every term of Eq. 5, then both discriminators."""
        c = self.config
        x_a, x_b = batch["A"], batch["B"]
        n = x_a.shape[0]
        s_a = torch.randn(n, c.style_dim, device=x_a.device)  # styles from the prior
        s_b = torch.randn(x_b.shape[0], c.style_dim, device=x_b.device)
        self.set_requires_grad([self.dis_a, self.dis_b], False)
        c_a, s_a_prime = self.gen_a.encode(x_a)
        c_b, s_b_prime = self.gen_b.encode(x_b)
        x_a_rec, x_b_rec = self.gen_a.decode(c_a, s_a_prime, x_a), self.gen_b.decode(c_b, s_b_prime, x_b)
        # cross-domain translations
        x_ba, x_ab = self.gen_a.decode(c_b, s_a, x_b, own=False), self.gen_b.decode(c_a, s_b, x_a, own=False)
        c_b_rec, s_a_rec = self.gen_a.encode(x_ba)
        c_a_rec, s_b_rec = self.gen_b.encode(x_ab)
        terms = {
            "GAN_a": c.lambda_gan * self.adv(self.dis_a(x_ba), True, False),
            "GAN_b": c.lambda_gan * self.adv(self.dis_b(x_ab), True, False),
            "recon_x_a": c.lambda_x * l1(x_a_rec, x_a), "recon_x_b": c.lambda_x * l1(x_b_rec, x_b),
            "recon_c_a": c.lambda_c * l1(c_a_rec, c_a), "recon_c_b": c.lambda_c * l1(c_b_rec, c_b),
            "recon_s_a": c.lambda_s * l1(s_a_rec, s_a), "recon_s_b": c.lambda_s * l1(s_b_rec, s_b),
        }
        if c.lambda_cyc > 0:
            terms["cyc_a"] = c.lambda_cyc * l1(self.gen_a.decode(c_a_rec, s_a_prime, x_ab, own=False), x_a)
            terms["cyc_b"] = c.lambda_cyc * l1(self.gen_b.decode(c_b_rec, s_b_prime, x_ba, own=False), x_b)
        if c.lambda_prior > 0:
            terms["prior_ab"] = c.lambda_prior * l1(x_ab, self.q_ab(x_a))
            terms["prior_ba"] = c.lambda_prior * l1(x_ba, self.q_ba(x_b))
        g_total = sum(terms.values())
        self.optimize("gen", g_total)
        self.set_requires_grad([self.dis_a, self.dis_b], True)
        d_a = self.adv(self.dis_a(x_a), True) + self.adv(self.dis_a(x_ba.detach()), False)
        d_b = self.adv(self.dis_b(x_b), True) + self.adv(self.dis_b(x_ab.detach()), False)
        self.optimize("dis", c.lambda_gan * (d_a + d_b))
        out = {k: float(v.detach()) for k, v in terms.items()}
        out.update(G_total=float(g_total.detach()), D_a=float(d_a.detach()), D_b=float(d_b.detach()))
        return out

    @torch.no_grad()
    def visuals(self, batch: dict) -> dict[str, torch.Tensor]:
        """Inputs, reconstructions and translations with a fixed random style and the encoded one."""
        x_a, x_b = batch["A"], batch["B"]
        c_a, s_a = self.gen_a.encode(x_a)
        c_b, s_b = self.gen_b.encode(x_b)
        g = torch.Generator().manual_seed(0)
        z = torch.randn(1, self.config.style_dim, generator=g).to(x_a.device)
        za, zb = z.expand(len(x_a), -1), z.expand(len(x_b), -1)
        return {"real_A": x_a, "rec_A": self.gen_a.decode(c_a, s_a, x_a),
                "fake_B_random": self.gen_b.decode(c_a, za, x_a, own=False),
                "real_B": x_b, "rec_B": self.gen_b.decode(c_b, s_b, x_b),
                "fake_A_random": self.gen_a.decode(c_b, zb, x_b, own=False)}
