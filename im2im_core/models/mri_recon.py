"""DAGAN-style compressed-sensing MRI reconstruction (Yang et al., IEEE TMI 37(6), 2018).

Training is self-supervised from fully sampled images: ``batch["A"]`` holds CLEAN magnitude
images in [-1, 1]. Each step maps them to [0, 1] (x01 = (x + 1) / 2, the intensity scale in which
all k-space operations happen), draws an undersampling mask (`im2im_core.mri.make_mask` with
``mask_kind`` / ``ratio``; ``mask_policy="per_batch"`` draws a new mask every step from the seed
(``mask_seed``, step), ``"fixed"`` always uses ``mask_seed``), and forms the zero-filled
magnitude image |ifft2c(M . fft2c(x01))|, mapped back to [-1, 1].

Generator: U-Net (junyanz layout, DAGAN used 8 levels with batch norm) with residual refinement,
``recon = clip(zf + G(zf), -1, 1)``. Discriminator: a PatchGAN on the reconstruction alone.

Generator loss (weights in the config; DAGAN's are alpha=15, beta=0.1, gamma=0.0025, adv=1):

* ``nmse_weight`` (alpha) = 15 x ``losses.nmse`` (squared NMSE in [-1, 1]).
* ``freq_weight`` (beta) = 0.1 x ``losses.frequency_mse``. With the orthonormal FFT this equals the
  image-domain MSE exactly (Parseval); DAGAN's version (MSE of unnormalised |FFT| magnitudes)
  differed. It is kept at DAGAN's weight for parity and is a small extra pixel term here.
* ``lambda_gan`` = 0.1 x the GAN loss (``gan_mode``, DAGAN: vanilla cross-entropy). Our squared
  NMSE is about 10x smaller than DAGAN's root NMSE, so adv 1 -> 0.1 keeps DAGAN's balance of a
  small adversarial term next to the pixel loss.
* ``fm_weight`` (gamma) = 1 x discriminator feature matching (``losses.feature_matching``, L1 on
  the PatchGAN's intermediate activations) INSTEAD of DAGAN's VGG-16 conv4 perceptual loss: no
  ImageNet weights are available offline. Features are O(0.1-1) L1 distances, not VGG MSEs of
  O(100), hence 1 rather than 0.0025.
* ``ssim_weight`` (default 0) x (1 - SSIM) (``losses.ssim``, scikit-image's definition): beyond
  DAGAN; a pixel loss leaves a faint residue on an empty background that SSIM punishes hard.

Inference (``inference_forward``; the Translator passes the normalised image x in [-1, 1]):

* no ``mask`` / ``mask_kind``: x is taken to be a zero-filled image and only the network runs
  (this is also what ``export_module`` does).
* ``mask`` (bool or 0/1 array, (H, W) / (1|N, H, W) / (1|N, 1, H, W), nonzero = sampled) or
  ``mask_kind`` + ``ratio`` (default: the config's) + ``seed`` builds the sampling mask for x's size.
* ``simulate=True`` (default): x is FULLY SAMPLED; it is undersampled with the mask (exact complex
  measurement M . fft2c(x01)) and then reconstructed (use case: simulate an accelerated scan).
* ``simulate=False``: x is ALREADY ZERO-FILLED (a magnitude image) and comes with its mask. The
  measured k-space is estimated as M . fft2c(x01); this is exact only when the true zero-filled
  image is real and non-negative (its magnitude then equals it), an approximation otherwise.
* ``data_consistency=True``: after the network, the measured samples are re-imposed in k-space
  (`im2im_core.mri.data_consistency`; hard replacement when ``dc_lambda`` is None, soft
  (k_pred + lam k_meas) / (1 + lam) otherwise). The complex DC image matches the measurement
  exactly at sampled points; its magnitude (what is returned, clipped to [-1, 1] after mapping
  back) does so only approximately, with error at sampled points <= || |c| - c ||_2 (Parseval).
* ``return_zero_filled=True``: returns {"image": recon, "zero_filled": zf01 in [0, 1],
  "mask": sampling mask as 0/1 float (N, 1, H, W)} (no "mask" when none was given).

Beyond DAGAN, ``cascades=N > 0`` swaps the U-Net for a deep cascade with data consistency
INSIDE the network (Schlemper et al., IEEE TMI 2018, "DC-CNN"): N small CNNs, each adding a
residual to the complex image (real and imaginary parts as 2 channels) followed by hard
replacement of the measured k-space. Trained end to end with the same losses, it sees the mask
at every stage, so it needs one at inference (``mask=`` or ``mask_kind=``) and always returns a
data-consistent image. The benchmark in training/benchmarks/reconstruction.py shows the gain.
Real images: a magnitude image's k-space is conjugate-symmetric, so where a mask samples u but not
-u the sample at -u is known too (partial Fourier; the validation-tuned TV baseline's real-valued
iterate exploits the same). A cascade completes such a measurement (`conjugate_completion`); one
trained with ``real_fraction`` > 0 has seen such batches (no phase, completed) and projects every
stage onto real, non-negative images before re-imposing the measurement. At inference the
constraint is on when the k-space is simulated from the image (``simulate=True``) and, in
`im2im_core.mri.kspace.reconstruct_kspace`, when the measured k-space is conjugate-symmetric.
``ensemble=True`` (the default at inference, cascades only) averages the cascade's complex output
over orientations of the grid (`im2im_core.mri.fft.ORIENTATIONS`): each maps the measurement of
the image to that of the oriented image exactly, so every term, and the mean, is data-consistent
(geometric self-ensemble, as in EDSR+). All eight for a model trained on 2D masks; the four flips
for one trained on line masks, which a transpose would turn into lines it never saw. Four or eight
times the work; ``ensemble=False`` runs one pass.

Masks are image-size dependent and k-space is global: per-tile masks would be wrong, so this
family sets ``tileable = False`` and ``size_multiple() == 1`` (the U-Net's padding is internal).
Note the Translator's percentile window maps raw -> [-1, 1] affinely; an offset only changes the
DC coefficient, which every mask samples, so simulating in the normalised scale is consistent.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, InputError
from ..losses import GAN_MODES, GANLoss, feature_matching, frequency_mse, nmse, ssim
from ..mri import MASK_KINDS, as_complex, data_consistency as _dc, fft2c, ifft2c, make_mask, undersample
from ..mri.consistency import conjugate_completion
from ..mri.fft import ORIENTATIONS, orient, unorient
from ..mri.masks import LINE_KINDS
from ..mri.envelope import warn_outside
from ..nets import DiscriminatorConfig, GeneratorConfig, build_discriminator, build_generator
from ..tiling import pad_to_multiple
from .base import NESTED_SIZES, Im2ImModel, ModelConfig, check_choices, check_losses, register, require_blendable
from ._masks import coerce_mask

MASK_POLICIES = ("per_batch", "fixed")


@dataclass
class MRIReconConfig(ModelConfig):
    """DAGAN networks, loss weights and the training undersampling distribution."""
    SIZES: ClassVar[dict] = NESTED_SIZES

    #: old keys still read (with a DeprecationWarning): one name, lambda_gan, for every family
    RENAMED: ClassVar[dict] = {"adv_weight": "lambda_gan"}

    generator: GeneratorConfig = field(
        default_factory=lambda: GeneratorConfig(arch="unet", num_downs=8, ngf=64, norm="batch"))
    discriminator: DiscriminatorConfig = field(
        default_factory=lambda: DiscriminatorConfig(n_layers=3, ndf=64, norm="batch"))
    mask_kind: str = "gaussian2d"
    ratio: float = 0.3
    #: > ratio: each training step draws its sampling ratio uniformly from [ratio, ratio_max],
    #: so one model serves a range of accelerations
    ratio_max: float = 0.0
    mask_policy: str = "per_batch"
    mask_seed: int = 0
    #: largest amplitude (radians) of a random smooth phase put on each clean training image before
    #: it is undersampled: raw acquisitions are complex (0: train on real images, as DAGAN did)
    phase: float = 0.0
    #: fraction of training batches kept real-valued (no phase) and reconstructed with the cascade's
    #: real-image constraint: a magnitude image's k-space is conjugate-symmetric, which nearly doubles
    #: what a random mask measures; such a model uses the constraint whenever the image is known real
    real_fraction: float = 0.0
    gan_mode: str = "vanilla"
    lambda_gan: float = 0.1
    nmse_weight: float = 15.0
    freq_weight: float = 0.1
    fm_weight: float = 1.0
    #: weight of 1 - SSIM (scikit-image's definition, `losses.ssim`): it punishes the faint
    #: residue a pixel loss leaves on an empty background (fastMRI's models train on SSIM too)
    ssim_weight: float = 0.0
    #: > 0: a DC-CNN cascade of this many CNN + data-consistency stages instead of the U-Net
    cascades: int = 0
    cascade_depth: int = 5
    cascade_width: int = 32
    domains: tuple = ("zero-filled", "reconstruction")


class DCCascade(nn.Module):
    """N x (complex image += CNN([re, im]); re-impose the measured k-space)."""

    def __init__(self, n: int, depth: int, width: int):
        super().__init__()

        def block():
            layers = [nn.Conv2d(2, width, 3, padding=1), nn.LeakyReLU(0.1, inplace=True)]
            for _ in range(depth - 2):
                layers += [nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.1, inplace=True)]
            return nn.Sequential(*layers, nn.Conv2d(width, 2, 3, padding=1))

        self.blocks = nn.ModuleList(block() for _ in range(n))

    def forward(self, z: torch.Tensor, kspace: torch.Tensor, mask: torch.Tensor, real: bool = False) -> torch.Tensor:
        """z: complex zero-filled image (N, 1, H, W) on the [0, 1] scale; returns the complex recon.
        `real`: the image is known to be real and non-negative (a magnitude image), so each stage's
        estimate is projected onto such images before the measured k-space is re-imposed."""
        for blk in self.blocks:
            d = blk(torch.cat([z.real, z.imag], 1).to(blk[0].weight.dtype)).float()
            z = z + torch.complex(d[:, :1], d[:, 1:])
            if real:
                z = torch.complex(z.real.clamp(min=0), torch.zeros_like(z.real))
            z = _dc(z, kspace, mask)
        return z


def d_features(netD: nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """PatchGAN activations after each LeakyReLU, and the logits: feature matching needs both."""
    feats, h = [], x
    for layer in netD.model:
        h = layer(h)
        if isinstance(layer, nn.LeakyReLU):
            feats.append(h)
    return feats, h


def measure(x01: torch.Tensor, mask: torch.Tensor, simulate: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(measured k-space, zero-filled magnitude in [0, 1] scale) for an image in [0, 1]."""
    if simulate:
        return undersample(x01.float(), mask)
    k = fft2c(x01.float())
    return torch.where(mask, k, torch.zeros((), dtype=k.dtype, device=k.device)), x01.float()


