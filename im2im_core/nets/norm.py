"""Normalisation layers, named as in pytorch-CycleGAN-and-pix2pix so imported weights line up.

`GlobalInstanceNorm2d` is an InstanceNorm2d that can normalise with statistics gathered over a
whole image instead of the current tile; the tiler uses it to make tiled inference seamless.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

NORMS = ("instance", "batch", "layer", "none")


class StopPass(Exception):
    """Raised by a collecting norm layer to end a statistics pass early (nothing after it is needed)."""


class GlobalInstanceNorm2d(nn.InstanceNorm2d):
    """InstanceNorm2d with optional fixed (whole-image) statistics and a statistics collector.

    State-dict compatible with nn.InstanceNorm2d (affine=False keeps no parameters).
    """

    def __init__(self, num_features: int, **kw):
        super().__init__(num_features, **kw)
        self.fixed_stats: tuple[torch.Tensor, torch.Tensor] | None = None
        self.collector: list | None = None  # [sum, sumsq, count] in float64 while collecting
        self.owned: tuple[float, float, float, float] | None = None  # fractions of the tile it owns
        self.stop_after_collect = False
        self.call_log: list | None = None  # the tiler records execution order here

    def tiler_hooks(self, x: torch.Tensor) -> None:
        """What every tile-aware norm does first: log its call order, collect statistics, and end a
        collecting pass here when asked (subclasses call this at the top of forward)."""
        if self.call_log is not None:
            self.call_log.append(self)
        if self.collector is not None:
            self._collect(x)
            if self.stop_after_collect:
                raise StopPass

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.tiler_hooks(x)
        if self.fixed_stats is None:
            if x.dim() != 4 or self.track_running_stats or torch.onnx.is_in_onnx_export() or torch.jit.is_tracing():
                return super().forward(x)  # exports: InstanceNormalization, whatever the batch
            # the same statistics without instance_norm's reshape, which copies a channels_last
            # input (6x slower): batch statistics of one image are its instance statistics
            if x.shape[0] == 1:
                return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
            return F.group_norm(x, x.shape[1], self.weight, self.bias, self.eps)
        mean, var = self.fixed_stats
        if x.dim() == 4:  # one fused pass, statistics kept in float32 for bf16 inputs
            f32 = torch.float32 if x.dtype in (torch.bfloat16, torch.float16) else x.dtype
            w, b = (None, None) if not self.affine else (self.weight.to(f32), self.bias.to(f32))
            return F.batch_norm(x, mean.to(x.device, f32), var.to(x.device, f32), w, b, False, 0.0, self.eps)
        shape = (1, -1, 1, 1)
        y = (x - mean.to(x.dtype).view(shape)) * torch.rsqrt(var.to(x.dtype).view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y

    def _collect(self, x: torch.Tensor) -> None:
        h, w = x.shape[-2:]
        fy0, fy1, fx0, fx1 = self.owned or (0.0, 1.0, 0.0, 1.0)
        region = x[..., round(fy0 * h): round(fy1 * h), round(fx0 * w): round(fx1 * w)].double()
        s = region.sum(dim=(0, 2, 3))
        ss = (region * region).sum(dim=(0, 2, 3))
        n = region.shape[0] * region.shape[2] * region.shape[3]
        if not self.collector:
            self.collector[:] = [s, ss, n]
        else:
            self.collector[0] += s
            self.collector[1] += ss
            self.collector[2] += n


class GlobalLayerNorm2d(GlobalInstanceNorm2d):
    """Layer norm of each sample over (C, H, W) with a per-channel affine (MUNIT's decoder norm).

    A `GlobalInstanceNorm2d`, so the tiler gathers its statistics like an instance norm's: the
    whole-image layer statistics follow from the per-channel ones (every channel has the same
    pixel count: mean = mean_c(mean_c), E[x^2] = mean_c(var_c + mean_c^2)). Statistics are
    computed in float32 even for bf16 inputs.
    """

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__(num_features, eps=eps, affine=True, track_running_stats=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.tiler_hooks(x)
        xf = x.float()
        if self.fixed_stats is None:
            mean = xf.mean(dim=(1, 2, 3), keepdim=True)
            var = xf.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
        else:
            m, v = (t.float() for t in self.fixed_stats)
            mean = m.mean()
            var = ((v + m * m).mean() - mean * mean).clamp_min(0)
        y = (xf - mean) * torch.rsqrt(var + self.eps)
        shape = (1, -1, 1, 1)
        return (y * self.weight.float().view(shape) + self.bias.float().view(shape)).to(x.dtype)


class MUNITLayerNorm2d(GlobalLayerNorm2d):
    """The official MUNIT/UNIT LayerNorm: (x - mean) / (std + eps) with the *unbiased* std over
    (C, H, W), not rsqrt(var + eps). With whole-image statistics from the tiler the std is the
    biased one (the pixel count is not kept; over a tiled image n / (n - 1) is 1 to float precision)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.tiler_hooks(x)
        xf = x.float()
        if self.fixed_stats is None:
            mean = xf.mean(dim=(1, 2, 3), keepdim=True)
            std = xf.flatten(1).std(dim=1).view(-1, 1, 1, 1)
        else:
            m, v = (t.float() for t in self.fixed_stats)
            mean = m.mean()
            std = ((v + m * m).mean() - mean * mean).clamp_min(0).sqrt()
        y = (xf - mean) / (std + self.eps)
        shape = (1, -1, 1, 1)
        return (y * self.weight.float().view(shape) + self.bias.float().view(shape)).to(x.dtype)


def norm_layer(kind: str, channels: int) -> nn.Module:
    """The norm module for `kind`: instance (no affine, no running stats), batch (affine), layer
    (over C, H, W per sample, per-channel affine), munit_layer (the official MUNIT one) or none."""
    if kind == "layer":
        return GlobalLayerNorm2d(channels)
    if kind == "munit_layer":
        return MUNITLayerNorm2d(channels)
    if kind == "instance":
        return GlobalInstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"norm {kind!r} unknown; use one of {NORMS}")


def conv_bias(kind: str) -> bool:
    """Convs feeding a norm carry a bias only with instance norm (the junyanz convention)."""
    if kind not in NORMS:
        raise ConfigError(f"norm {kind!r} unknown; use one of {NORMS}")
    return kind == "instance"
