"""StarGAN: Unified Generative Adversarial Networks for Multi-Domain Image-to-Image Translation
(Choi et al., CVPR 2018). One generator serves N domains: it takes the image and the target
domain's label and returns the image in that domain.

Networks
- G(x, c): the one-hot target label c is replicated over space and concatenated to the image
  channels (paper Sec. 3.1), then conv7 -> 2 stride-2 downsamplings -> `n_res` residual blocks ->
  2 upsamplings -> conv7 -> tanh, instance norm after every conv but the stem (the paper's
  layout). Two deliberate differences: the stem conv is unnormalised, because an instance norm
  there cancels a spatially constant label map exactly (with this project's reflect padding the
  label would be ignored), and the upsamplings are nearest x2 + 5x5 conv (the project's decoder)
  instead of 4x4 transposed convs, to avoid checkerboard artefacts. Optional, not in the paper
  (`skips=True`, default off): U-Net-style skips that add a 1x1 projection of the encoder's features to
  the decoder at each up-sampled resolution, so fine anatomy need not pass the bottleneck (StarGAN v2
  keeps detail with encoder-to-decoder skips for the same reason). Each target domain has its own
  projection. On the MNI benchmark skips keep the T2w<->PD anatomy (README, StarGAN).
- D: a PatchGAN critic D_src and an auxiliary domain classifier D_cls on one shared trunk of
  `d_layers` stride-2 convs (no normalisation, LeakyReLU 0.01); see `AuxClassifierDiscriminator`.
  Optional, not in the paper (`d_src_layers=k`, default 0 = the last layer): D_src on the trunk's k-th
  layer, a local PatchGAN critic, while D_cls keeps the whole trunk's global view.

Losses (paper Eq. 1-7, WGAN-GP form of Eq. 8):
  L_D = -E[D_src(x)] + E[D_src(G(x, c))] + lambda_gp E[(||grad D_src(x_hat)||_2 - 1)^2]
        + lambda_cls E[-log D_cls(c'|x)]                      (c': the real image's domain)
  L_G = -E[D_src(G(x, c))] + lambda_cls E[-log D_cls(c|G(x, c))] + lambda_rec E[||x - G(G(x, c), c')||_1]
Optional, not in the paper (`intensity_prior`, nets/prior.py, as for CycleGAN and UNIT): the output is
q_{s->t}(x) + G(x, c), with q the quantile mapping of the source domain's foreground histogram onto the
target's (inverted for the pairs in `invert_pairs`, or for all with "invert"), fitted on the training
pixels, and G's last conv starting at zero; `lambda_prior` pulls each translation towards q. The
mapping depends on the source domain, so such a model translates along named directions "S->T".
Optional, not in the paper (default 0): lambda_id * E[||G(x, c') - x||_1], CycleGAN's identity term
(translating to the image's own domain returns it). It pulls G towards copying its input: on the
MNI benchmark that helps between similar contrasts and hurts inverted ones (README, StarGAN).
Defaults are the paper's: lambda_cls=1, lambda_rec=10, lambda_gp=10, n_critic=5 (D is updated every
iteration, G every n_critic-th), Adam lr 1e-4 with betas (0.5, 0.999) (set them in TrainConfig.optim;
`lr` here overrides the run's lr, 0 keeps it). Targets c are drawn uniformly over all domains per
image, as the paper's "randomly generate the target domain label".

Inference: `translate(x, target="T2w")` (a domain name of config.domains), or a direction
"T1w->T2w" / "to_T2w" / "T2w" (the source domain is only validated: the generator ignores it).
`arch="official"` builds yunjey/stargan's generator (what `im2im_core.foreign.stargan` imports into;
`OfficialStarGANGenerator` says how it differs); `target` also takes a label vector such as
`[1, 0, 0, 1, 0]`, one value per domain, for their multi-attribute (CelebA) models.
Data: `MultiDomainArrays` / `MultiDomainFolders` items {"image", "label"} (`multi_domain = True`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, InputError
from ..losses import GANLoss, gradient_penalty, l1
from ..nets.discriminators import AuxClassifierDiscriminator
from ..nets.encoders import Conv2dBlock, ConvDecoder, res_blocks
from ..nets.norm import GlobalInstanceNorm2d
from ..nets.prior import check_prior, QuantileMap, zero_last_conv
from .base import Im2ImModel, ModelConfig, register

ANY_TARGET = "to_target"  # the direction whose target domain comes from the `target` option


@dataclass
class StarGANConfig(ModelConfig):
    """`domains`: the N domain names, in label order. in_channels == out_channels (one generator)."""
    SIZES: ClassVar[dict] = {"dim": "width", "n_res": "depth", "ndf": "width", "d_layers": "depth"}

    domains: tuple = ("A", "B", "C")
    dim: int = 64  # generator's first conv width (paper 64)
    n_down: int = 2
    n_res: int = 6  # paper: 6 residual blocks
    norm: str = "instance"
    ndf: int = 64
    d_layers: int = 6  # stride-2 convs in D (paper: 6 at 128 px); training sides must be >= 2**d_layers
    d_src_layers: int = 0  # not in the paper: k > 0 puts the critic head on D's k-th layer (local), cls stays last
    lambda_cls: float = 1.0
    lambda_rec: float = 10.0
    lambda_gp: float = 10.0
    lambda_id: float = 0.0  # not in the paper (0 = its objective): ||G(x, c_org) - x||_1, as CycleGAN's identity term
    skips: bool = False  # not in the paper: U-Net-style encoder->decoder skips, projected per target domain
    n_critic: int = 5  # D updates per G update
    #: not in the paper: "match"/"invert" makes outputs q_{s->t}(x) + G(x, c) (see the module docstring)
    intensity_prior: str = "none"
    #: with intensity_prior "match": unordered pairs "S:T" whose contrast flips (their q is inverted)
    invert_pairs: tuple = ()
    lambda_prior: float = 0.0  # L1 pull of each translation towards q_{s->t}(x); needs intensity_prior
    lr: float = 1e-4  # paper's Adam step for G and D; 0 takes TrainConfig.optim.lr
    #: "ours" or "official" (yunjey/stargan's generator, `OfficialStarGANGenerator`)
    arch: str = "ours"


def label_map(labels: torch.Tensor, n_domains: int, like: torch.Tensor) -> torch.Tensor:
    """(N,) domain indices (one-hot) or (N, n_domains) label vectors (multi-hot attributes), replicated
    over the image's space."""
    c = F.one_hot(labels, n_domains).to(like.dtype) if labels.ndim == 1 else labels.to(like.dtype)
    return c[:, :, None, None].expand(-1, -1, *like.shape[-2:])


