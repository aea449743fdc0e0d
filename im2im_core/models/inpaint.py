"""Free-form inpainting with gated convolutions and an SN-PatchGAN (DeepFill v2, Yu et al., ICCV 2019).

Training is self-supervised: ``batch["A"]`` holds CLEAN images in [-1, 1]; every step draws new
free-form holes (`im2im_core.data.holes.random_hole_mask`, one mask per image, area fraction in
``hole_ratio``) from a seed derived from (``hole_seed``, step), so runs are reproducible.

* Generator input: the image with holes set to 0 (mid-grey in [-1, 1]) plus the hole mask as an
  extra channel; `GatedGenerator` (im2im_core.nets.gated) is a single-stage DeepFill v2 network
  (no contextual-attention refinement stage; see that module).
* Discriminator: SN-PatchGAN, i.e. `NLayerDiscriminator(spectral=True)` without normalisation,
  on the completed image concatenated with the mask, trained with the hinge loss.
* Generator loss: ``l1_hole_weight * mean(|G - x| * m) + l1_valid_weight * mean(|G - x| * (1 - m))
  + l2_hole_weight * mean((G - x)^2 * m) + lambda_gan * (-D(completed))``. Defaults 6 / 1 follow
  the hole/valid weighting of Liu et al. (partial convolutions, ECCV 2018); ``lambda_gan`` 0.1 keeps training L1-led and stable on small
  microscopy/MRI sets (DeepFill v2 used 1 with its own, larger-magnitude L1 normalisation).

Inference: ``inference_forward(x, direction, mask=..., label=None)``. `mask` is a boolean
array/tensor (True = hole) or an integer labels array; ``label`` picks the value marking the hole
(default: every nonzero value). Shapes (H, W), (1|N, H, W) or (1|N, 1, H, W) with H, W equal to the
image's. The result is ``where(mask, G(...), x)``: known pixels come back BIT-IDENTICAL in the
normalised tensor. The Translator's raw -> [-1, 1] -> raw round trip (percentile window with
clipping, float rounding, integer cast) is not bit-exact, so for bit-identical raw output the
caller must paste the ORIGINAL raw pixels back outside the mask.

`arch="official"` builds the DeepFill v2 generator of nipponjo/deepfillv2-pytorch (the official
weights converted from TF; nets/deepfill_official.py says how it differs; what
`im2im_core.foreign.deepfill` imports into): two stages with contextual attention, input
[x with holes zeroed, ones, mask], `ngf` their cnum (48); it needs residual=False, prefill "zero".

Masks are full-image arrays and the Translator slices only the image per tile, so this family
sets ``tileable = False`` (and ``size_multiple() == 1``: padding to the network's multiple
happens inside, so the mask always matches the image exactly).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..data.holes import HOLE_KINDS, random_hole_mask
from ..errors import ConfigError, InputError
from ..losses import GANLoss
from ..nets import DiscriminatorConfig, build_discriminator
from ..nets.gated import GatedGenerator
from ..nets.generators import UnetGenerator
from ..tiling import pad_to_multiple
from ._masks import coerce_mask
from .base import Im2ImModel, ModelConfig, check_choices, register, require_blendable


def push_pull_fill(x: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Smooth hole filling by pyramid push-pull (Gortler et al., SIGGRAPH 1996): average the known
    pixels down a 2x pyramid until every cell has some, then interpolate back up into the holes.
    x: (N, C, H, W); known: (N, 1, H, W) float, 1 = known. Differentiable, O(HW)."""
    h, w = x.shape[-2:]
    if bool((known > 0).all()) or max(h, w) <= 1:
        return x
    xs = F.avg_pool2d(x * known, 2, ceil_mode=True)
    ws = F.avg_pool2d(known, 2, ceil_mode=True)
    coarse = push_pull_fill(xs / ws.clamp_min(1e-6), (ws > 0).to(x.dtype))
    up = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    return x * known + up * (1 - known)


