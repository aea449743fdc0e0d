"""The DeepFill v2 generator of nipponjo/deepfillv2-pytorch (the official TF weights converted),
for `InpaintConfig(arch="official")`: a coarse gated-conv network, then a refinement network with
a gated-conv branch and a contextual-attention branch. Attribute names are theirs, so their keys
load unchanged. How it differs from our `GatedGenerator` (nets/gated.py): two stages; the input
is [image with holes zeroed, ones, mask] (5 channels for RGB); the second stage's attention
branch copies features from known regions by patch similarity (`contextual_attention`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GConv(nn.Module):
    """Gated conv: act(a) * sigmoid(g) with (a, g) the halves of one conv; plain conv when not gated."""

    def __init__(self, cin, cout, ksize, stride=1, padding="auto", rate=1, activation="elu", gated=True):
        super().__init__()
        padding = rate * (ksize - 1) // 2 if padding == "auto" else padding
        self.cout, self.gated = cout, gated
        self.activation = {"elu": nn.ELU(), "relu": nn.ReLU(), None: None}[activation]
        self.conv = nn.Conv2d(cin, 2 * cout if gated else cout, ksize, stride, padding, dilation=rate)

    def forward(self, x):
        x = self.conv(x)
        if not self.gated:
            return x
        x, g = torch.split(x, self.cout, dim=1)
        return self.activation(x) * torch.sigmoid(g)


class GDeConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = GConv(cin, cout, 3, 1, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest", recompute_scale_factor=False))


class GDown(nn.Module):
    def __init__(self, cin, cout, hidden=None):
        super().__init__()
        hidden = cout if hidden is None else hidden
        self.conv1_downsample = GConv(cin, hidden, 3, 2)
        self.conv2 = GConv(hidden, cout, 3, 1)

    def forward(self, x):
        return self.conv2(self.conv1_downsample(x))


class GUp(nn.Module):
    def __init__(self, cin, cout, hidden=None):
        super().__init__()
        hidden = cout if hidden is None else hidden
        self.conv1_upsample = GDeConv(cin, hidden)
        self.conv2 = GConv(hidden, cout, 3, 1)

    def forward(self, x):
        return self.conv2(self.conv1_upsample(x))


def _patches(x, k, stride, n):
    """(N, L, C, k, k) patches of x, padded by (k - 1) // 2 ('auto' padding at dilation 1)."""
    c = x.shape[1]
    return F.unfold(x, k, padding=(k - 1) // 2, stride=stride).view(x.shape[0], c, k, k, n).permute(0, 4, 1, 2, 3)


def contextual_attention(f, b, mask, fuse_weight, ksize=3, rate=2, scale=10.0, n_down=2):
    """Yu et al.'s contextual attention with their defaults: each foreground location at 1/rate
    resolution attends (cosine similarity of 3x3 patches, fused along both diagonals, softmax *
    scale) to background patches outside the holes, and the output pastes the attended 2*rate
    patches of b back by a transposed conv. Only the first image's mask marks the holes, as theirs."""
    n, c = f.shape[:2]
    kernel = 2 * rate
    fs = F.interpolate(f, scale_factor=1.0 / rate, mode="nearest", recompute_scale_factor=False)
    bs = F.interpolate(b, scale_factor=1.0 / rate, mode="nearest", recompute_scale_factor=False)
    hb, wb = bs.shape[-2:]
    hf, wf = fs.shape[-2:]
    n_patches = hb * wb
    raw_w = _patches(b, kernel, rate, n_patches)
    w = _patches(bs, ksize, 1, n_patches)
    m = F.interpolate(mask, scale_factor=1.0 / (2 ** n_down * rate), mode="nearest", recompute_scale_factor=False)
    m = _patches(m, ksize, 1, n_patches)[0]
    mm = (m.mean(dim=(1, 2, 3), keepdim=True) == 0.0).to(f.dtype).permute(1, 0, 2, 3)
    out = []
    for i in range(n):
        wi = w[i]
        wi = wi / wi.square().sum(dim=(1, 2, 3), keepdim=True).sqrt().clamp_min(1e-4)
        y = F.conv2d(fs[i:i + 1], wi, padding=(ksize - 1) // 2)
        y = F.conv2d(y.view(1, 1, n_patches, hf * wf), fuse_weight, padding=1)
        y = y.view(1, hb, wb, hf, wf).permute(0, 2, 1, 4, 3).reshape(1, 1, n_patches, hf * wf)
        y = F.conv2d(y, fuse_weight, padding=1)
        y = y.view(1, wb, hb, wf, hf).permute(0, 2, 1, 4, 3).reshape(1, n_patches, hf, wf)
        y = F.softmax(y * mm * scale, dim=1) * mm
        out.append(F.conv_transpose2d(y, raw_w[i], stride=rate, padding=1) / 4.0)
    return torch.cat(out).view(f.shape)


class ContextualAttention(nn.Module):
    def __init__(self, fuse_k: int = 3):
        super().__init__()
        self.register_buffer("fuse_weight", torch.eye(fuse_k).view(1, 1, fuse_k, fuse_k))

    def forward(self, f, b, mask):
        return contextual_attention(f, b, mask, self.fuse_weight)


def _bottleneck(obj, prefix: str, cnum: int, rates=(1, 2, 4, 8, 16)):
    for k, r in enumerate(rates, 1):
        setattr(obj, f"{prefix}{k}", GConv(2 * cnum, 2 * cnum, 3, rate=r, padding=r))


class CoarseGenerator(nn.Module):
    def __init__(self, cin, cout, cnum):
        super().__init__()
        self.conv1 = GConv(cin, cnum // 2, 5, 1, padding=2)
        self.down_block1 = GDown(cnum // 2, cnum)
        self.down_block2 = GDown(cnum, 2 * cnum)
        _bottleneck(self, "conv_bn", cnum)
        self.conv_bn6 = GConv(2 * cnum, 2 * cnum, 3)
        self.conv_bn7 = GConv(2 * cnum, 2 * cnum, 3)
        self.up_block1 = GUp(2 * cnum, cnum)
        self.up_block2 = GUp(cnum, cnum // 4, cnum // 2)
        self.conv_to_rgb = GConv(cnum // 4, cout, 3, activation=None, gated=False)

    def forward(self, x):
        x = self.down_block2(self.down_block1(self.conv1(x)))
        for k in range(1, 8):
            x = getattr(self, f"conv_bn{k}")(x)
        return torch.tanh(self.conv_to_rgb(self.up_block2(self.up_block1(x))))


class FineGenerator(nn.Module):
    def __init__(self, cin, cout, cnum):
        super().__init__()
        self.conv_conv1 = GConv(cin, cnum // 2, 5, 1, padding=2)
        self.conv_down_block1 = GDown(cnum // 2, cnum, cnum // 2)
        self.conv_down_block2 = GDown(cnum, 2 * cnum, cnum)
        _bottleneck(self, "conv_conv_bn", cnum)
        self.ca_conv1 = GConv(cin, cnum // 2, 5, 1, padding=2)
        self.ca_down_block1 = GDown(cnum // 2, cnum, cnum // 2)
        self.ca_down_block2 = GDown(cnum, 2 * cnum)
        self.ca_conv_bn1 = GConv(2 * cnum, 2 * cnum, 3, 1, activation="relu")
        self.contextual_attention = ContextualAttention()
        self.ca_conv_bn4 = GConv(2 * cnum, 2 * cnum, 3)
        self.ca_conv_bn5 = GConv(2 * cnum, 2 * cnum, 3)
        self.conv_bn6 = GConv(4 * cnum, 2 * cnum, 3)
        self.conv_bn7 = GConv(2 * cnum, 2 * cnum, 3)
        self.up_block1 = GUp(2 * cnum, cnum)
        self.up_block2 = GUp(cnum, cnum // 4, cnum // 2)
        self.conv_to_rgb = GConv(cnum // 4, cout, 3, activation=None, gated=False)

    def forward(self, x, mask):
        h = self.conv_down_block2(self.conv_down_block1(self.conv_conv1(x)))
        for k in range(1, 6):
            h = getattr(self, f"conv_conv_bn{k}")(h)
        a = self.ca_conv_bn1(self.ca_down_block2(self.ca_down_block1(self.ca_conv1(x))))
        a = self.ca_conv_bn5(self.ca_conv_bn4(self.contextual_attention(a, a, mask)))
        y = self.conv_bn7(self.conv_bn6(torch.cat([h, a], 1)))
        return torch.tanh(self.conv_to_rgb(self.up_block2(self.up_block1(y))))


class DeepFillGenerator(nn.Module):
    """stage1 (coarse) then stage2 (refinement) on the coarse result pasted into the holes."""

    def __init__(self, cnum_in: int = 5, cnum_out: int = 3, cnum: int = 48):
        super().__init__()
        self.cnum_in = cnum_in
        self.stage1 = CoarseGenerator(cnum_in, cnum_out, cnum)
        self.stage2 = FineGenerator(cnum_out, cnum_out, cnum)

    def size_multiple(self) -> int:
        return 8

    def forward(self, x, mask):
        """x: [image with holes zeroed, ones, mask]; mask (N, 1, H, W), 1 = hole. Returns stage 2."""
        coarse = self.stage1(x)
        return self.stage2(coarse * mask + x[:, :self.cnum_in - 2] * (1.0 - mask), mask)
