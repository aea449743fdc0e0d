"""A generator that learns a correction to a fixed intensity mapping instead of the whole image.

Unpaired translation between MR contrasts is mostly a change of each tissue's intensity, which
the quantile mapping of one domain's foreground histogram onto the other's (inverted first where
the contrast flips) already gets close to. `PriorResidual` computes that mapping from the two
domains' training pixels (unpaired) and lets the wrapped generator add a residual, starting from
zero, so that training begins where the classical baseline ends.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError

PRIORS = ("none", "match", "invert")
KNOTS = 257
#: pixels at or below this value (on the [-1, 1] scale) are background and stay background
BACKGROUND = -1.0 + 1e-3
#: above the background the mapping fades in over this width (2% of the range): an inverted
#: mapping sends the darkest foreground to the brightest target, and without the ramp a generator's
#: faint background noise would come back from the other generator as bright speckle
RAMP = 0.04
#: samples of q on [-1, 1] in ONNX exports (see _table_map)
TABLE = 16385


def _exact_map(x: torch.Tensor, src: torch.Tensor, dst: torch.Tensor, invert: bool) -> torch.Tensor:
    """q(x) for the knots (src, dst), piecewise linear, faded in from the background (-1)."""
    v = -x if invert else x
    src = src.to(torch.float32)
    # strictly increasing knots (ties in a quantized histogram) keep the interpolation defined
    src = src + torch.arange(KNOTS, device=src.device, dtype=src.dtype) * 1e-6
    xf = v.float().clamp(src[0], src[-1])
    i = torch.searchsorted(src, xf.reshape(-1).contiguous()).clamp(1, KNOTS - 1).reshape(xf.shape)
    x0, x1, y0, y1 = src[i - 1], src[i], dst[i - 1].float(), dst[i].float()
    y = y0 + (xf - x0) / (x1 - x0) * (y1 - y0)
    fade = ((x.float() + 1.0) / RAMP).clamp(0.0, 1.0)
    return (-1.0 + fade * (y + 1.0)).to(x.dtype)


def _table_map(x: torch.Tensor, src: torch.Tensor, dst: torch.Tensor, invert: bool) -> torch.Tensor:
    """q(x) read from the exact curve sampled at TABLE evenly spaced inputs on [-1, 1] and
    interpolated linearly: gathers and arithmetic only (ONNX has no searchsorted). The table is
    a constant of the exported graph. Where tied quantiles make q jump, one table step blurs the
    jump: about 0.005 at most on [-1, 1] for the shipped models (under one 8-bit grey level)."""
    grid = torch.linspace(-1.0, 1.0, TABLE)
    table = torch.tensor(_exact_map(grid, src.detach().cpu(), dst.detach().cpu(), invert).tolist())
    pos = ((x.float() + 1.0) * ((TABLE - 1) / 2.0)).clamp(0.0, TABLE - 1.001)
    i = pos.floor()
    w = pos - i
    i = i.long()
    return (table[i] * (1.0 - w) + table[i + 1] * w).to(x.dtype)


@torch.fx.wrap
def quantile_map(x: torch.Tensor, src: torch.Tensor, dst: torch.Tensor, invert: bool) -> torch.Tensor:
    """q(x) for the knots (src, dst), piecewise linear, faded in from the background (-1). One
    function (wrapped for torch.fx), so traced graphs see it as the pointwise op it is."""
    if torch.onnx.is_in_onnx_export():
        return _table_map(x, src, dst, invert)
    return _exact_map(x, src, dst, invert)


quantile_map.stream_pointwise = True  # im2im_core.stream evaluates it strip by strip


class QuantileMap(nn.Module):
    """The fixed mapping q: foreground quantiles of domain X onto those of Y, faded in from the
    background. Buffers only: `fit` sets it, a checkpoint restores it."""

    stream_pointwise = True

    def __init__(self, invert: bool):
        super().__init__()
        self.invert = invert
        self.register_buffer("src", torch.linspace(-1, 1, KNOTS))
        self.register_buffer("dst", torch.linspace(-1, 1, KNOTS).flip(0) if invert else torch.linspace(-1, 1, KNOTS))

    @torch.no_grad()
    def fit(self, x_pixels: torch.Tensor, y_pixels: torch.Tensor) -> None:
        """Quantiles of the foreground pixels of each domain (1D tensors on the [-1, 1] scale)."""
        q = torch.linspace(0, 1, KNOTS, dtype=torch.float64)
        xs, ys = (p[p > BACKGROUND].double() for p in (x_pixels, y_pixels))
        if xs.numel() < KNOTS or ys.numel() < KNOTS:
            raise ConfigError("generator.prior needs foreground pixels in both domains; the training images are "
                              "all background")
        src = torch.quantile(xs[torch.randperm(xs.numel())[:1 << 24]], q)
        if self.invert:  # invert x first: its brightest pixels map onto y's darkest
            src = -src.flip(0)
        self.src.copy_(src.float())
        self.dst.copy_(torch.quantile(ys[torch.randperm(ys.numel())[:1 << 24]], q).float())

    def mapping(self, x: torch.Tensor) -> torch.Tensor:
        """The fixed mapping q(x), piecewise linear between the knots, faded in from the background (-1)."""
        return quantile_map(x, self.src, self.dst, self.invert)

    def forward(self, x):
        return self.mapping(x)


def check_prior(family: str, prior: str, lambda_prior: float = 0.0) -> None:
    """The config checks every family with an intensity prior shares."""
    if prior not in PRIORS:
        raise ConfigError(f"{family}: intensity_prior {prior!r} unknown; use one of {', '.join(PRIORS)}")
    if lambda_prior < 0 or (lambda_prior > 0 and prior == "none"):
        raise ConfigError(f"{family}: lambda_prior must be >= 0 and needs intensity_prior 'match' or 'invert'")


def zero_last_conv(net: nn.Module) -> nn.Module:
    """Zero the last convolution of `net`, so a residual branch starts at zero."""
    last = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))][-1]
    nn.init.zeros_(last.weight)
    if last.bias is not None:
        nn.init.zeros_(last.bias)
    return net


class PriorResidual(QuantileMap):
    """y = q(x) + net(x), where q maps foreground quantiles of domain X onto those of Y."""

    stream_pointwise = False  # it holds a network

    def __init__(self, net: nn.Module, invert: bool):
        super().__init__(invert)
        self.net = zero_last_conv(net)  # the residual starts at zero: the model starts as the mapping

    def forward(self, x):
        return self.mapping(x) + self.net(x)


def with_prior(net: nn.Module, prior: str) -> nn.Module:
    """`net` itself for prior "none", else wrapped in a PriorResidual."""
    if prior not in PRIORS:
        raise ConfigError(f"generator.prior {prior!r} unknown; use one of {', '.join(PRIORS)}")
    return net if prior == "none" else PriorResidual(net, invert=prior == "invert")


def fit_priors(model: nn.Module, dataset, pairs, samples: int = 64, seed: int = 0) -> None:
    """Fit each (attribute name, source key, target key) QuantileMap (a PriorResidual included) on
    the dataset's pixels: all of them, un-augmented, where the dataset offers `pixels(key)`, else
    those of `samples` items. Attributes that are not QuantileMaps are skipped."""
    wrapped = [(getattr(model, n, None), a, b) for n, a, b in pairs]
    wrapped = [(m, a, b) for m, a, b in wrapped if isinstance(m, QuantileMap)]
    if not wrapped:
        return
    if hasattr(dataset, "pixels"):
        for net, a, b in wrapped:
            net.fit(dataset.pixels(a), dataset.pixels(b))
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        items = [dataset[i % len(dataset)] for i in torch.randperm(max(len(dataset), samples))[:samples].tolist()]
    pixels = {k: torch.cat([it[k].reshape(-1) for it in items]) for k in items[0] if torch.is_tensor(items[0][k])}
    for net, a, b in wrapped:
        net.fit(pixels[a], pixels[b])
