"""Ha0Tang/AttentionGAN's `ResnetGenerator_our` (netG "our"), as `GeneratorConfig(arch="attentiongan")`.

A ResNet encoder (c7s1, two 3x3 stride-2 convs, n_blocks residual blocks) feeds two decoders:
one renders `n_content` candidate images (tanh), the other `n_content + 1` attention maps
(softmax over the maps); the output is sum_k a_k * image_k + a_last * input. It differs from
our ResNet generator in the 3x3 (not 4x4 transposed / 4x4) resampling convs, which zero-pad, the
zero-padded 1x1 attention head and the blend; module names are theirs, so their keys load unchanged.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .norm import norm_layer
from .pad import ReflectionPad2d


class AttentionResnetBlock(nn.Module):
    """x + IN(conv3(pad(relu(IN(conv3(pad(x))))))), reflect padding (their resnet_block)."""

    def __init__(self, dim: int):
        super().__init__()
        self.pad = ReflectionPad2d(1)
        self.conv1, self.conv1_norm = nn.Conv2d(dim, dim, 3, 1, 0), norm_layer("instance", dim)
        self.conv2, self.conv2_norm = nn.Conv2d(dim, dim, 3, 1, 0), norm_layer("instance", dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv1_norm(self.conv1(self.pad(x))))
        return x + self.conv2_norm(self.conv2(self.pad(h)))


class AttentionResnetGenerator(nn.Module):
    """Content images and attention maps from one encoder; their softmax blend with the input."""

    def __init__(self, in_ch: int, out_ch: int, ngf: int = 64, n_blocks: int = 9, n_content: int = 9):
        super().__init__()
        self.out_ch, self.n_content = out_ch, n_content
        self.pad3 = ReflectionPad2d(3)
        self.conv1, self.conv1_norm = nn.Conv2d(in_ch, ngf, 7, 1, 0), norm_layer("instance", ngf)
        self.conv2, self.conv2_norm = nn.Conv2d(ngf, ngf * 2, 3, 2, 1), norm_layer("instance", ngf * 2)
        self.conv3, self.conv3_norm = nn.Conv2d(ngf * 2, ngf * 4, 3, 2, 1), norm_layer("instance", ngf * 4)
        self.resnet_blocks = nn.Sequential(*[AttentionResnetBlock(ngf * 4) for _ in range(n_blocks)])
        for kind, last in (("content", nn.Conv2d(ngf, n_content * out_ch, 7, 1, 0)),
                           ("attention", nn.Conv2d(ngf, n_content + 1, 1, 1, 0))):
            setattr(self, f"deconv1_{kind}", nn.ConvTranspose2d(ngf * 4, ngf * 2, 3, 2, 1, 1))
            setattr(self, f"deconv1_norm_{kind}", norm_layer("instance", ngf * 2))
            setattr(self, f"deconv2_{kind}", nn.ConvTranspose2d(ngf * 2, ngf, 3, 2, 1, 1))
            setattr(self, f"deconv2_norm_{kind}", norm_layer("instance", ngf))
            setattr(self, f"deconv3_{kind}", last)

    def _decode(self, x: torch.Tensor, kind: str) -> torch.Tensor:
        x = F.relu(getattr(self, f"deconv1_norm_{kind}")(getattr(self, f"deconv1_{kind}")(x)))
        return F.relu(getattr(self, f"deconv2_norm_{kind}")(getattr(self, f"deconv2_{kind}")(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv1_norm(self.conv1(self.pad3(x))))
        h = F.relu(self.conv2_norm(self.conv2(h)))
        h = self.resnet_blocks(F.relu(self.conv3_norm(self.conv3(h))))
        images = torch.tanh(self.deconv3_content(self.pad3(self._decode(h, "content"))))
        return attention_blend(images, self.deconv3_attention(self._decode(h, "attention")), x, self.n_content)


def attention_blend(images: torch.Tensor, logits: torch.Tensor, x: torch.Tensor, n_content: int) -> torch.Tensor:
    """sum_k softmax(logits)_k * image_k + softmax(logits)_last * x, summed in their order. Pixel by
    pixel, so the tiled executor (stream.py) runs it as one pointwise step."""
    attention = torch.softmax(logits, dim=1)
    c = images.shape[1] // n_content
    out = images[:, :c] * attention[:, :1]
    for k in range(1, n_content):
        out = out + images[:, k * c:(k + 1) * c] * attention[:, k:k + 1]
    return out + x * attention[:, n_content:]


attention_blend.stream_pointwise = True
torch.fx.wrap("attention_blend")
