"""GAN-CLS: text-to-image synthesis with a matching-aware discriminator (Reed et al., ICML 2016,
"Generative Adversarial Text to Image Synthesis"; reference code reedscot/icml2016).

Networks
- G(z, phi(t)): the text embedding is compressed by a linear layer + LeakyReLU to `text_proj`
  values and concatenated with z ~ N(0, I); a linear layer makes a 4x4 map, then stride-2
  transposed convs with batch norm and ReLU up to `image_size`, tanh (the DCGAN generator).
- D(x, phi(t)): strided convs to 4x4, the compressed embedding tiled and concatenated there, a 1x1
  and a 4x4 conv to one logit (`nets.text.TextConditionedDiscriminator`).
- phi: a text encoder fitted with a small image encoder on the training captions before training
  and then frozen (`models._text`), in place of the paper's pretrained char-CNN-RNN.

Losses (paper Alg. 1, with the reference code's 1/2 on each fake term):
  L_D = BCE(D(x, t), 1) + lambda_mismatch * [BCE(D(x, t_hat), 0) + BCE(D(G(z, t), t), 0)]
  L_G = BCE(D(G(z, t), t), 1) [+ BCE(D(G(z', t_int), t_int), 1) with GAN-INT]
        [+ lambda_match rank(E(G(z, t)), t), not in the paper: the frozen embedding's image encoder
         E must rank the image with its caption above the batch's other captions]
t_hat is another image's caption (the batch rolled by one; with relevant captions in the data,
half of them are those: hard negatives that differ in one or two attributes); GAN-INT's t_int = b t + (1 - b) t_hat
with b = `int_beta` (the paper's 0.5). lambda_mismatch = 0 ablates the matching-aware term; the
fake term then keeps the paper's 1/2.

Inference: `Translator.generate(text, n_samples=K, seed=s)`; no input image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..errors import ConfigError, InputError
from ..nets.init import init_weights
from ._text import TextConditioned, TextModelConfig
from .latents import MAX_SAMPLES, MAX_SEED, check_seed
from .base import register


class TextToImageGenerator(nn.Module):
    def __init__(self, z_dim: int, text_dim: int, out_channels: int, ngf: int = 64, size: int = 64,
                 text_proj: int = 128):
        super().__init__()
        n_up = int(math.log2(size // 4))
        top = ngf * 2 ** min(n_up - 1, 3)
        self.compress = nn.Sequential(nn.Linear(text_dim, text_proj), nn.LeakyReLU(0.2, True))
        self.fc = nn.Sequential(nn.Linear(z_dim + text_proj, top * 16, bias=False), nn.BatchNorm1d(top * 16),
                                nn.ReLU(True))
        layers, ch = [], top
        for i in range(n_up - 1, 0, -1):
            out = ngf * 2 ** min(i - 1, 3)
            layers += [nn.ConvTranspose2d(ch, out, 4, 2, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU(True)]
            ch = out
        layers += [nn.ConvTranspose2d(ch, out_channels, 4, 2, 1), nn.Tanh()]
        self.up = nn.Sequential(*layers)
        self.top = top

    def forward(self, z: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([z, self.compress(text)], 1))
        return self.up(h.view(len(h), self.top, 4, 4))


@dataclass
class GANCLSConfig(TextModelConfig):
    z_dim: int = 100
    #: GAN-INT: also train G on interpolated caption embeddings
    gan_int: bool = True
    int_beta: float = 0.5


@register("gan_cls")
class GANCLS(TextConditioned):
    """Text -> image; the discriminator also judges whether image and text match."""
    paper: ClassVar[tuple] = ("Reed et al.: Generative Adversarial Text to Image Synthesis, ICML 2016",
                              "https://arxiv.org/abs/1605.05396")
    Config = GANCLSConfig
    generative = True

    def __init__(self, config: GANCLSConfig):
        super().__init__(config)
        c = config
        if c.image_size < 8 or c.image_size & (c.image_size - 1):
            raise ConfigError(f"image_size must be a power of two >= 8, got {c.image_size}")
        if not 0 <= c.int_beta <= 1:
            raise ConfigError(f"int_beta must lie in [0, 1], got {c.int_beta}")
        self.netG = init_weights(TextToImageGenerator(c.z_dim, c.text_dim, c.out_channels, c.ngf, c.image_size))
        self.build_discriminator()

    def generate(self, text, n_samples: int = 1, seed: int = 0) -> torch.Tensor:
        """(len(texts) * n_samples, C, H, W) in [-1, 1]: sample k of each caption draws z from
        seed + k, so generate(t, K, s)[k] equals generate(t, 1, s + k)."""
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or not 1 <= n_samples <= MAX_SAMPLES:
            raise InputError(f"n_samples must be an integer in [1, {MAX_SAMPLES}], got {n_samples!r}")
        seed = check_seed(seed)
        if seed + n_samples - 1 > MAX_SEED:
            raise InputError(f"seed + n_samples - 1 must stay below 2**63, got seed {seed}")
        texts = self.captions(text)
        phi = self.embed(texts).repeat_interleave(n_samples, 0)
        z = torch.stack([torch.randn(self.config.z_dim, generator=torch.Generator().manual_seed(int(seed) + k))
                         for k in range(n_samples)]).repeat(len(texts), 1)
        return self.netG(z.to(phi.device), phi)

    def inference_forward(self, x, direction, text=None, seed=0):
        """One generated image per input image (the input only sets how many)."""
        return self.generate(self.texts_for(text, len(x)), 1, seed).to(x.dtype)

    # ---- training -------------------------------------------------------------------------
    def train_step(self, batch, step):
        c = self.config
        x, phi = batch["B"], self.embed(batch["text"]).to(batch["B"].device)
        phi_hat = phi.roll(1, 0)
        z = torch.randn(len(x), c.z_dim, device=x.device)
        fake = self.netG(z, phi)
        losses = self.discriminator_step(x, phi, fake, phi, self.mismatching(batch, phi))
        g_fake = self.gan(self.netD(fake, phi), True, for_discriminator=False)
        losses["G"] = g_fake.item()
        if c.gan_int:
            t_int = c.int_beta * phi + (1 - c.int_beta) * phi_hat
            g_int = self.gan(self.netD(self.netG(torch.randn_like(z), t_int), t_int), True, for_discriminator=False)
            g_fake = g_fake + g_int
            losses["G_int"] = g_int.item()
        self.optimize("G", self.add_matching(g_fake, fake, phi, losses))
        self.set_requires_grad(self.netD, True)
        return losses

    @torch.no_grad()
    def visuals(self, batch):
        phi = self.embed(batch["text"]).to(batch["B"].device)
        gen = torch.Generator().manual_seed(0)
        z = torch.randn(len(phi), self.config.z_dim, generator=gen).to(phi.device)
        return {"real": batch["B"], "generated": self.netG(z, phi)}


__all__ = ["GANCLS", "GANCLSConfig", "TextToImageGenerator"]
