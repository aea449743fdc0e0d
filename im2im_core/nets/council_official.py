"""Onr/Council-GAN's generator (their AdaINGen with Decoder_V2_atten), for
`CouncilGANConfig(arch="official")`. Module names and order are theirs, so their keys load
unchanged (their AdaIN layers' dummy running buffers as kept_mean / kept_var).

How it differs from ours (nets/masked.py): every decoder conv is AdaIN-normalised (two 3x3 convs
per up-sampling level, no layer norm), two 1x1 convs follow, and the head renders `n_masks`
images plus `n_masks` masks, m_k = (tanh(10 t_k) + 1) / 2 of the tanh output t_k; the output is
the input blended with image k under mask k, in turn. The AdaIN parameters come from an MLP of
the style, (bias, weight) per AdaIN layer in module order, assigned before each decode as in
their code; the instance norms are tile-aware.
"""
from __future__ import annotations

import torch
from torch import nn

from .encoders import activation_layer, pad_layer
from .norm import GlobalInstanceNorm2d, norm_layer

PADS = {"zero": "zero", "reflect": "reflect", "replicate": "replicate"}


class AdaIN(GlobalInstanceNorm2d):
    """Instance norm times a per-sample weight plus bias set from outside (`weight_`, `bias_`: (N, C))."""

    def __init__(self, channels: int):
        super().__init__(channels, affine=False, track_running_stats=False)
        self.register_buffer("kept_mean", torch.zeros(channels))  # their dummy running_mean / _var,
        self.register_buffer("kept_var", torch.ones(channels))  # kept for the export
        self.weight_ = self.bias_ = None

    def forward(self, x):
        y = super().forward(x)
        return y * self.weight_[:, :, None, None].to(y.dtype) + self.bias_[:, :, None, None].to(y.dtype)


class Block(nn.Module):
    """Their Conv2dBlock: pad, conv, norm, activation (registered pad, norm, activation, conv)."""

    def __init__(self, cin, cout, k, s, p, norm="none", activ="relu", pad_type="zero"):
        super().__init__()
        self.pad = pad_layer(PADS[pad_type], p)
        self.norm = AdaIN(cout) if norm == "adain" else norm_layer("instance", cout) if norm == "in" else None
        self.activation = None if activ == "none" else activation_layer(activ)
        self.conv = nn.Conv2d(cin, cout, k, s)

    def forward(self, x):
        x = self.conv(self.pad(x))
        x = self.norm(x) if self.norm is not None else x
        return self.activation(x) if self.activation is not None else x


class ResBlock(nn.Module):
    def __init__(self, dim, norm, activ, pad_type):
        super().__init__()
        self.model = nn.Sequential(Block(dim, dim, 3, 1, 1, norm, activ, pad_type),
                                   Block(dim, dim, 3, 1, 1, norm, "none", pad_type))

    def forward(self, x):
        return x + self.model(x)


class ResBlocks(nn.Module):
    def __init__(self, n, dim, norm, activ, pad_type):
        super().__init__()
        self.model = nn.Sequential(*[ResBlock(dim, norm, activ, pad_type) for _ in range(n)])

    def forward(self, x):
        return self.model(x)


class LinearBlock(nn.Module):
    def __init__(self, cin, cout, activ):
        super().__init__()
        self.fc = nn.Linear(cin, cout)
        self.activation = None if activ == "none" else activation_layer(activ)

    def forward(self, x):
        x = self.fc(x)
        return self.activation(x) if self.activation is not None else x


class Seq(nn.Module):
    """A `model` Sequential, as their encoders, decoder and MLP hold their layers."""

    def __init__(self, *layers):
        super().__init__()
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class CouncilGenerator(nn.Module):
    """G(x, z) -> (blended image, mean mask); `base` replaces x as what unmasked pixels show."""

    def __init__(self, channels: int, dim: int = 64, n_down: int = 2, n_res: int = 4, style_dim: int = 8,
                 mlp_dim: int = 256, n_masks: int = 3, activ: str = "relu", pad_type: str = "zero"):
        super().__init__()
        self.channels, self.n_masks, self.style_dim = channels, n_masks, style_dim
        style, d = [Block(channels, dim, 7, 1, 3, "none", activ, pad_type)], dim
        for i in range(4):  # their style encoder always downsamples 4 times
            style.append(Block(d, 2 * d if i < 2 else d, 4, 2, 1, "none", activ, pad_type))
            d = 2 * d if i < 2 else d
        self.enc_style = Seq(*style, nn.AdaptiveAvgPool2d(1), nn.Conv2d(d, style_dim, 1, 1, 0))
        content, d = [Block(channels, dim, 7, 1, 3, "in", activ, pad_type)], dim
        for _ in range(n_down):
            content.append(Block(d, 2 * d, 4, 2, 1, "in", activ, pad_type))
            d *= 2
        self.enc_content = Seq(*content, ResBlocks(n_res, d, "in", activ, pad_type))
        dec = [ResBlocks(n_res, d, "adain", activ, pad_type)]
        for _ in range(n_down):
            dec += [nn.Upsample(scale_factor=2), Block(d, d // 2, 3, 1, 1, "adain", activ, pad_type),
                    Block(d // 2, d // 2, 3, 1, 1, "adain", activ, pad_type)]
            d //= 2
        dec += [Block(d, d, 1, 1, 0, "none", activ, pad_type), Block(d, d, 1, 1, 0, "none", activ, pad_type),
                Block(d, channels * n_masks + n_masks, 1, 1, 0, "none", "tanh", pad_type)]
        self.dec = Seq(*dec)
        self.adains = [m for m in self.dec.modules() if isinstance(m, AdaIN)]
        n_params = sum(2 * m.num_features for m in self.adains)
        self.mlp = Seq(LinearBlock(style_dim, mlp_dim, activ), LinearBlock(mlp_dim, mlp_dim, activ),
                       LinearBlock(mlp_dim, n_params, "none"))

    def decode(self, content: torch.Tensor, z: torch.Tensor, base: torch.Tensor):
        params, start = self.mlp(z.flatten(1).to(self.mlp.model[0].fc.weight.dtype)), 0
        for m in self.adains:
            c = m.num_features
            m.bias_, m.weight_ = params[:, start:start + c], params[:, start + c:start + 2 * c]
            start += 2 * c
        t = self.dec(content)
        masks = (torch.tanh(10 * t[:, -self.n_masks:]) + 1) / 2
        y = base
        for k in range(self.n_masks):
            m = masks[:, k:k + 1]
            y = (1 - m) * y + m * t[:, self.channels * k:self.channels * (k + 1)]
        return y, masks.mean(1, keepdim=True)

    def forward(self, x: torch.Tensor, z: torch.Tensor, base: torch.Tensor | None = None):
        return self.decode(self.enc_content(x), z.to(device=x.device).expand(x.shape[0], -1),
                           x if base is None else base)