def random_phase(shape, amplitude: float, device) -> torch.Tensor:
    """exp(i phi) per image: phi a random plane plus one random low-frequency wave, |phi| <= amplitude
    (torch's global generator, which the trainer reseeds every step)."""
    n, h, w = shape[0], shape[-2], shape[-1]
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h, device=device), torch.linspace(-1, 1, w, device=device),
                            indexing="ij")
    a = (torch.rand(n, 6, device=device) * 2 - 1)[:, :, None, None]
    wave = torch.sin(torch.pi * (a[:, 3] * 2 * xx + a[:, 4] * 2 * yy) + torch.pi * a[:, 5])
    phi = (a[:, 0] + a[:, 1] * xx + a[:, 2] * yy + wave) * (amplitude / 4)
    return torch.polar(torch.ones_like(phi), phi)[:, None]


def consistent_image(recon01: torch.Tensor, kspace: torch.Tensor, mask, lam=None) -> torch.Tensor:
    """Complex image whose k-space equals `kspace` at sampled points (hard DC) or is pulled towards it."""
    return _dc(as_complex(recon01.float()), kspace, mask, lam)


@register("mri_recon")
class MRIRecon(Im2ImModel):
    """Zero-filled -> reconstructed MRI magnitude image (single direction)."""
    paper: ClassVar[tuple] = (
        "Yang et al.: DAGAN: Deep De-Aliasing Generative Adversarial Networks for Fast Compressed "
        "Sensing MRI Reconstruction, IEEE TMI 2018",
        "https://doi.org/10.1109/TMI.2017.2785879")

    Config = MRIReconConfig
    generator_names = ("netG",)
    inference_options = frozenset({"mask", "mask_kind", "ratio", "seed", "data_consistency", "dc_lambda",
                                   "simulate", "return_zero_filled", "ensemble"})
    tileable = False
    two_domains = False

    def __init__(self, config: MRIReconConfig):
        super().__init__(config)
        self._check_config(config)
        if config.cascades > 0:
            self.netG = DCCascade(config.cascades, config.cascade_depth, config.cascade_width)
        else:
            self.netG = build_generator(config.generator, config.in_channels, config.out_channels)
        self.netD = build_discriminator(config.discriminator, config.out_channels)
        self.gan = GANLoss(config.gan_mode)

    @staticmethod
    def _check_config(c: MRIReconConfig) -> None:
        """Fail at build time, naming the field, rather than mid-training."""
        require_blendable("mri_recon", c, "refines its input")
        check_choices(c, mask_kind=MASK_KINDS, mask_policy=MASK_POLICIES)
        check_losses("mri_recon", c, ("lambda_gan", "nmse_weight", "freq_weight", "fm_weight", "ssim_weight"), GAN_MODES)
        if c.phase < 0:
            raise ConfigError(f"phase (training phase amplitude in radians) must be >= 0, got {c.phase}")
        if not 0 <= c.real_fraction <= 1 or (c.real_fraction and not c.cascades):
            raise ConfigError(f"real_fraction must be in [0, 1] and needs the DC cascade (cascades > 0), got "
                              f"{c.real_fraction} with cascades={c.cascades}")
        if not 0 < c.ratio <= 1:
            raise ConfigError(f"ratio (sampled fraction of k-space) must be in (0, 1], got {c.ratio}")
        if c.cascades < 0 or (c.cascades and (c.cascade_depth < 2 or c.cascade_width < 1)):
            raise ConfigError(f"cascades must be >= 0 with cascade_depth >= 2 and cascade_width >= 1, got "
                              f"{c.cascades}, {c.cascade_depth}, {c.cascade_width}")
        if c.cascades and c.in_channels != 1:
            raise ConfigError("the DC cascade reconstructs one complex coil image: in_channels must be 1")

    def directions(self):
        """Only zero-filled -> reconstruction exists; the inverse (undersampling) is physics, not learned."""
        return ["AtoB"]

    def size_multiple(self):
        """1: the U-Net pads internally, so user k-space masks always match the image."""
        return 1  # the U-Net's padding is internal, so k-space masks always match the image

    # ---- shared forward ----------------------------------------------------------------------
    @property
    def uses_real(self) -> bool:
        """Whether this model learned to project its stages onto real images (see `real_fraction`)."""
        return bool(self.config.cascades and self.config.real_fraction > 0)

    def reconstruct(self, zf: torch.Tensor, kspace: torch.Tensor | None = None, mask=None,
                    real: bool = False, ensemble: bool = False) -> torch.Tensor:
        """Residual refinement clip(zf + G(zf), -1, 1) for any H, W (padded inside for the U-Net);
        the cascade works from the measured k-space and mask instead, completed by conjugate symmetry
        when `real` (the image is known to be real), and projected onto real images when it learned to."""
        if self.config.cascades:
            if kspace is None:
                raise InputError("this mri_recon model is a data-consistency cascade and needs the sampling "
                                 "mask: pass mask=... or mask_kind=...")
            return (self.reconstruct_complex(kspace, mask, real, ensemble).abs() * 2 - 1).clamp(-1, 1)
        h, w = zf.shape[-2:]
        out = self.netG(pad_to_multiple(zf, self.config.generator.size_multiple()))[..., :h, :w]
        return (zf.float() + out.float()).clamp(-1, 1)

    def reconstruct_complex(self, kspace: torch.Tensor, mask: torch.Tensor, real: bool = False,
                            ensemble: bool = False) -> torch.Tensor:
        """The cascade's complex image (N, 1, H, W), phase and all, on the measured k-space's scale:
        raw k-space keeps the phase the cascade reconstructed rather than a low-resolution estimate.
        `ensemble`: the mean over `orientations` (see the module docstring)."""
        if not self.config.cascades:
            raise InputError("only a data-consistency cascade (cascades > 0) reconstructs a complex image")
        if real:  # physics, whatever the training: a real image's k-space is conjugate-symmetric
            kspace, mask = conjugate_completion(kspace, mask)
        kspace = kspace.to(torch.complex64)
        orientations = self.orientations if ensemble else ORIENTATIONS[:1]
        total = 0
        for o in orientations:
            k, m = orient(kspace, o), orient(mask, o)
            total = total + unorient(self.netG(ifft2c(k), k, m, real=real and self.uses_real), o)
        return total / len(orientations)

    @property
    def orientations(self) -> tuple:
        """The ensemble's orientations: all eight, or without transposes for line masks."""
        if self.config.mask_kind in LINE_KINDS:
            return tuple(o for o in ORIENTATIONS if not o[2])
        return ORIENTATIONS

    def sampling_mask(self, x: torch.Tensor, mask=None, mask_kind=None, ratio=None, seed=0) -> torch.Tensor | None:
        """The k-space mask for x as bool (1|N, 1, H, W): given, built from a kind, or None."""
        if mask is not None and mask_kind is not None:
            raise InputError("give either mask=... or mask_kind=..., not both")
        if mask is not None:
            if ratio is not None:
                raise InputError("ratio only applies with mask_kind=...; a given mask fixes its own ratio")
            return coerce_mask(mask, x)
        if mask_kind is None:
            if ratio is not None:
                raise InputError("ratio needs mask_kind=... (e.g. 'gaussian2d')")
            return None
        try:
            m = make_mask(mask_kind, tuple(x.shape[-2:]), ratio=self.config.ratio if ratio is None else ratio,
                          seed=0 if seed is None else int(seed))
        except ValueError as exc:
            raise InputError(str(exc)) from None
        return torch.from_numpy(m).to(x.device)[None, None]

    def inference_forward(self, x, direction, mask=None, mask_kind=None, ratio=None, seed=0,
                          data_consistency=False, dc_lambda=None, simulate=True, return_zero_filled=False,
                          ensemble=True):
        """Reconstruct x (see the module docstring for the option semantics)."""
        if dc_lambda is not None and (isinstance(dc_lambda, bool) or not isinstance(dc_lambda, numbers.Real)
                                      or not 0 <= dc_lambda < float("inf")):
            raise InputError(f"dc_lambda must be None (hard data consistency) or a number >= 0, got {dc_lambda!r}")
        if not isinstance(ensemble, bool):
            raise InputError(f"ensemble must be True or False, got {ensemble!r}")
        x = x.float()
        m = self.sampling_mask(x, mask, mask_kind, ratio, seed)
        if m is not None:
            warn_outside(self.config, m.detach().cpu().numpy().reshape(-1, *m.shape[-2:])[0])
        if m is None:
            if data_consistency:
                raise InputError("data_consistency=True needs the sampling mask: pass mask=... or mask_kind=...")
            zf01, kspace = (x + 1) / 2, None
        else:
            kspace, zf01 = measure((x + 1) / 2, m, simulate)
        zf = (zf01 * 2 - 1).clamp(-1, 1)
        # simulated from x, a magnitude image: real
        recon = self.reconstruct(zf, kspace, m, real=simulate, ensemble=ensemble)
        if data_consistency and not self.config.cascades:  # a cascade is consistent already
            c = consistent_image((recon + 1) / 2, kspace, m, dc_lambda)
            recon = (c.abs() * 2 - 1).clamp(-1, 1)
        if not return_zero_filled:
            return recon
        out = {"image": recon, "zero_filled": zf01.clamp(0, 1)}
        if m is not None:
            out["mask"] = m.float().expand(x.shape[0], 1, *x.shape[-2:])
        return out

    # ---- training ------------------------------------------------------------------------
    def train_mask(self, shape, step: int, device) -> torch.Tensor:
        """The training mask for this step: fresh per batch, or the fixed one (bool (1, 1, H, W))."""
        c = self.config
        seed = c.mask_seed
        if c.mask_policy == "per_batch":  # reproducible from (mask_seed, step), so resumed runs match
            seed = int(np.random.SeedSequence([c.mask_seed, step]).generate_state(1)[0])
        ratio = c.ratio
        if c.ratio_max > c.ratio:
            ratio = float(np.random.default_rng(seed).uniform(c.ratio, c.ratio_max))
        return torch.from_numpy(make_mask(c.mask_kind, tuple(shape), ratio=ratio, seed=seed)).to(device)[None, None]

    def real_step(self, step: int) -> bool:
        """Whether this step's batch stays real-valued (drawn from (mask_seed, step), so resumes match)."""
        if not self.uses_real:
            return False
        u = np.random.default_rng(np.random.SeedSequence([self.config.mask_seed, step, 1])).random()
        return bool(u < self.config.real_fraction)

    def degrade(self, clean: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
        """(zero-filled input in [-1, 1], mask, measured k-space, real-valued?) made from the clean
        batch on the fly."""
        m = self.train_mask(clean.shape[-2:], step, clean.device)
        x01 = (clean.float() + 1) / 2
        real = self.real_step(step)
        if self.config.phase > 0 and not real:
            x01 = x01 * random_phase(x01.shape, self.config.phase, x01.device)
        k, zf = undersample(x01, m)
        return (zf.abs() * 2 - 1).clamp(-1, 1), m, k, real

    def configure_optimizers(self, train_cfg):
        """Adam for G and D with the run's lr and betas (DAGAN used Adam, beta1 0.5)."""
        return {"G": self.adam(self.netG.parameters(), train_cfg),
                "D": self.adam(self.netD.parameters(), train_cfg)}

    def train_step(self, batch, step):
        """One D then one G update on a freshly undersampled batch."""
        c = self.config
        real = batch["A"].float()
        zf, m, k, is_real = self.degrade(real, step)
        fake = self.reconstruct(zf, k, m, real=is_real)
        self.set_requires_grad(self.netD, True)
        loss_d = 0.5 * (self.gan(self.netD(real), True) + self.gan(self.netD(fake.detach()), False))
        self.optimize("D", loss_d)
        self.set_requires_grad(self.netD, False)
        with torch.no_grad():
            feats_real, _ = d_features(self.netD, real)
        feats_fake, logits = d_features(self.netD, fake)
        adv = self.gan(logits, True, for_discriminator=False)
        l_nmse, l_freq = nmse(fake, real), frequency_mse(fake, real)
        l_fm = feature_matching(feats_fake, feats_real)
        loss_g = c.lambda_gan * adv + c.nmse_weight * l_nmse + c.freq_weight * l_freq + c.fm_weight * l_fm
        logs = {}
        if c.ssim_weight:
            l_ssim = 1 - ssim(fake, real)
            loss_g = loss_g + c.ssim_weight * l_ssim
            logs["G_ssim"] = l_ssim.item()
        self.optimize("G", loss_g)
        self.set_requires_grad(self.netD, True)
        return {"D": loss_d.item(), "G": loss_g.item(), "G_adv": adv.item(), "G_nmse": l_nmse.item(),
                "G_freq": l_freq.item(), "G_fm": l_fm.item(), **logs}

    @torch.no_grad()
    def visuals(self, batch):
        """Clean, zero-filled, reconstruction and mask panels for the training previews."""
        real = batch["A"].float()
        zf, m, k, is_real = self.degrade(real, 0)
        return {"clean": real, "zero_filled": zf, "reconstruction": self.reconstruct(zf, k, m, real=is_real),
                "mask": (m.float() * 2 - 1).expand(real.shape[0], 1, *real.shape[-2:])}


__all__ = ["DCCascade", "MRIRecon", "MRIReconConfig", "MASK_POLICIES", "consistent_image", "d_features", "measure"]