def with_labels(x: torch.Tensor, labels, n_domains: int) -> torch.Tensor:
    """[x, label map]: pixel by pixel, so the tiled executor (stream.py) runs it as one pointwise step."""
    if isinstance(labels, tuple):
        labels = torch.tensor([labels], dtype=x.dtype, device=x.device).expand(x.shape[0], -1)
    return torch.cat([x, label_map(labels, n_domains, x)], 1)


with_labels.stream_pointwise = True
torch.fx.wrap("with_labels")


def add_domain_skip(h: torch.Tensor, skip: torch.Tensor, labels: torch.Tensor, n_domains: int) -> torch.Tensor:
    """h + the target domain's part of `skip` (n_domains * C channels), per item: pixel by pixel."""
    rows = torch.arange(len(labels), device=labels.device)
    return h + skip.unflatten(1, (n_domains, h.shape[1]))[rows, labels]


add_domain_skip.stream_pointwise = True
torch.fx.wrap("add_domain_skip")


class KeptStatsInstanceNorm2d(GlobalInstanceNorm2d):
    """yunjey/stargan's InstanceNorm2d(affine=True, track_running_stats=True), which their code never
    puts in eval mode: it always normalises with the image's own statistics. The running statistics
    their files hold are kept here, unused, so an export writes them back unchanged."""

    def __init__(self, channels: int):
        super().__init__(channels, affine=True, track_running_stats=False)
        self.register_buffer("kept_mean", torch.zeros(channels))
        self.register_buffer("kept_var", torch.ones(channels))
        self.register_buffer("kept_count", torch.tensor(0, dtype=torch.int64))


