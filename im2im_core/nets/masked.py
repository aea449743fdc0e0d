"""A noise-driven generator that also predicts where to change its input (Council-GAN, ACL-GAN).

A MUNIT content encoder and AdaIN decoder (the noise z sets the AdaIN parameters) whose decoder
has one channel more than the image: after its tanh, that channel t becomes the mask
m = (t + 1) / 2 (ACL-GAN), or m = (tanh(sharpness * t) + 1) / 2 with a sharpness > 0 (Council-GAN: 10), and the output is m * G(x, z) + (1 - m) * base, where base is
the input itself or, for a translation between contrasts, a fixed intensity mapping of it.
With `residual=True` (used with such a mapping) the image channels are a correction instead:
the output is base + m * G(x, z), and the decoder's last layer starts at zero, so an untrained
generator returns the base exactly.
"""
from __future__ import annotations

import torch
from torch import nn

from .encoders import ConvEncoder, StyleDecoder
from .init import kaiming_init
from .prior import zero_last_conv


class MaskedStyleGenerator(nn.Module):
    def __init__(self, channels: int, dim: int = 32, n_down: int = 2, n_res: int = 4, style_dim: int = 8,
                 mlp_dim: int = 128, sharpness: float = 0.0, residual: bool = False, pad_type: str = "reflect"):
        super().__init__()
        self.style_dim, self.sharpness, self.residual = style_dim, float(sharpness), bool(residual)
        self.enc = ConvEncoder(channels, dim, n_down, n_res, "instance", "relu", pad_type)
        self.dec = StyleDecoder(self.enc.out_channels, channels + 1, n_down, n_res, style_dim, mlp_dim, "layer",
                                "relu", pad_type)
        kaiming_init(self)
        if self.residual:
            zero_last_conv(self.dec)

    def raw(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(generated image before blending, mask in [0, 1])."""
        out = self.dec(self.enc(x), z.to(device=x.device).expand(x.shape[0], -1))
        t = out[:, -1:]
        mask = ((torch.tanh(self.sharpness * t) if self.sharpness > 0 else t) + 1) * 0.5
        return out[:, :-1], mask

    def forward(self, x: torch.Tensor, z: torch.Tensor, base: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(m * G(x, z) + (1 - m) * base, m), or (base + m * G(x, z), m) when residual; base defaults to x."""
        y, m = self.raw(x, z)
        base = x if base is None else base
        return (base + m * y if self.residual else base + m * (y - base)), m


def mask_binary(m: torch.Tensor, center: float = 0.5, eps: float = 0.01) -> torch.Tensor:
    """mean 1 / (|m - center| + eps): smallest when every mask value is 0 or 1."""
    return (1.0 / ((m.float() - center).abs() + eps)).mean()


def mask_tv(m: torch.Tensor) -> torch.Tensor:
    """Total variation of the mask per element."""
    m = m.float()
    return ((m[..., 1:, :] - m[..., :-1, :]).abs().sum() + (m[..., 1:] - m[..., :-1]).abs().sum()) / m.numel()


def mask_outside(m: torch.Tensor, low: float, high: float, where: torch.Tensor | None = None) -> torch.Tensor:
    """How far the mean mask lies outside [low, high], squared, times the number of mask elements
    (ACL-GAN's size term, which therefore grows with batch and image size). With `where` (a bool
    tensor like m), the mean and the count are taken over those elements only."""
    if where is None:
        mean, count = m.float().mean(), m.numel()
    else:
        w = where.to(torch.float32).expand_as(m)
        count = w.sum().clamp_min(1.0)
        mean = (m.float() * w).sum() / count
    return count * (torch.relu(mean - high) ** 2 + torch.relu(low - mean) ** 2)


__all__ = ["MaskedStyleGenerator", "mask_binary", "mask_outside", "mask_tv"]
