"""Losses shared by the families: GAN variants, KL, cycle, frequency and feature matching."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

GAN_MODES = ("vanilla", "lsgan", "wgangp", "hinge")


class GANLoss(nn.Module):
    """Adversarial loss on (patch) logits. `for_discriminator` matters only for hinge."""

    def __init__(self, mode: str = "lsgan"):
        super().__init__()
        if mode not in GAN_MODES:
            raise ConfigError(f"gan mode {mode!r} unknown; use one of {GAN_MODES}")
        self.mode = mode

    def forward(self, pred: torch.Tensor, real: bool, for_discriminator: bool = True) -> torch.Tensor:
        pred = pred.float()
        if self.mode == "lsgan":
            return F.mse_loss(pred, torch.full_like(pred, 1.0 if real else 0.0))
        if self.mode == "vanilla":
            return F.binary_cross_entropy_with_logits(pred, torch.full_like(pred, 1.0 if real else 0.0))
        if self.mode == "wgangp":
            return -pred.mean() if real else pred.mean()
        if for_discriminator:  # hinge
            return F.relu(1.0 - pred).mean() if real else F.relu(1.0 + pred).mean()
        return -pred.mean()


def multiscale_gan(gan: GANLoss, preds: list, real: bool, for_discriminator: bool = True) -> torch.Tensor:
    """A GAN loss summed over a multi-scale discriminator's outputs (Council-GAN's and ACL-GAN's
    reference code sum; MUNIT's averages)."""
    return sum(gan(p, real, for_discriminator) for p in preds)


def gradient_penalty(netD: nn.Module, real: torch.Tensor, fake: torch.Tensor, weight: float = 10.0,
                     output_index: int | None = None) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): (||grad D(x_hat)|| - 1)^2 on random interpolates."""
    alpha = torch.rand(real.size(0), 1, 1, 1, device=real.device)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    out = netD(x_hat)
    if output_index is not None:
        out = out[output_index]
    grad, = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return weight * ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def kl_gaussian(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)), averaged over elements."""
    return 0.5 * torch.mean(mu.pow(2) + logvar.exp() - 1.0 - logvar)


def kl_unit_variance(mu: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, I) || N(0, I)) = 0.5 mean(mu^2), up to a constant: UNIT's fixed-variance latent."""
    return 0.5 * torch.mean(mu.pow(2))


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(a.float(), b.float())


def frequency_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE between centred orthonormal 2D spectra (DAGAN's frequency loss)."""
    from ..mri.fft import fft2c

    return (fft2c(pred.float()) - fft2c(target.float())).abs().pow(2).mean()


def nmse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Normalised MSE: ||pred - target||^2 / ||target||^2."""
    return (pred.float() - target.float()).pow(2).sum() / target.float().pow(2).sum().clamp_min(1e-8)


def feature_matching(feats_fake: list[torch.Tensor], feats_real: list[torch.Tensor]) -> torch.Tensor:
    """L1 between discriminator features of fake and real (pix2pixHD), a perceptual term that needs
    no ImageNet weights."""
    return sum(F.l1_loss(f.float(), r.detach().float()) for f, r in zip(feats_fake, feats_real)) / max(1, len(feats_real))


def ssim(pred: torch.Tensor, target: torch.Tensor, win: int = 7) -> torch.Tensor:
    """Mean SSIM of images in [-1, 1], as scikit-image computes it on their [0, 1] versions with
    data_range=1 (uniform win x win window, sample covariance, K1 0.01, K2 0.03, the map's border
    of (win - 1) / 2 left out). Differentiable. SSIM is not shift-invariant, hence the mapping."""
    p, t = (pred.float() + 1) / 2, (target.float() + 1) / 2
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mean = lambda v: F.avg_pool2d(v, win, stride=1)  # noqa: E731
    mp, mt = mean(p), mean(t)
    norm = win * win / (win * win - 1)
    vp, vt, cov = (mean(p * p) - mp * mp) * norm, (mean(t * t) - mt * mt) * norm, (mean(p * t) - mp * mt) * norm
    s = ((2 * mp * mt + c1) * (2 * cov + c2)) / ((mp * mp + mt * mt + c1) * (vp + vt + c2))
    return s.mean()


__all__ = ["GANLoss", "GAN_MODES", "gradient_penalty", "ssim", "kl_gaussian", "kl_unit_variance", "l1", "frequency_mse",
           "nmse", "feature_matching"]