class OfficialStarGANGenerator(nn.Module):
    """yunjey/stargan's Generator, for `arch="official"`. Where ours differs: theirs zero-pads every
    conv (ours reflects), has no conv biases, instance-normalises (with affine) the stem too, and
    up-samples with 4x4 transposed convs (ours: nearest x2 then a 5x5 conv); its output conv has no
    bias. `main` is laid out index for index as theirs, so their keys load unchanged (the running
    statistics under kept_*). Labels may be multi-hot attribute vectors, as in their CelebA models."""

    def __init__(self, channels: int, n_domains: int, dim: int, n_down: int, n_res: int):
        super().__init__()
        self.n_domains = n_domains
        layers = [nn.Conv2d(channels + n_domains, dim, 7, 1, 3, bias=False), KeptStatsInstanceNorm2d(dim), nn.ReLU(True)]
        for _ in range(n_down):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1, bias=False), KeptStatsInstanceNorm2d(dim * 2), nn.ReLU(True)]
            dim *= 2
        layers += [OfficialResidualBlock(dim) for _ in range(n_res)]
        for _ in range(n_down):
            layers += [nn.ConvTranspose2d(dim, dim // 2, 4, 2, 1, bias=False), KeptStatsInstanceNorm2d(dim // 2),
                       nn.ReLU(True)]
            dim //= 2
        layers += [nn.Conv2d(dim, channels, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels) -> torch.Tensor:
        """labels: (N,) indices, (N, n_domains) vectors, or one label vector as a tuple (inference)."""
        return self.main(with_labels(x, labels, self.n_domains))


class OfficialResidualBlock(nn.Module):
    """x + [conv3 -> IN -> ReLU -> conv3 -> IN](x), zero padding, no biases (yunjey/stargan's)."""

    def __init__(self, dim: int):
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1, bias=False), KeptStatsInstanceNorm2d(dim), nn.ReLU(True),
                                  nn.Conv2d(dim, dim, 3, 1, 1, bias=False), KeptStatsInstanceNorm2d(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main(x)


class StarGANGenerator(nn.Module):
    """G(x, c): image plus spatially replicated one-hot label in, translated image out."""

    def __init__(self, channels: int, n_domains: int, dim: int, n_down: int, n_res: int, norm: str,
                 skips: bool = False):
        super().__init__()
        self.n_domains = n_domains
        # the stem conv is not normalised: with reflect padding a spatially constant label map adds a
        # constant per channel, which an instance norm right after it would remove exactly (the label
        # would be ignored); through the ReLU it becomes a pixel-dependent change that later layers keep
        layers = [Conv2dBlock(channels + n_domains, dim, 7, 1, 3, "none", "relu")]
        for _ in range(n_down):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, norm, "relu"))
            dim *= 2
        layers.append(res_blocks(n_res, dim, norm))
        self.encoder = nn.Sequential(*layers)
        self.decoder = ConvDecoder(dim, channels, n_down, 0, norm, norm)
        # skips[k]: 1x1 projections of the encoder's output at the resolution of the k-th up-sampling stage,
        # one per target domain (what to keep differs by target contrast), added to that stage's output
        # (channel counts match: the decoder halves what the encoder doubled)
        self.skips = nn.ModuleList([nn.Conv2d(dim >> (k + 1), (dim >> (k + 1)) * n_domains, 1)
                                    for k in range(n_down)]) if skips else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W); labels: (N,) int64 target domain indices or (N, n_domains) label vectors."""
        h = with_labels(x, labels, self.n_domains)
        if self.skips is None:
            return self.decoder(self.encoder(h))
        feats = []  # stem and down-sampling outputs, finest first
        for layer in self.encoder:
            h = layer(h)
            feats.append(h)
        stages = list(self.decoder.model)  # [residual blocks, (up-sample, conv) * n_down, output conv]
        h = stages[0](h)
        for k, proj in enumerate(self.skips):
            h = stages[2 + 2 * k](stages[1 + 2 * k](h))
            h = add_domain_skip(h, proj(feats[len(self.skips) - 1 - k]), labels, self.n_domains)
        return stages[-1](h)


class PairPriors(nn.Module):
    """q_{s->t} for every ordered pair of distinct domains (`maps["S_to_T"]`), identity for s == t."""

    def __init__(self, domains: list[str], prior: str, invert_pairs):
        super().__init__()
        flips = set()
        for pair in invert_pairs:
            names = [n.strip() for n in str(pair).split(":")]
            if len(names) != 2 or any(n not in domains for n in names) or names[0] == names[1]:
                raise ConfigError(f"stargan: invert_pairs entry {pair!r} must be 'S:T' with two of the domains {domains}")
            flips.add(frozenset(names))
        self.domains = domains
        self.maps = nn.ModuleDict({f"{s}_to_{t}": QuantileMap(prior == "invert" or frozenset((s, t)) in flips)
                                   for s in domains for t in domains if s != t})

    def map(self, s: int, t: int):
        """q from domain index s to t (a pointwise module, or None for s == t)."""
        return None if s == t else self.maps[f"{self.domains[s]}_to_{self.domains[t]}"]

    def forward(self, x: torch.Tensor, src: torch.Tensor, trg: torch.Tensor) -> torch.Tensor:
        """q_{src[i]->trg[i]}(x[i]) per item."""
        rows = []
        for i, (s, t) in enumerate(zip(src.tolist(), trg.tolist())):
            q = self.map(s, t)
            rows.append(x[i:i + 1] if q is None else q(x[i:i + 1]))
        return torch.cat(rows)

    @torch.no_grad()
    def fit(self, pixels: dict) -> None:
        """`pixels`: domain name -> 1D tensor of its training pixels on the [-1, 1] scale."""
        for key, q in self.maps.items():
            s, t = key.split("_to_")
            q.fit(pixels[s], pixels[t])


@register("stargan")
class StarGAN(Im2ImModel):
    """N domains, one conditional generator `G`, one discriminator `D` (critic + classifier)."""
    paper: ClassVar[tuple] = (
        "Choi et al.: StarGAN: Unified Generative Adversarial Networks for Multi-Domain "
        "Image-to-Image Translation, CVPR 2018",
        "https://arxiv.org/abs/1711.09020")

    Config = StarGANConfig
    generator_names = ("G",)
    inference_options = frozenset({"target"})
    multi_domain = True
    pure_bf16 = True
    unstreamable = "whole"  # the label map enters every tile: tiles would not match the whole image

    def __init__(self, config: StarGANConfig):
        super().__init__(config)
        c = config
        doms = [str(d) for d in c.domains]
        if len(doms) < 2 or len(set(doms)) != len(doms):
            raise ConfigError(f"stargan: domains must be >= 2 distinct names, got {list(c.domains)}")
        if c.in_channels != c.out_channels:
            raise ConfigError(f"stargan: one generator maps every domain to every other, so in_channels "
                              f"({c.in_channels}) must equal out_channels ({c.out_channels})")
        if c.n_critic < 1 or min(c.lambda_cls, c.lambda_rec, c.lambda_gp, c.lambda_id, c.lambda_prior) < 0:
            raise ConfigError("stargan: n_critic must be >= 1 and lambda_cls, lambda_rec, lambda_gp, lambda_id, "
                              "lambda_prior >= 0")
        check_prior("stargan", c.intensity_prior)
        if c.intensity_prior == "none" and (c.lambda_prior > 0 or c.invert_pairs):
            raise ConfigError("stargan: lambda_prior and invert_pairs need intensity_prior 'match' or 'invert'")
        if c.arch == "official":
            if c.skips or c.intensity_prior != "none":
                raise ConfigError("stargan: arch 'official' (yunjey/stargan's generator) has no skips and no intensity prior")
            self.G = OfficialStarGANGenerator(c.in_channels, len(doms), c.dim, c.n_down, c.n_res)
        elif c.arch == "ours":
            self.G = StarGANGenerator(c.in_channels, len(doms), c.dim, c.n_down, c.n_res, c.norm, c.skips)
        else:
            raise ConfigError(f"stargan: arch {c.arch!r} unknown; use 'ours' or 'official' (yunjey/stargan)")
        self.prior = None
        if c.intensity_prior != "none":
            self.prior = PairPriors(doms, c.intensity_prior, c.invert_pairs)
            zero_last_conv(self.G.decoder)  # the residual starts at zero: the model starts as the mappings
            self.inference_options = frozenset()  # the direction names the source domain; no bare target
            self.generator_names = ("G", "prior")  # exports keep the fitted mappings
        self.D = AuxClassifierDiscriminator(c.in_channels, len(doms), c.ndf, c.d_layers, src_layers=c.d_src_layers)
        self.wgan = GANLoss("wgangp")

    # ---- description -----------------------------------------------------------------------
    @property
    def domain_names(self) -> list[str]:
        return [str(d) for d in self.config.domains]

    def directions(self) -> list[str]:
        """One direction, to the domain named by the `target` option; with an intensity prior every
        "S->T" (the mapping depends on the source)."""
        if self.prior is not None:
            return [f"{s}->{t}" for s in self.domain_names for t in self.domain_names if s != t]
        return [ANY_TARGET]

    def _domain(self, name, what: str) -> int:
        names = self.domain_names
        if str(name) not in names:
            raise InputError(f"{what} {name!r} is not a domain of this stargan model; valid domains: {names}")
        return names.index(str(name))

    def resolve_direction(self, direction: str | None) -> str:
        """None -> "to_target" (pass target=...); "S->T", "to_T" or "T" -> "to_T". With an intensity
        prior: None -> the first pair, and only "S->T"."""
        if self.prior is not None:
            d = self.directions()[0] if direction is None else str(direction).replace(" ", "")
            if "->" not in d:
                raise InputError(f"this stargan model maps intensities per source domain (intensity prior): give "
                                 f"a direction 'S->T', one of {self.directions()}; got {direction!r}")
            src, dst = d.split("->", 1)
            self._domain(src, "source domain")
            self._domain(dst, f"direction {direction!r}: target domain")
            if src == dst:
                raise InputError(f"direction {direction!r} translates a domain to itself; use one of {self.directions()}")
            return d
        if direction is None or direction == ANY_TARGET:
            return ANY_TARGET
        d = str(direction).strip()
        if "->" in d:
            src, d = (s.strip() for s in d.split("->", 1))
            self._domain(src, "source domain")
        elif d.startswith("to_") and d[3:] in self.domain_names:
            d = d[3:]
        self._domain(d, f"direction {direction!r}: target domain")
        return f"to_{d}"

    def channels(self, direction: str) -> tuple[int, int]:
        return self.config.in_channels, self.config.in_channels

    def size_multiple(self) -> int:
        return 2 ** self.config.n_down

    def resolve_samples(self, direction, opts, device):
        """The target domain index, from `target` or the direction (they must agree); or a label
        vector: `target=[1, 0, 0, 1, 0]` (one value per domain, e.g. CelebA attributes)."""
        target = opts.get("target")
        if target is not None and not isinstance(target, str) and self.prior is None and direction == ANY_TARGET:
            return [{"target_vector": self.label_vector(target)}]
        if target is not None:
            if not isinstance(target, str):
                raise InputError(f"target must be a domain name (one of {self.domain_names}), got {target!r}")
            idx = self._domain(target, "target")
        if self.prior is not None:
            return [{"target_index": self._domain(direction.split("->")[1], "target")}]
        if direction == ANY_TARGET:
            if target is None:
                raise InputError(f"stargan needs a target domain: pass target=<name> (one of {self.domain_names}) "
                                 f"or a direction such as '{self.domain_names[0]}->{self.domain_names[1]}'")
            return [{"target_index": idx}]
        named = self._domain(direction[3:], "target")
        if target is not None and idx != named:
            raise InputError(f"direction {direction!r} and target={target!r} disagree; give one of them")
        return [{"target_index": named}]

    def label_vector(self, target) -> tuple:
        """`target` as a tuple of one float per domain, or an InputError."""
        try:
            vec = tuple(float(v) for v in target)
        except (TypeError, ValueError):
            vec = ()
        if len(vec) != len(self.domain_names):
            raise InputError(f"target must be a domain name (one of {self.domain_names}) or a label vector of "
                             f"{len(self.domain_names)} numbers, got {target!r}")
        return vec

    def inference_forward(self, x, direction, target_index: int | None = None, target_vector: tuple | None = None):
        if target_vector is None and self.config.arch == "official" and target_index is not None:
            target_vector = tuple(float(i == int(target_index)) for i in range(len(self.domain_names)))
        if target_vector is not None:
            return self.G(x, tuple(target_vector))
        if target_index is None:
            if direction == ANY_TARGET:
                raise InputError(f"stargan needs a target domain (one of {self.domain_names}); pass target=... "
                                 "or a direction such as 'T1w->T2w'")
            target_index = self._domain(direction.split("->")[-1] if "->" in direction else direction[3:], "target")
        labels = torch.full((x.shape[0],), int(target_index), dtype=torch.int64, device=x.device)
        if self.prior is None:
            return self.G(x, labels)
        q = self.prior.map(self._domain(direction.split("->")[0], "source domain"), int(target_index))
        return (x if q is None else q(x)) + self.G(x, labels)

    def translate_labels(self, x: torch.Tensor, src: torch.Tensor, trg: torch.Tensor) -> torch.Tensor:
        """G(x, trg), plus q_{src->trg}(x) with an intensity prior (training and visuals)."""
        y = self.G(x, trg)
        return y if self.prior is None else self.prior(x, src, trg) + y

    def prepare_data(self, dataset) -> None:
        """Fit the pair mappings on each domain's training pixels (with an intensity prior)."""
        if self.prior is None:
            return
        self.prior.fit({n: dataset.pixels(n) for n in self.domain_names})

    # ---- training ------------------------------------------------------------------------------
    def configure_optimizers(self, train_cfg) -> dict:
        o = train_cfg.optim
        kw = dict(lr=self.config.lr or o.lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay)
        return {"G": torch.optim.Adam(self.G.parameters(), **kw), "D": torch.optim.Adam(self.D.parameters(), **kw)}

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        """D every iteration (Eq. D), G every n_critic-th iteration (Eq. G)."""
        c = self.config
        x, c_org = batch["image"], batch["label"].long()
        c_trg = torch.randint(len(self.domain_names), c_org.shape, device=x.device)
        # ---- discriminator: WGAN critic + classification of real images + gradient penalty
        self.set_requires_grad(self.D, True)
        src_real, cls_real = self.D(x)
        with torch.no_grad():
            fake = self.translate_labels(x, c_org, c_trg)
        src_fake, _ = self.D(fake)
        d = {"D_real": self.wgan(src_real, True), "D_fake": self.wgan(src_fake, False),
             "D_cls": c.lambda_cls * F.cross_entropy(cls_real.float(), c_org),
             "D_gp": gradient_penalty(self.D, x, fake, c.lambda_gp, output_index=0)}
        self.optimize("D", sum(d.values()))
        out = {k: float(v.detach()) for k, v in d.items()}
        out["D_cls_acc"] = float((cls_real.detach().argmax(1) == c_org).float().mean())
        if (step + 1) % c.n_critic:
            return out
        # ---- generator: fool the critic, be classified as the target, reconstruct the input
        self.set_requires_grad(self.D, False)
        fake = self.translate_labels(x, c_org, c_trg)
        src_fake, cls_fake = self.D(fake)
        rec = self.translate_labels(fake, c_trg, c_org)
        g = {"G_fake": self.wgan(src_fake, True, for_discriminator=False),
             "G_cls": c.lambda_cls * F.cross_entropy(cls_fake.float(), c_trg),
             "G_rec": c.lambda_rec * l1(rec, x)}
        if c.lambda_id > 0:
            g["G_id"] = c.lambda_id * l1(self.translate_labels(x, c_org, c_org), x)
        if c.lambda_prior > 0:
            with torch.no_grad():
                base = self.prior(x, c_org, c_trg)
            g["G_prior"] = c.lambda_prior * l1(fake, base)
        self.optimize("G", sum(g.values()))
        self.set_requires_grad(self.D, True)
        out.update({k: float(v.detach()) for k, v in g.items()})
        return out

    @torch.no_grad()
    def visuals(self, batch: dict) -> dict[str, torch.Tensor]:
        """The real images and their translation to every domain."""
        x, src = batch["image"], batch["label"].long()
        vis = {"real": x}
        for i, name in enumerate(self.domain_names):
            vis[f"to_{name}"] = self.translate_labels(x, src, torch.full_like(src, i))
        return vis