PREFILLS = ("biharmonic", "push_pull", "zero")


def biharmonic_fill(x: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """scikit-image's biharmonic inpainting per image and channel (no gradient; CPU numpy)."""
    from skimage.restoration import inpaint_biharmonic

    xs = x.detach().float().cpu().numpy()
    hs = hole.expand(x.shape[0], 1, *x.shape[-2:]).cpu().numpy()[:, 0]
    if any(h.all() for h in hs):
        raise InputError("the hole mask covers the whole image (or a whole tile): there is nothing to inpaint from; "
                         "mark only the missing region, or translate with a larger tile")
    out = np.stack([np.stack([inpaint_biharmonic(ch, h) if h.any() else ch for ch in img]) for img, h in zip(xs, hs)])
    return torch.from_numpy(out.astype(np.float32)).to(device=x.device, dtype=x.dtype)


@dataclass
class InpaintConfig(ModelConfig):
    """Gated generator, SN-PatchGAN and the on-the-fly hole distribution."""
    SIZES: ClassVar[dict] = {"ngf": "width", "discriminator.ndf": "width"}

    #: old keys still read (with a DeprecationWarning): one name, lambda_gan, for every family
    RENAMED: ClassVar[dict] = {"adv_weight": "lambda_gan"}

    ngf: int = 32
    #: "gated": DeepFill v2's gated encoder-decoder; "unet": a norm-free U-Net with `num_downs`
    #: levels (skips carry the context straight to the output; not in the paper); "official":
    #: nipponjo/deepfillv2-pytorch's two-stage generator (see the module docstring)
    arch: str = "gated"
    num_downs: int = 6
    n_down: int = 2
    dilations: tuple = (2, 4, 8, 16)
    discriminator: DiscriminatorConfig = field(
        default_factory=lambda: DiscriminatorConfig(n_layers=3, ndf=64, norm="none", spectral=True))
    hole_kind: str = "free_form"
    hole_ratio: tuple = (0.1, 0.4)
    hole_seed: int = 0
    l1_hole_weight: float = 6.0
    l1_valid_weight: float = 1.0
    #: squared error in the holes: L1 alone favours the median, PSNR rewards the mean
    l2_hole_weight: float = 0.0
    lambda_gan: float = 0.1
    #: the generator predicts a correction to the hole-filled input instead of the whole image,
    #: so known context passes through from the first step and training spends itself on the holes
    residual: bool = True
    #: what the holes hold before the network sees them (and, with `residual`, what it corrects):
    #: "biharmonic" (scikit-image's inpaint_biharmonic, a strong classical fill), "push_pull"
    #: (a fast differentiable pyramid fill) or "zero"
    prefill: str = "biharmonic"
    domains: tuple = ("with holes", "inpainted")


@register("inpaint")
class Inpaint(Im2ImModel):
    """Fills the masked region; known pixels pass through untouched."""
    paper: ClassVar[tuple] = (
        "Yu et al.: Free-Form Image Inpainting with Gated Convolution, ICCV 2019",
        "https://arxiv.org/abs/1806.03589")

    Config = InpaintConfig
    generator_names = ("netG",)
    inference_options = frozenset({"mask", "label"})
    tileable = False
    two_domains = False

    def __init__(self, config: InpaintConfig):
        super().__init__(config)
        self._check_config(config)
        if config.arch == "official":
            from ..nets.deepfill_official import DeepFillGenerator

            self.netG = DeepFillGenerator(config.in_channels + 2, config.out_channels, config.ngf)
        elif config.arch == "unet":
            self.netG = UnetGenerator(config.in_channels + 1, config.out_channels, config.num_downs, config.ngf,
                                      norm="none", final_act=not config.residual)
        else:
            self.netG = GatedGenerator(config.in_channels + 1, config.out_channels, config.ngf, config.n_down,
                                       tuple(config.dilations))
        if config.residual and config.prefill != "zero" and config.arch != "official":  # start at the classical fill
            last = [m for m in self.netG.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))][-1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        self.netD = build_discriminator(config.discriminator, config.out_channels + 1)
        self.gan = GANLoss("hinge")

    @staticmethod
    def _check_config(c: InpaintConfig) -> None:
        """Fail at build time, naming the field, rather than mid-training."""
        require_blendable("inpaint", c, "keeps known pixels")
        check_choices(c, hole_kind=HOLE_KINDS, prefill=PREFILLS, arch=("gated", "unet", "official"))
        if c.arch == "official" and (c.residual or c.prefill != "zero" or c.ngf % 4):
            raise ConfigError("inpaint: arch 'official' (DeepFill v2) needs residual=False, prefill 'zero' and ngf "
                              "divisible by 4")
        if c.arch == "unet" and not 1 <= c.num_downs <= 8:
            raise ConfigError(f"inpaint: num_downs must lie in [1, 8], got {c.num_downs}")
        bad = {w: getattr(c, w) for w in ("l1_hole_weight", "l1_valid_weight", "l2_hole_weight", "lambda_gan")
               if getattr(c, w) < 0}
        if bad:
            raise ConfigError(f"inpaint: loss weights must be >= 0, got {bad}")
        lo, hi = c.hole_ratio
        if not 0 < lo <= hi < 1:
            raise ConfigError(f"hole_ratio must satisfy 0 < low <= high < 1, got {tuple(c.hole_ratio)}")

    def directions(self):
        """Only holes -> filled exists."""
        return ["AtoB"]

    def size_multiple(self):
        """1: the generator pads internally, so user masks always match the image."""
        return 1  # padding to the generator's multiple is internal, so masks always match the image

    # ---- shared forward ----------------------------------------------------------------------
    def fill(self, x: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        """Raw generator output for image x and bool hole mask (N, 1, H, W); any H, W."""
        return self._fill(x, hole)[0]

    def _fill(self, x: torch.Tensor, hole: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(generator output, classical prefill it started from)."""
        h, w = x.shape[-2:]
        m = hole.to(x.dtype).expand(x.shape[0], 1, h, w)
        if self.config.arch == "official":  # their input: [x with holes zeroed, ones, mask]
            known = x * (1 - m)
            inp = pad_to_multiple(torch.cat([known, torch.ones_like(m), m], 1), self.netG.size_multiple())
            return self.netG(inp, inp[:, -1:])[..., :h, :w].float(), known
        base = self.prefilled(x, hole, m)
        inp = torch.cat([base, m], dim=1)
        out = self.netG(pad_to_multiple(inp, self.netG.size_multiple()))[..., :h, :w].float()
        if self.config.residual:
            out = (base.float() + out).clamp(-1, 1)
        return out, base

    def prefilled(self, x: torch.Tensor, hole: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """x with its holes filled by the configured classical method (zeros for "zero")."""
        known = x * (1 - m)
        if self.config.prefill == "biharmonic":
            return torch.where(hole, biharmonic_fill(known, hole), known)
        if self.config.prefill == "push_pull":
            return push_pull_fill(known, 1 - m)
        return known

    def inference_forward(self, x, direction, mask=None, label=None):
        """Inpaint the holes of x; known pixels are returned bit-identical."""
        if mask is None:
            raise InputError("inpaint needs mask=...: a boolean array (True = hole) or a labels array "
                             "(label=... picks the hole label, default every nonzero value)")
        hole = coerce_mask(mask, x, label)
        if not bool(hole.any()):
            return x.clone()
        return torch.where(hole, self.fill(x, hole).to(x.dtype), x)

    def unchanged_pixels(self, opts):
        """Outside the holes the input is returned as is."""
        mask = opts.get("mask")
        if mask is None:
            return None
        arr = np.asarray(mask.cpu() if torch.is_tensor(mask) else mask)
        label = opts.get("label")
        return (arr == 0) if label is None else (arr != label)

    def export_module(self, direction: str) -> nn.Module:
        """A (x, mask) -> y module: inpainting cannot run without its mask."""
        if self.config.prefill == "biharmonic":
            raise InputError("this inpaint model pre-fills holes with scikit-image's biharmonic solver, which "
                              "cannot be traced; use the .safetensors checkpoint, or train with prefill=push_pull")
        return _InpaintExport(self)

    # ---- training ------------------------------------------------------------------------
    def make_holes(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """One free-form mask per image (N, 1, H, W) bool, reproducible from (hole_seed, step)."""
        c = self.config
        rng = np.random.default_rng([c.hole_seed, step])
        masks = [random_hole_mask(x.shape[-2:], rng, tuple(c.hole_ratio), c.hole_kind) for _ in range(x.shape[0])]
        return torch.from_numpy(np.stack(masks)[:, None]).to(x.device)

    def configure_optimizers(self, train_cfg):
        """Adam for G and D with the run's lr and betas."""
        return {"G": self.adam(self.netG.parameters(), train_cfg),
                "D": self.adam(self.netD.parameters(), train_cfg)}

    def train_step(self, batch, step):
        """One hinge D update (none when lambda_gan is 0) and one G update on freshly drawn holes."""
        c = self.config
        x = batch["A"]
        hole = self.make_holes(x, step)
        m = hole.to(x.dtype)
        raw, base = self._fill(x, hole)
        done = x * (1 - m) + raw * m
        err = (raw - x).abs()
        l1_hole, l1_valid = (err * m).mean(), (err * (1 - m)).mean()
        l2_hole = (err.square() * m).mean()
        loss_g = c.l1_hole_weight * l1_hole + c.l1_valid_weight * l1_valid + c.l2_hole_weight * l2_hole
        loss_d = adv = torch.zeros(())  # lambda_gan = 0: D cannot affect G, so it is not trained
        if c.lambda_gan:
            self.set_requires_grad(self.netD, True)
            loss_d = 0.5 * (self.gan(self.netD(torch.cat([x, m], 1)), True)
                            + self.gan(self.netD(torch.cat([done.detach(), m], 1)), False))
            self.optimize("D", loss_d)
            self.set_requires_grad(self.netD, False)
            adv = self.gan(self.netD(torch.cat([done, m], 1)), True, for_discriminator=False)
            loss_g = loss_g + c.lambda_gan * adv
        self.optimize("G", loss_g)
        self.set_requires_grad(self.netD, True)
        # the prefill's own error, so a run's gain over its classical start reads off the log
        l2_prefill = ((base.float() - x).square() * m).mean()
        return {"D": loss_d.item(), "G": loss_g.item(), "G_l1_hole": l1_hole.item(), "G_l2_hole": l2_hole.item(),
                "G_l1_valid": l1_valid.item(), "G_adv": adv.item(), "prefill_l2_hole": l2_prefill.item()}

    @torch.no_grad()
    def visuals(self, batch):
        """Clean, holed input, result and mask panels for the training previews."""
        x = batch["A"]
        hole = self.make_holes(x, 0)
        m = hole.to(x.dtype)
        return {"clean": x, "input": x * (1 - m), "inpainted": torch.where(hole, self.fill(x, hole), x),
                "mask": m * 2 - 1}


class _InpaintExport(nn.Module):
    """forward(x, mask): mask (N, 1, H, W) bool/0-1 with H, W multiples of the generator's stride."""

    def __init__(self, model: Inpaint):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Composite with the mask so exported graphs also keep known pixels exactly."""
        hole = mask != 0
        return torch.where(hole, self.model.fill(x, hole).to(x.dtype), x)


__all__ = ["PREFILLS", "Inpaint", "InpaintConfig", "biharmonic_fill", "push_pull_fill"]
