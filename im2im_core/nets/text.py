"""Text and image encoders into one joint embedding space (a small visual-semantic embedding).

`TextEncoder`: word embedding, then a GRU whose last valid hidden state is projected ("gru"), or
the mean of the word embeddings projected ("bow", the bag-of-words ablation). `ImageEmbedder`: a
strided conv stack with global average pooling. Both return L2-normalised (N, dim) vectors.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..errors import ConfigError

TEXT_ENCODERS = ("gru", "bow")


class TextEncoder(nn.Module):
    def __init__(self, vocab_size: int, dim: int = 128, word_dim: int = 64, kind: str = "gru"):
        super().__init__()
        if kind not in TEXT_ENCODERS:
            raise ConfigError(f"text encoder {kind!r} unknown; use one of {TEXT_ENCODERS}")
        self.kind = kind
        self.words = nn.Embedding(vocab_size, word_dim, padding_idx=0)
        self.gru = nn.GRU(word_dim, dim, batch_first=True) if kind == "gru" else None
        self.proj = nn.Linear(dim if kind == "gru" else word_dim, dim)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """ids (N, L) int64 padded with 0, lengths (N,) -> (N, dim) unit vectors."""
        e = self.words(ids)
        if self.gru is None:
            h = e.sum(1) / lengths.clamp_min(1)[:, None].to(e.dtype)
        else:
            packed = nn.utils.rnn.pack_padded_sequence(e, lengths.cpu(), batch_first=True, enforce_sorted=False)
            h = self.gru(packed)[1][0]
        return F.normalize(self.proj(h), dim=1)


class ImageEmbedder(nn.Module):
    def __init__(self, in_channels: int = 3, dim: int = 128, nf: int = 32, n_down: int = 4):
        super().__init__()
        layers, ch = [], in_channels
        for i in range(n_down):
            out = nf * 2 ** min(i, 3)
            layers += [nn.Conv2d(ch, out, 4, 2, 1), nn.BatchNorm2d(out), nn.LeakyReLU(0.2, True)]
            ch = out
        self.body = nn.Sequential(*layers)
        self.proj = nn.Linear(ch, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W) in [-1, 1] -> (N, dim) unit vectors."""
        return F.normalize(self.proj(self.body(x).mean((2, 3))), dim=1)


class JointEmbedding(nn.Module):
    """The pair trained together with `im2im_core.text.fit_embedding`."""

    def __init__(self, vocab_size: int, in_channels: int = 3, dim: int = 128, kind: str = "gru", nf: int = 32):
        super().__init__()
        self.text = TextEncoder(vocab_size, dim, kind=kind)
        self.image = ImageEmbedder(in_channels, dim, nf)


class TextConditionedDiscriminator(nn.Module):
    """Matching-aware critic (GAN-CLS, SisGAN): strided convs down to 4x4, the text embedding
    compressed and tiled there, then a 1x1 and a 4x4 conv to one logit per image.

    `spectral=True` swaps the references' batch norm for spectral normalisation of every layer
    (Miyato et al. 2018), which keeps D from overpowering G on small, clean datasets.
    `projection=True` adds the inner product of the projected text with the pooled image features
    (Miyato & Koyama, ICLR 2018), a term that must agree with every part of the text to score well."""

    def __init__(self, in_channels: int, text_dim: int, ndf: int = 64, size: int = 64, text_proj: int = 128,
                 spectral: bool = False, projection: bool = False):
        super().__init__()
        n_down = max(1, (size // 4).bit_length() - 1)
        if 4 * 2 ** n_down != size:
            raise ConfigError(f"image_size must be 4 times a power of two (8, 16, 32, 64, ...), got {size}")
        sn = spectral_norm if spectral else (lambda m: m)

        def norm(ch: int, first: bool = False) -> list[nn.Module]:
            return [] if spectral or first else [nn.BatchNorm2d(ch)]

        layers, ch = [], in_channels
        for i in range(n_down):
            out = ndf * 2 ** min(i, 3)
            layers += [sn(nn.Conv2d(ch, out, 4, 2, 1, bias=i == 0 or spectral)), *norm(out, i == 0),
                       nn.LeakyReLU(0.2, True)]
            ch = out
        self.body = nn.Sequential(*layers)
        self.compress = nn.Sequential(sn(nn.Linear(text_dim, text_proj)), nn.LeakyReLU(0.2, True))
        self.head = nn.Sequential(sn(nn.Conv2d(ch + text_proj, ch, 1, bias=spectral)), *norm(ch),
                                  nn.LeakyReLU(0.2, True), sn(nn.Conv2d(ch, 1, 4)))
        self.project = sn(nn.Linear(text_dim, ch, bias=False)) if projection else None

    def forward(self, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """x (N, C, size, size), text (N, text_dim) -> logits (N,)."""
        f = self.body(x)
        t = self.compress(text)[:, :, None, None].expand(-1, -1, *f.shape[-2:])
        logit = self.head(torch.cat([f, t.to(f.dtype)], 1)).flatten()
        if self.project is not None:
            logit = logit + (self.project(text).to(f.dtype) * f.sum((2, 3))).sum(1)
        return logit


__all__ = ["TEXT_ENCODERS", "ImageEmbedder", "JointEmbedding", "TextConditionedDiscriminator", "TextEncoder"]
