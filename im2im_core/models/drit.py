"""DRIT: Diverse Image-to-Image Translation via Disentangled Representations (Lee, Tseng, Huang,
Singh & Yang, ECCV 2018).

An image is a domain-invariant content code (a spatial map) and a domain-specific attribute code (a
small vector, `attr_dim` = 8). Domain X is "A" (in_channels), domain Y is "B" (out_channels).

Networks
- content encoders E^c_X, E^c_Y: conv7, `n_down` stride-2 convs, residual blocks, instance norm; the
  LAST residual block is one module object shared by both (and the FIRST residual block of G_X, G_Y
  is another), the paper's weight sharing that maps both domains into one content space;
- attribute encoders E^a_X, E^a_Y: convs without norm, global average pooling, a 1x1 conv to
  (mu, logvar) of q(z_a | x) = N(mu, diag(exp(logvar))) (the paper's KL-regularised variant);
- generators G_X(c, a), G_Y(c, a): the shared residual block, then `n_dec_res` residual blocks into
  which the attribute enters after each instance norm (tiled over space, concatenated, 1x1 conv),
  then `n_down` x (nearest x2, concat attribute, conv5, layer norm, ReLU), conv7, tanh. The
  attribute joins after the norms on purpose: an instance norm would cancel a spatially constant
  attribute map;
- discriminators D_X, D_Y on images (multi-scale PatchGANs) and a content discriminator D^c on
  content maps (convs, global pooling, one logit: "is this content from X?").
E^c, E^a and G of both domains live in one ModuleDict `nets`, so EMA copies and checkpoints keep the
shared layers shared.

Losses (paper Sec. 3; z_a = mu + sigma * eps drawn from q while training):
  cross-cycle   u = G_X(E^c_Y(y), z^a_x), v = G_Y(E^c_X(x), z^a_y)  (swap attributes), then swap back:
                x^ = G_X(E^c_Y(v), E^a_X(u)), y^ = G_Y(E^c_X(u), E^a_Y(v));
                L_cc = ||x - x^||_1 + ||y - y^||_1                                  (lambda_cc = 10)
  self-recon    L_rec = ||x - G_X(c_x, z^a_x)||_1 + ||y - G_Y(c_y, z^a_y)||_1     (lambda_rec = 10)
  latent regr.  z ~ N(0, I): L_lr = ||E^a_X(G_X(c_y, z)) - z||_1 + ||E^a_Y(G_Y(c_x, z)) - z||_1,
                mu of E^a, which this term does not update (as in BicycleGAN: only G learns to keep
                z recoverable)                                                      (lambda_lr = 10)
  KL            KL(q(z_a | x) || N(0, I)), summed over the attribute, mean over the batch, both
                domains                                                             (lambda_kl = 0.01)
  content adv.  D^c learns to tell c_x (1) from c_y (0); the encoders push D^c(c) to 1/2 for both,
                i.e. domain-indistinguishable content (BCE, as the authors' code) (lambda_content = 1)
  domain adv.   D_X judges x against u and the random-attribute G_X(c_y, z), D_Y likewise; the
                two fake terms are averaged (the authors' code keeps a second discriminator per
                domain for the random-attribute images)                         (lambda_gan = 1)
Defaults are the paper's weights; GAN loss "vanilla" (BCE, the paper's) or "lsgan"; Adam lr 1e-4,
betas (0.5, 0.999) (TrainConfig.optim), weight decay 1e-4; D^c at `content_lr_scale` = 0.4 of the lr
(the authors' code steps the content discriminator at lr / 2.5). Per-scale GAN losses are averaged;
discriminators start from N(0, 0.02) weights.

Inference (`Translator.translate` options; AtoB = G_Y(E^c_X(x), a)):
- nothing: a = 0, the prior's mean (deterministic, and what exports compute);
- `seed=s`: one attribute a ~ N(0, I) drawn with that seed; `n_samples=K` (seed 0 unless given): K
  attributes drawn once per call (every tile and slice share them), a leading axis of K outputs;
- `style_from=ref`: a = mu of E^a of a reference image of the output domain (attribute transfer).
Every norm is tile-aware (instance norms, and layer norms in the decoder), and the attribute is one
global vector per call, so tiled inference is seamless.

`arch="official"` builds HsinYingLee/DRIT's networks (nets/drit_official.py, which says how they
differ; what `im2im_core.foreign.drit` imports into) with their `concat` option: 1 concatenates
the attribute at every decoder stage, 0 injects it through MisINSResBlocks. Their widths follow
`dim` (64 in their code: content 256 channels) and `attr_dim` (their nz); n_down, n_res,
n_attr_down, n_dec_res and pad_type do not apply.

With `intensity_prior` (not in the paper; nets/prior.py, as for MUNIT) each generator output is a
base image plus G(c, a): the input itself for self-reconstruction, the quantile mapping q of the
source's foreground histogram onto the target's across domains (`nets["q_X"]`, `nets["q_Y"]`); the
generators' last convs start at zero, and `lambda_prior` pulls random-attribute translations
towards q.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..losses import GANLoss, l1
from ..nets.encoders import (ConvEncoder, MultiScaleDiscriminator, SharedTailEncoder, StyleEncoder, pad_layer,
                             res_blocks)
from ..nets.codemap import with_code
from ..nets.norm import norm_layer
from ..nets.prior import check_prior, QuantileMap, fit_priors, zero_last_conv
from ..nets.init import init_weights
from .latents import MultimodalModel, draw_codes, reference_tensor
from .base import LATENT_SIZES, ModelConfig, check_losses, register

torch.fx.wrap("with_code")  # one pointwise step for the streaming executor (nets/codemap.py)


@dataclass
class DRITConfig(ModelConfig):
    """Domain X is "A" (in_channels), domain Y is "B" (out_channels)."""
    SIZES: ClassVar[dict] = {**LATENT_SIZES, "ndf_content": "width"}

    #: old keys still read (with a DeprecationWarning): one name, lambda_gan, for every family
    RENAMED: ClassVar[dict] = {"lambda_adv": "lambda_gan"}

    dim: int = 64  # first conv width of the content and attribute encoders
    n_down: int = 2  # content encoder downsamplings (generator upsamplings)
    n_res: int = 4  # content encoder residual blocks; the last one is shared between domains
    attr_dim: int = 8
    n_attr_down: int = 4
    n_dec_res: int = 3  # attribute-injecting residual blocks after the generators' shared block
    pad_type: str = "reflect"
    ndf: int = 64
    d_layers: int = 3
    n_scales: int = 3
    ndf_content: int = 256  # content discriminator width
    gan_mode: str = "vanilla"
    lambda_gan: float = 1.0
    lambda_content: float = 1.0
    lambda_cc: float = 10.0
    lambda_rec: float = 10.0
    lambda_lr: float = 10.0
    lambda_kl: float = 0.01
    lr: float = 1e-4  # 0 takes TrainConfig.optim.lr
    content_lr_scale: float = 0.4
    weight_decay: float = 1e-4
    #: not in the paper: "match"/"invert" makes outputs a base image plus G(c, a) (module docstring)
    intensity_prior: str = "none"
    lambda_prior: float = 0.0  # L1 pull of random-attribute translations towards q(x); needs intensity_prior
    #: "ours" or "official" (HsinYingLee/DRIT's networks; see the module docstring)
    arch: str = "ours"
    concat: int = 1  # arch "official" only: their --concat (1: concatenation, 0: MisINSResBlocks)


LOSS_WEIGHTS = ("lambda_gan", "lambda_content", "lambda_cc", "lambda_rec", "lambda_lr", "lambda_kl", "lambda_prior")


class AttrInject(nn.Module):
    """1x1 conv over [features, attribute map]: the attribute becomes a learned per-channel shift."""

    def __init__(self, channels: int, attr_dim: int, act: bool):
        super().__init__()
        self.conv = nn.Conv2d(channels + attr_dim, channels, 1)
        self.act = nn.ReLU(True) if act else nn.Identity()

    def forward(self, h, a):
        return self.act(self.conv(with_code(h, a)))


class AttrResBlock(nn.Module):
    """x + [conv3 -> IN -> inject(a) + ReLU -> conv3 -> IN -> inject(a)](x)."""

    def __init__(self, dim: int, attr_dim: int, pad_type: str):
        super().__init__()
        self.pad1, self.pad2 = pad_layer(pad_type, 1), pad_layer(pad_type, 1)
        self.conv1, self.conv2 = nn.Conv2d(dim, dim, 3), nn.Conv2d(dim, dim, 3)
        self.norm1, self.norm2 = norm_layer("instance", dim), norm_layer("instance", dim)
        self.inj1, self.inj2 = AttrInject(dim, attr_dim, True), AttrInject(dim, attr_dim, False)

    def forward(self, x, a):
        h = self.inj1(self.norm1(self.conv1(self.pad1(x))), a)
        return x + self.inj2(self.norm2(self.conv2(self.pad2(h))), a)


class AttrUp(nn.Module):
    """nearest x2 -> concat attribute map -> conv5 -> layer norm -> ReLU (channels halve)."""

    def __init__(self, dim: int, attr_dim: int, pad_type: str):
        super().__init__()
        self.pad = pad_layer(pad_type, 2)
        self.conv = nn.Conv2d(dim + attr_dim, dim // 2, 5)
        self.norm = norm_layer("layer", dim // 2)

    def forward(self, x, a):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return F.relu(self.norm(self.conv(self.pad(with_code(x, a)))))


class AttrGenerator(nn.Module):
    """G(c, a): `shared` (may be the same module object in the other domain's generator), then
    attribute-injecting residual blocks and upsamplings, then conv7 + tanh."""

    def __init__(self, shared: nn.Module, in_dim: int, out_ch: int, n_up: int, n_res: int, attr_dim: int,
                 pad_type: str):
        super().__init__()
        self.shared = shared
        self.res = nn.ModuleList([AttrResBlock(in_dim, attr_dim, pad_type) for _ in range(n_res)])
        ups, dim = [], in_dim
        for _ in range(n_up):
            ups.append(AttrUp(dim, attr_dim, pad_type))
            dim //= 2
        self.ups = nn.ModuleList(ups)
        self.out = nn.Sequential(pad_layer(pad_type, 3), nn.Conv2d(dim, out_ch, 7), nn.Tanh())

    def forward(self, content: torch.Tensor, attr: torch.Tensor) -> torch.Tensor:
        h = self.shared(content)
        for blk in (*self.res, *self.ups):
            h = blk(h, attr)
        return self.out(h)


class AttrEncoder(nn.Module):
    """E^a(x) -> (mu, logvar), each (N, attr_dim): MUNIT-style style encoder (no norm, global
    pooling) whose 1x1 head has 2 * attr_dim outputs."""

    def __init__(self, in_ch: int, dim: int, n_down: int, attr_dim: int, pad_type: str):
        super().__init__()
        self.net = StyleEncoder(in_ch, dim, n_down, 2 * attr_dim, "relu", pad_type)
        self.attr_dim = attr_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.net(x).float().split(self.attr_dim, dim=1)
        return mu, logvar.clamp(-10, 10)


class ContentDiscriminator(nn.Module):
    """D^c(c): 3 convs (LeakyReLU 0.2, instance norm, two of them stride 2), global average pooling,
    a linear map to one logit ("content from X")."""

    def __init__(self, in_ch: int, ndf: int):
        super().__init__()
        layers: list[nn.Module] = []
        ch = in_ch
        for stride in (1, 2, 2):
            layers += [nn.Conv2d(ch, ndf, 3, stride, 1), nn.InstanceNorm2d(ndf), nn.LeakyReLU(0.2, True)]
            ch = ndf
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(ndf, 1)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(c).mean(dim=(2, 3)))


def official_nets(c: DRITConfig) -> nn.ModuleDict:
    """HsinYingLee/DRIT's networks per domain, their shared blocks one module object each."""
    from ..nets import drit_official as o

    share = o.shared_content_block(c.dim)
    cx, cy = c.in_channels, c.out_channels
    enc = o.AttrEncoderConcat if c.concat else o.AttrEncoder
    if c.concat:
        dec_share = nn.Sequential(o.INSResBlock(4 * c.dim))
        gens = [o.GeneratorConcat(dec_share, ch, c.dim, c.attr_dim) for ch in (cx, cy)]
    else:
        gens = [o.Generator(ch, c.dim, c.attr_dim) for ch in (cx, cy)]
    return nn.ModuleDict({"Ec_X": o.ContentEncoder(cx, c.dim, share), "Ec_Y": o.ContentEncoder(cy, c.dim, share),
                          "Ea_X": enc(cx, c.dim, c.attr_dim), "Ea_Y": enc(cy, c.dim, c.attr_dim),
                          "G_X": gens[0], "G_Y": gens[1]})


def kl_to_prior(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over the code, averaged over the batch."""
    return (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)).sum(dim=1).mean()


@register("drit")
class DRIT(MultimodalModel):
    """nets: Ec_X, Ec_Y, Ea_X, Ea_Y, G_X, G_Y (shared layers tied); D_X, D_Y image discriminators;
    D_c content discriminator. AtoB = X -> Y."""
    paper: ClassVar[tuple] = (
        "Lee, Tseng, Huang, Singh & Yang: Diverse Image-to-Image Translation via Disentangled "
        "Representations, ECCV 2018",
        "https://arxiv.org/abs/1808.00948")

    Config = DRITConfig
    generator_names = ("nets",)

    def __init__(self, config: DRITConfig):
        super().__init__(config)
        c = config
        check_losses("drit", c, LOSS_WEIGHTS)
        if c.attr_dim < 1 or c.n_attr_down < 2:
            raise ConfigError(f"drit: need attr_dim >= 1 and n_attr_down >= 2, got {c.attr_dim}, {c.n_attr_down}")
        if c.n_res < 1 or c.n_down < 0 or c.n_dec_res < 0:
            raise ConfigError(f"drit: need n_res >= 1 (its last block is the shared one), n_down >= 0 and "
                              f"n_dec_res >= 0; got {c.n_res}, {c.n_down}, {c.n_dec_res}")
        if c.content_lr_scale <= 0:
            raise ConfigError(f"drit: content_lr_scale must be > 0, got {c.content_lr_scale}")
        check_prior("drit", c.intensity_prior, c.lambda_prior)
        if c.arch not in ("ours", "official") or c.concat not in (0, 1):
            raise ConfigError(f"drit: arch {c.arch!r} / concat {c.concat!r} unknown; use arch 'ours' or 'official' "
                              "(HsinYingLee/DRIT) and concat 0 or 1")
        if c.arch == "official":
            if c.intensity_prior != "none" or c.n_down != 2:
                raise ConfigError("drit: arch 'official' (their networks) has n_down 2 and no intensity prior")
            self.nets = official_nets(c)
        else:
            self.nets = self._our_nets(c)
        latent = c.dim * 2 ** c.n_down
        # discriminators: N(0, 0.02) init, as the authors' code (GANs train worse from PyTorch's default)
        self.D_X = init_weights(MultiScaleDiscriminator(c.in_channels, c.ndf, c.d_layers, c.n_scales, "none"))
        self.D_Y = init_weights(MultiScaleDiscriminator(c.out_channels, c.ndf, c.d_layers, c.n_scales, "none"))
        self.D_c = init_weights(ContentDiscriminator(latent, c.ndf_content))
        self.gan = GANLoss(c.gan_mode)

    @staticmethod
    def _our_nets(c: DRITConfig) -> nn.ModuleDict:
        latent = c.dim * 2 ** c.n_down
        enc_shared = res_blocks(1, latent, "instance", "relu", c.pad_type)  # ONE object in Ec_X and Ec_Y
        gen_shared = res_blocks(1, latent, "instance", "relu", c.pad_type)  # ONE object in G_X and G_Y

        def content_encoder(ch):
            return SharedTailEncoder(ConvEncoder(ch, c.dim, c.n_down, c.n_res - 1, "instance", "relu", c.pad_type),
                                     enc_shared)

        def generator(ch):
            return AttrGenerator(gen_shared, latent, ch, c.n_down, c.n_dec_res, c.attr_dim, c.pad_type)

        cx, cy = c.in_channels, c.out_channels
        nets = nn.ModuleDict({
            "Ec_X": content_encoder(cx), "Ec_Y": content_encoder(cy),
            "Ea_X": AttrEncoder(cx, c.dim, c.n_attr_down, c.attr_dim, c.pad_type),
            "Ea_Y": AttrEncoder(cy, c.dim, c.n_attr_down, c.attr_dim, c.pad_type),
            "G_X": generator(cx), "G_Y": generator(cy)})
        if c.intensity_prior != "none":  # q_X maps Y into X, q_Y maps X into Y; the residuals start at zero
            nets.update({"q_X": QuantileMap(c.intensity_prior == "invert"),
                         "q_Y": QuantileMap(c.intensity_prior == "invert")})
            zero_last_conv(nets["G_X"].out)
            zero_last_conv(nets["G_Y"].out)
        return nets

    Ec_X = property(lambda self: self.nets["Ec_X"], doc="Content encoder of X (A).")
    Ec_Y = property(lambda self: self.nets["Ec_Y"], doc="Content encoder of Y (B).")
    Ea_X = property(lambda self: self.nets["Ea_X"], doc="Attribute encoder of X (A).")
    Ea_Y = property(lambda self: self.nets["Ea_Y"], doc="Attribute encoder of Y (B).")
    G_X = property(lambda self: self.nets["G_X"], doc="Generator of X (A).")
    G_Y = property(lambda self: self.nets["G_Y"], doc="Generator of Y (B).")

    q_X = property(lambda self: self.nets["q_X"] if "q_X" in self.nets else None, doc="q from Y into X (or None).")
    q_Y = property(lambda self: self.nets["q_Y"] if "q_Y" in self.nets else None, doc="q from X into Y (or None).")

    def size_multiple(self) -> int:
        return 2 ** self.config.n_down

    def prepare_data(self, dataset):
        fit_priors(self, dataset, [("q_Y", "A", "B"), ("q_X", "B", "A")])

    def gen(self, dom: str, content, attr, source=None, own: bool = True) -> torch.Tensor:
        """G_dom(c, a); with a prior plus the base image of `source`: itself (`own`: an image of domain
        `dom`) or its mapping q into `dom`."""
        y = self.nets[f"G_{dom}"](content, attr)
        q = getattr(self, f"q_{dom}")
        if q is None or source is None:
            return y
        return y + (source if own else q(source))

    def _nets(self, direction: str):
        """(source content encoder, target attribute encoder, target domain)."""
        return (self.Ec_X, self.Ea_Y, "Y") if direction == "AtoB" else (self.Ec_Y, self.Ea_X, "X")

    # ---- inference -------------------------------------------------------------------------------
    def resolve_samples(self, direction, opts, device):
        """One {"attr": (1, attr_dim) or None} per output: the prior mean, seeded draws, or the
        attribute (mu) of a reference image of the output domain."""
        ref = reference_tensor(opts, "style_from", self.channels(direction)[1])
        if ref is not None:
            return [{"attr": self.reference_attribute(ref, direction)}]
        codes = draw_codes(opts, self.config.attr_dim, device)
        return [{"attr": None}] if codes is None else [{"attr": a} for a in codes]

    @torch.no_grad()
    def reference_attribute(self, ref: torch.Tensor, direction: str) -> torch.Tensor:
        """mu of the output domain's attribute encoder on a (1, C, H, W) reference in [-1, 1]."""
        enc = self._nets(direction)[1]
        param = next(enc.parameters())
        return enc(ref.to(device=param.device, dtype=param.dtype))[0].float()

    def inference_forward(self, x, direction, attr: torch.Tensor | None = None):
        enc_c, _, dom = self._nets(direction)
        if attr is None:
            attr = torch.zeros(1, self.config.attr_dim, device=x.device)
        return self.gen(dom, enc_c(x), attr.to(device=x.device, dtype=x.dtype).expand(x.shape[0], -1), x, own=False)

    # ---- training --------------------------------------------------------------------------------
    def configure_optimizers(self, train_cfg) -> dict:
        """Encoders + generators (shared layers once), image discriminators, content discriminator."""
        o = train_cfg.optim
        lr = self.config.lr or o.lr
        kw = dict(betas=(o.beta1, o.beta2), weight_decay=self.config.weight_decay)
        return {"gen": torch.optim.Adam(list(self.nets.parameters()), lr=lr, **kw),
                "dis": torch.optim.Adam(list(self.D_X.parameters()) + list(self.D_Y.parameters()), lr=lr, **kw),
                "dis_content": torch.optim.Adam(self.D_c.parameters(), lr=lr * self.config.content_lr_scale, **kw)}

    def adv(self, preds: list[torch.Tensor], real: bool, for_discriminator: bool = True) -> torch.Tensor:
        """GAN loss averaged over the discriminator's scales."""
        return sum(self.gan(p, real, for_discriminator) for p in preds) / len(preds)

    @staticmethod
    def sample(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """Reparameterised z = mu + sigma * eps."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        """Encoders and generators on every term, then D_X, D_Y, then D^c."""
        c = self.config
        x, y = batch["A"], batch["B"]
        dis = [self.D_X, self.D_Y, self.D_c]
        self.set_requires_grad(dis, False)
        c_x, c_y = self.Ec_X(x), self.Ec_Y(y)
        (mu_x, lv_x), (mu_y, lv_y) = self.Ea_X(x), self.Ea_Y(y)
        a_x, a_y = self.sample(mu_x, lv_x), self.sample(mu_y, lv_y)
        u, v = self.gen("X", c_y, a_x, y, False), self.gen("Y", c_x, a_y, x, False)  # first translation: swapped
        x_rec, y_rec = self.gen("X", c_x, a_x, x), self.gen("Y", c_y, a_y, y)  # self-reconstruction
        z_x = torch.randn(y.shape[0], c.attr_dim, device=y.device)
        z_y = torch.randn(x.shape[0], c.attr_dim, device=x.device)
        x_rand, y_rand = self.gen("X", c_y, z_x, y, False), self.gen("Y", c_x, z_y, x, False)  # random attributes
        # second translation: swap back
        c_u, c_v = self.Ec_X(u), self.Ec_Y(v)
        a_u, a_v = self.sample(*self.Ea_X(u)), self.sample(*self.Ea_Y(v))
        x_cc, y_cc = self.gen("X", c_v, a_u, v, False), self.gen("Y", c_u, a_v, u, False)
        # latent regression through the attribute encoders, which it does not update
        self.set_requires_grad([self.Ea_X, self.Ea_Y], False)
        z_x_hat, z_y_hat = self.Ea_X(x_rand)[0], self.Ea_Y(y_rand)[0]
        self.set_requires_grad([self.Ea_X, self.Ea_Y], True)
        half = torch.full((1, 1), 0.5, device=x.device)
        terms = {
            "adv_X": c.lambda_gan * 0.5 * (self.adv(self.D_X(u), True, False) + self.adv(self.D_X(x_rand), True, False)),
            "adv_Y": c.lambda_gan * 0.5 * (self.adv(self.D_Y(v), True, False) + self.adv(self.D_Y(y_rand), True, False)),
            "content_adv": c.lambda_content * sum(
                F.binary_cross_entropy_with_logits(lg.float(), half.expand_as(lg)) for lg in (self.D_c(c_x), self.D_c(c_y))),
            "cc_X": c.lambda_cc * l1(x_cc, x), "cc_Y": c.lambda_cc * l1(y_cc, y),
            "rec_X": c.lambda_rec * l1(x_rec, x), "rec_Y": c.lambda_rec * l1(y_rec, y),
            "lr_X": c.lambda_lr * l1(z_x_hat, z_x), "lr_Y": c.lambda_lr * l1(z_y_hat, z_y),
            "kl_X": c.lambda_kl * kl_to_prior(mu_x, lv_x), "kl_Y": c.lambda_kl * kl_to_prior(mu_y, lv_y),
        }
        if c.lambda_prior > 0:
            terms["prior_X"] = c.lambda_prior * l1(x_rand, self.q_X(y).detach())
            terms["prior_Y"] = c.lambda_prior * l1(y_rand, self.q_Y(x).detach())
        g_total = sum(terms.values())
        self.optimize("gen", g_total)
        self.set_requires_grad(dis, True)
        d_x = self.adv(self.D_X(x), True) + 0.5 * (self.adv(self.D_X(u.detach()), False)
                                                   + self.adv(self.D_X(x_rand.detach()), False))
        d_y = self.adv(self.D_Y(y), True) + 0.5 * (self.adv(self.D_Y(v.detach()), False)
                                                   + self.adv(self.D_Y(y_rand.detach()), False))
        self.optimize("dis", c.lambda_gan * (d_x + d_y))
        lg_x, lg_y = self.D_c(c_x.detach()), self.D_c(c_y.detach())
        d_c = (F.binary_cross_entropy_with_logits(lg_x.float(), torch.ones_like(lg_x, dtype=torch.float32))
               + F.binary_cross_entropy_with_logits(lg_y.float(), torch.zeros_like(lg_y, dtype=torch.float32)))
        self.optimize("dis_content", c.lambda_content * d_c)
        out = {k: float(t.detach()) for k, t in terms.items()}
        out.update(G_total=float(g_total.detach()), D_X=float(d_x.detach()), D_Y=float(d_y.detach()),
                   D_content=float(d_c.detach()))
        return out

    @torch.no_grad()
    def visuals(self, batch: dict) -> dict[str, torch.Tensor]:
        """Inputs, self-reconstructions (attribute mu), translations with the other image's attribute
        and with a fixed random attribute."""
        x, y = batch["A"], batch["B"]
        c_x, c_y = self.Ec_X(x), self.Ec_Y(y)
        mu_x, mu_y = self.Ea_X(x)[0], self.Ea_Y(y)[0]
        n = min(len(x), len(y))
        g = torch.Generator().manual_seed(0)
        z = torch.randn(1, self.config.attr_dim, generator=g).to(x.device)
        return {"real_A": x[:n], "rec_A": self.gen("X", c_x, mu_x, x)[:n],
                "fake_B": self.gen("Y", c_x[:n], mu_y[:n], x[:n], False),
                "fake_B_random": self.gen("Y", c_x, z.expand(len(x), -1), x, False)[:n],
                "real_B": y[:n], "rec_B": self.gen("Y", c_y, mu_y, y)[:n],
                "fake_A": self.gen("X", c_y[:n], mu_x[:n], y[:n], False),
                "fake_A_random": self.gen("X", c_y, z.expand(len(y), -1), y, False)[:n]}
