"""Augmented CycleGAN: Learning Many-to-Many Mappings from Unpaired Data (Almahairi, Rajeswar,
Sordoni, Bachman & Courville, ICML 2018).

CycleGAN's generators are deterministic one-to-one maps. Augmented CycleGAN adds a latent code per
domain, so one image of A has many translations in B (and back):

- generators G_AB(a, z_b) -> b and G_BA(b, z_a) -> a: ResNet generators (conv7, `n_down` stride-2
  downsamplings, `n_res` residual blocks, nearest x2 + conv upsamplings, conv7, tanh) with
  conditional instance normalisation (CIN, the paper's choice) after every conv but the last:
  gamma(z) * IN(h) + beta(z), gamma and beta linear in z (one linear map per CIN layer);
- latent encoders E_A(a, b) -> z_a and E_B(a, b) -> z_b: they see the PAIR (a and b concatenated
  along channels), so z_b captures what of b is not determined by a. Convs (LeakyReLU, no norm:
  an instance norm would remove the intensity statistics the latent should carry), global average
  pooling, a linear map to `z_dim`. Deterministic (a stochastic q(z | a, b) is not implemented);
- discriminators D_A, D_B on images (PatchGANs) and D_Za, D_Zb on latents (MLPs): the paper
  matches the encoders' marginal q(z) to the prior p(z) = N(0, I) adversarially.

Losses (paper Sec. 3, "augmented cycles"; LSGAN here, like this project's CycleGAN). With
z_a, z_b ~ N(0, I):
  cycle from A:  b~ = G_AB(a, z_b),  z_a~ = E_A(a, b~),  a' = G_BA(b~, z_a~),  z_b' = E_B(a, b~)
  cycle from B:  a~ = G_BA(b, z_a),  z_b~ = E_B(a~, b),  b' = G_AB(a~, z_b~),  z_a' = E_A(a~, b)
  L_GAN^A (D_A: a vs a~), L_GAN^B (D_B: b vs b~)                             (weight lambda_gan)
  L_GAN^Za (D_Za: z_a vs z_a~), L_GAN^Zb (D_Zb: z_b vs z_b~)                 (weight lambda_gan_z)
  L_CYC^A = ||a' - a||_1 (lambda_A),  L_CYC^B = ||b' - b||_1 (lambda_B)
  L_CYC^Zb = ||z_b' - z_b||_1 (lambda_z_b),  L_CYC^Za = ||z_a' - z_a||_1 (lambda_z_a)
Weights: all 1 by default (lambda_A = lambda_B = lambda_z_a = lambda_z_b = lambda_gan =
lambda_gan_z = 1), i.e. the unweighted sum of the paper's GAN and augmented-cycle terms. The image
cycles get 1, not CycleGAN's 10, because a cycle that must be exact for every z fights the
one-to-many mapping (a heavy image cycle lets G_AB ignore z_b and hide a in b~ instead). The four
cycle weights are separate fields so the latent cycles can be re-weighted on their own (their L1 is
on N(0, I) codes, whose chance level E|z| = 0.8 is on the scale of the image L1s in [-1, 1]). Adam with the run's
TrainConfig.optim (default lr 2e-4, betas (0.5, 0.999), as for CycleGAN; `lr` overrides it); the
discriminator losses are halved, as in CycleGAN; no image pools; image discriminators start from
N(0, 0.02) weights (CycleGAN's init).

Inference (`Translator.translate` options; AtoB shown, BtoA mirrors it with E_A(ref, x)):
- nothing: z_b = 0, the prior's mean (deterministic, and what exports compute);
- `seed=s`: one z_b ~ N(0, I) drawn with that seed; `n_samples=K` (seed 0 unless given): K codes
  drawn once per call (every tile and every slice of a stack share them), a leading axis of K;
- `style_from=ref`: z_b = E_B(x, ref), the latent of the pair (input, reference of the output
  domain); the reference is resized to the input's size when they differ. E's global pooling is a
  `GlobalInstanceNorm2d`, so tiled inference pools over the whole image (one z for all tiles).
Every instance norm (CIN included) is tile-aware, so tiled inference is seamless.

With `intensity_prior` (not in the paper; nets/prior.py, as for CycleGAN) each generator's output is
q(x) + G(x, z), q the quantile mapping of the source's foreground histogram onto the target's,
with G's last conv starting at zero; `lambda_prior` pulls the prior-code translations towards q.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, InputError
from ..losses import GANLoss, l1
from ..nets.discriminators import NLayerDiscriminator
from ..nets.encoders import pad_layer
from ..nets.norm import GlobalInstanceNorm2d
from ..nets.prior import check_prior, QuantileMap, fit_priors, zero_last_conv
from ..nets.init import init_weights
from .latents import MultimodalModel, draw_codes, reference_tensor
from .base import ModelConfig, check_losses, register


class GlobalMeanPool(GlobalInstanceNorm2d):
    """Global average pooling (N, C, H, W) -> (N, C) that the tiler treats like an instance norm:
    with whole-image statistics gathered (thumbnail or exact), every tile returns the whole image's
    mean, so a code computed from it is the same for all tiles. The streaming executor
    (im2im_core.stream) sets the whole image's statistics and takes the vector it returns."""

    stream_reduction = True

    def __init__(self, channels: int):
        super().__init__(channels, affine=False, track_running_stats=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.tiler_hooks(x)
        if self.fixed_stats is None:
            return x.float().mean(dim=(2, 3)).to(x.dtype)
        return self.fixed_stats[0].to(device=x.device, dtype=x.dtype)[None].expand(x.shape[0], -1)


def resize_like(ref: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """ref (1, C, h, w) on x's device/dtype, resized (antialiased bilinear) to x's spatial size."""
    ref = ref.to(device=x.device, dtype=torch.float32)
    if ref.shape[-2:] != x.shape[-2:]:
        ref = F.interpolate(ref, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False, antialias=True)
    return ref.to(x.dtype)


resize_like.stream_shape_only = True  # the executor calls it with a stand-in of x's shape (stream.py)
torch.fx.wrap("resize_like")


# ---- networks ------------------------------------------------------------------------------------------
class CondInstanceNorm2d(nn.Module):
    """Conditional instance norm (Dumoulin et al. 2017): gamma(z) * IN(h) + beta(z), with (gamma, beta)
    a linear function of the code z; initialised around gamma = 1, beta = 0."""

    def __init__(self, channels: int, z_dim: int):
        super().__init__()
        self.channels = channels
        self.norm = GlobalInstanceNorm2d(channels, affine=False, track_running_stats=False)
        self.affine = nn.Linear(z_dim, 2 * channels)
        with torch.no_grad():
            self.affine.bias.copy_(torch.cat([torch.ones(channels), torch.zeros(channels)]))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.affine(z.to(self.affine.weight.dtype)).split(self.channels, dim=1)
        return self.norm(x) * gamma[:, :, None, None].to(x.dtype) + beta[:, :, None, None].to(x.dtype)


class CINConv(nn.Module):
    """pad -> conv -> CIN(z) -> activation (ReLU, or none inside a residual block)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, z_dim: int, pad_type: str, act: bool = True):
        super().__init__()
        self.pad = pad_layer(pad_type, kernel // 2 if stride == 1 else 1)
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, bias=False)  # CIN's beta is the bias
        self.norm = CondInstanceNorm2d(out_ch, z_dim)
        self.act = nn.ReLU(True) if act else nn.Identity()

    def forward(self, x, z):
        return self.act(self.norm(self.conv(self.pad(x)), z))


class CINResBlock(nn.Module):
    def __init__(self, dim: int, z_dim: int, pad_type: str):
        super().__init__()
        self.c1 = CINConv(dim, dim, 3, 1, z_dim, pad_type)
        self.c2 = CINConv(dim, dim, 3, 1, z_dim, pad_type, act=False)

    def forward(self, x, z):
        return x + self.c2(self.c1(x, z), z)


class CINResnetGenerator(nn.Module):
    """G(x, z): conv7 -> n_down stride-2 convs (channels doubling) -> n_res residual blocks ->
    n_down (nearest x2, conv3, channels halving) -> conv7 -> tanh; CIN(z) after every conv but the last."""

    def __init__(self, in_ch: int, out_ch: int, ngf: int, n_down: int, n_res: int, z_dim: int, pad_type: str,
                 prior: str = "none"):
        super().__init__()
        self.z_dim = z_dim
        blocks: list[nn.Module] = [CINConv(in_ch, ngf, 7, 1, z_dim, pad_type)]
        ch = ngf
        for _ in range(n_down):
            blocks.append(CINConv(ch, 2 * ch, 4, 2, z_dim, pad_type))
            ch *= 2
        blocks += [CINResBlock(ch, z_dim, pad_type) for _ in range(n_res)]
        for _ in range(n_down):
            blocks += [nn.Upsample(scale_factor=2, mode="nearest"), CINConv(ch, ch // 2, 3, 1, z_dim, pad_type)]
            ch //= 2
        self.blocks = nn.ModuleList(blocks)
        self.out = nn.Sequential(pad_layer(pad_type, 3), nn.Conv2d(ch, out_ch, 7), nn.Tanh())
        #: with an intensity prior: the fixed mapping q the network adds its output to (zero at the start)
        self.prior = QuantileMap(prior == "invert") if prior != "none" else None
        if self.prior is not None:
            zero_last_conv(self.out)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """x (N, in_ch, H, W), z (N, z_dim) -> (N, out_ch, H, W)."""
        h = x
        for b in self.blocks:
            h = b(h) if isinstance(b, nn.Upsample) else b(h, z)
        return self.out(h) if self.prior is None else self.prior(x) + self.out(h)


class PairEncoder(nn.Module):
    """E(a, b) -> z: conv3 (nef), n_down stride-2 conv3s (channels doubling up to 4 nef), LeakyReLU 0.2,
    no norm, tile-aware global average pooling, linear to z_dim."""

    def __init__(self, a_ch: int, b_ch: int, nef: int, n_down: int, z_dim: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(a_ch + b_ch, nef, 3, 1, 1), nn.LeakyReLU(0.2, True)]
        ch = nef
        for _ in range(n_down):
            nxt = min(2 * ch, 4 * nef)
            layers += [nn.Conv2d(ch, nxt, 3, 2, 1), nn.LeakyReLU(0.2, True)]
            ch = nxt
        self.features = nn.Sequential(*layers)
        self.pool = GlobalMeanPool(ch)
        self.head = nn.Linear(ch, z_dim)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if not isinstance(a, torch.fx.Proxy) and a.shape[-2:] != b.shape[-2:]:  # traced: x and a resized reference
            raise InputError(f"latent encoder: the pair's images differ in size ({tuple(a.shape[-2:])} vs "
                             f"{tuple(b.shape[-2:])})")
        pooled = self.pool(self.features(torch.cat([a, b.to(a.dtype)], dim=1)))
        return self.head(pooled.to(self.head.weight.dtype))


class LatentDiscriminator(nn.Module):
    """D_Z(z): an MLP (LeakyReLU 0.2) to one real/fake logit per code."""

    def __init__(self, z_dim: int, hidden: int, n_layers: int = 3):
        super().__init__()
        dims = [z_dim] + [hidden] * (n_layers - 1)
        layers: list[nn.Module] = []
        for i in range(n_layers - 1):
            layers += [nn.Linear(dims[i], dims[i + 1]), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Linear(dims[-1], 1))
        self.model = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)


# ---- the family -----------------------------------------------------------------------------------------
@dataclass
class AugmentedCycleGANConfig(ModelConfig):
    """Domain A has in_channels, domain B out_channels."""
    SIZES: ClassVar[dict] = {"ngf": "width", "nef": "width", "n_res": "depth", "ndf": "width", "ndf_z": "width"}

    z_dim: int = 16  # latent size of each domain
    ngf: int = 32  # generator's first conv width
    n_down: int = 2
    n_res: int = 3  # CIN residual blocks per generator
    pad_type: str = "reflect"
    nef: int = 32  # latent encoder's first conv width
    n_enc_down: int = 3
    ndf: int = 64
    d_layers: int = 3  # PatchGAN depth (70x70 patches)
    d_norm: str = "instance"
    ndf_z: int = 64  # hidden width of the latent discriminators
    gan_mode: str = "lsgan"
    lambda_gan: float = 1.0  # image GAN terms
    lambda_gan_z: float = 1.0  # latent GAN terms
    lambda_A: float = 1.0  # image cycle a -> b~ -> a'
    lambda_B: float = 1.0  # image cycle b -> a~ -> b'
    lambda_z_a: float = 1.0  # latent cycle z_a -> a~ -> E_A(a~, b)
    lambda_z_b: float = 1.0  # latent cycle z_b -> b~ -> E_B(a, b~)
    lr: float = 0.0  # 0 keeps TrainConfig.optim.lr (the paper: 2e-4)
    #: not in the paper: "match"/"invert" makes each output q(x) + G(x, z) (module docstring)
    intensity_prior: str = "none"
    lambda_prior: float = 0.0  # L1 pull of the prior-code translations towards q(x); needs intensity_prior


LOSS_WEIGHTS = ("lambda_gan", "lambda_gan_z", "lambda_A", "lambda_B", "lambda_z_a", "lambda_z_b", "lambda_prior")


@register("augmented_cycle_gan")
class AugmentedCycleGAN(MultimodalModel):
    """G_AB, G_BA: latent-conditioned generators; E_A, E_B: latent encoders of (a, b) pairs;
    D_A, D_B: image discriminators; D_Za, D_Zb: latent discriminators."""
    paper: ClassVar[tuple] = (
        "Almahairi et al.: Augmented CycleGAN: Learning Many-to-Many Mappings from Unpaired Data, "
        "ICML 2018",
        "https://arxiv.org/abs/1802.10151")

    Config = AugmentedCycleGANConfig
    generator_names = ("G_AB", "G_BA", "E_A", "E_B")  # the encoders serve `style_from`

    def __init__(self, config: AugmentedCycleGANConfig):
        super().__init__(config)
        c = config
        check_losses("augmented_cycle_gan", c, LOSS_WEIGHTS)
        if c.z_dim < 1 or c.ngf < 1 or c.nef < 1 or c.ndf < 1 or c.ndf_z < 1:
            raise ConfigError("augmented_cycle_gan: z_dim, ngf, nef, ndf and ndf_z must be >= 1")
        if c.n_down < 0 or c.n_res < 0 or c.n_enc_down < 0:
            raise ConfigError("augmented_cycle_gan: n_down, n_res and n_enc_down must be >= 0")
        check_prior("augmented_cycle_gan", c.intensity_prior, c.lambda_prior)
        ca, cb = c.in_channels, c.out_channels
        self.G_AB = CINResnetGenerator(ca, cb, c.ngf, c.n_down, c.n_res, c.z_dim, c.pad_type, c.intensity_prior)
        self.G_BA = CINResnetGenerator(cb, ca, c.ngf, c.n_down, c.n_res, c.z_dim, c.pad_type, c.intensity_prior)
        self.E_A = PairEncoder(ca, cb, c.nef, c.n_enc_down, c.z_dim)
        self.E_B = PairEncoder(ca, cb, c.nef, c.n_enc_down, c.z_dim)
        # image discriminators: the CycleGAN code's N(0, 0.02) init (GANs train worse from PyTorch's
        # default); the latent MLPs keep PyTorch's init (with N(0, 0.02) their 3 layers start with
        # near-zero outputs, and in tiny runs the latent cycles then fell more slowly)
        self.D_A = init_weights(NLayerDiscriminator(ca, c.ndf, c.d_layers, c.d_norm))
        self.D_B = init_weights(NLayerDiscriminator(cb, c.ndf, c.d_layers, c.d_norm))
        self.D_Za = LatentDiscriminator(c.z_dim, c.ndf_z)
        self.D_Zb = LatentDiscriminator(c.z_dim, c.ndf_z)
        self.gan = GANLoss(c.gan_mode)

    def size_multiple(self) -> int:
        return 2 ** self.config.n_down

    q_AB = property(lambda self: self.G_AB.prior, doc="q from A into B (None without a prior).")
    q_BA = property(lambda self: self.G_BA.prior, doc="q from B into A (None without a prior).")

    def prepare_data(self, dataset):
        fit_priors(self, dataset, [("q_AB", "A", "B"), ("q_BA", "B", "A")])

    # ---- inference -------------------------------------------------------------------------------
    def resolve_samples(self, direction, opts, device):
        """One {"z" or "reference"} per output: z = 0, seeded prior draws, or a reference image whose
        latent E computes together with each input."""
        ref = reference_tensor(opts, "style_from", self.channels(direction)[1])
        if ref is not None:
            return [{"reference": ref.to(device)}]
        codes = draw_codes(opts, self.config.z_dim, device)
        return [{"z": None}] if codes is None else [{"z": z} for z in codes]

    def encode_latent(self, x: torch.Tensor, ref: torch.Tensor, direction: str) -> torch.Tensor:
        """The output domain's latent of the pair (input, reference): AtoB z_b = E_B(x, ref),
        BtoA z_a = E_A(ref, x). `ref` is resized to x's size."""
        ref = resize_like(ref, x)
        return self.E_B(x, ref) if direction == "AtoB" else self.E_A(ref, x)

    def inference_forward(self, x, direction, z: torch.Tensor | None = None, reference: torch.Tensor | None = None):
        gen = self.G_AB if direction == "AtoB" else self.G_BA
        if reference is not None:
            z = self.encode_latent(x, reference, direction)
        elif z is None:
            z = torch.zeros(1, self.config.z_dim, device=x.device)
        return gen(x, z.to(device=x.device, dtype=x.dtype).expand(x.shape[0], -1))

    # ---- training --------------------------------------------------------------------------------
    def configure_optimizers(self, train_cfg) -> dict:
        """One Adam over G_AB, G_BA, E_A, E_B and one over the four discriminators."""
        o = train_cfg.optim
        kw = dict(lr=self.config.lr or o.lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay)
        gen = [p for n in self.generator_names for p in getattr(self, n).parameters()]
        dis = [p for m in (self.D_A, self.D_B, self.D_Za, self.D_Zb) for p in m.parameters()]
        return {"gen": torch.optim.Adam(gen, **kw), "dis": torch.optim.Adam(dis, **kw)}

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        """Both augmented cycles through G and E with the discriminators frozen, then the four
        discriminators on real images / prior codes against the cycles' fakes."""
        c = self.config
        a, b = batch["A"], batch["B"]
        z_a = torch.randn(b.shape[0], c.z_dim, device=b.device)  # prior codes
        z_b = torch.randn(a.shape[0], c.z_dim, device=a.device)
        dis = [self.D_A, self.D_B, self.D_Za, self.D_Zb]
        self.set_requires_grad(dis, False)
        # cycle from A: (a, z_b) -> b~ -> (a', z_b')
        fake_b = self.G_AB(a, z_b)
        z_a_enc = self.E_A(a, fake_b)
        rec_a = self.G_BA(fake_b, z_a_enc)
        z_b_rec = self.E_B(a, fake_b)
        # cycle from B: (b, z_a) -> a~ -> (b', z_a')
        fake_a = self.G_BA(b, z_a)
        z_b_enc = self.E_B(fake_a, b)
        rec_b = self.G_AB(fake_a, z_b_enc)
        z_a_rec = self.E_A(fake_a, b)
        terms = {
            "GAN_A": c.lambda_gan * self.gan(self.D_A(fake_a), True, False),
            "GAN_B": c.lambda_gan * self.gan(self.D_B(fake_b), True, False),
            "GAN_Za": c.lambda_gan_z * self.gan(self.D_Za(z_a_enc), True, False),
            "GAN_Zb": c.lambda_gan_z * self.gan(self.D_Zb(z_b_enc), True, False),
            "cyc_A": c.lambda_A * l1(rec_a, a), "cyc_B": c.lambda_B * l1(rec_b, b),
            "cyc_Za": c.lambda_z_a * l1(z_a_rec, z_a), "cyc_Zb": c.lambda_z_b * l1(z_b_rec, z_b),
        }
        if c.lambda_prior > 0:
            terms["prior_AB"] = c.lambda_prior * l1(fake_b, self.q_AB(a).detach())
            terms["prior_BA"] = c.lambda_prior * l1(fake_a, self.q_BA(b).detach())
        g_total = sum(terms.values())
        self.optimize("gen", g_total)
        self.set_requires_grad(dis, True)
        d = {"D_A": self._d_loss(self.D_A, a, fake_a), "D_B": self._d_loss(self.D_B, b, fake_b),
             "D_Za": self._d_loss(self.D_Za, z_a, z_a_enc), "D_Zb": self._d_loss(self.D_Zb, z_b, z_b_enc)}
        self.optimize("dis", c.lambda_gan * (d["D_A"] + d["D_B"]) + c.lambda_gan_z * (d["D_Za"] + d["D_Zb"]))
        out = {k: float(v.detach()) for k, v in {**terms, **d}.items()}
        out["G_total"] = float(g_total.detach())
        return out

    def _d_loss(self, net: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Real -> 1, fake -> 0, halved (as in CycleGAN)."""
        return 0.5 * (self.gan(net(real), True) + self.gan(net(fake.detach()), False))

    @torch.no_grad()
    def visuals(self, batch: dict) -> dict[str, torch.Tensor]:
        """Inputs, translations with z = 0 and a fixed random z, and the augmented-cycle reconstructions."""
        a, b = batch["A"], batch["B"]
        g = torch.Generator().manual_seed(0)
        z = torch.randn(1, self.config.z_dim, generator=g).to(a.device)
        zero = torch.zeros_like(z)
        fake_b, fake_a = self.G_AB(a, zero.expand(len(a), -1)), self.G_BA(b, zero.expand(len(b), -1))
        return {"real_A": a, "fake_B": fake_b, "fake_B_random": self.G_AB(a, z.expand(len(a), -1)),
                "rec_A": self.G_BA(fake_b, self.E_A(a, fake_b)),
                "real_B": b, "fake_A": fake_a, "fake_A_random": self.G_BA(b, z.expand(len(b), -1)),
                "rec_B": self.G_AB(fake_a, self.E_B(fake_a, b))}
