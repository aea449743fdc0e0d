"""SisGAN: semantic image synthesis, image + text -> image (Dong, Yu, Wu & Guo, ICCV 2017,
"Semantic Image Synthesis via Adversarial Learning"; reference code woozzu/dong_iccv_2017).

Networks (the reference's layout at `ngf` = 128 without its VGG encoder; ours is narrower)
- G(x, t): image encoder conv3 -> two stride-2 4x4 convs (batch norm, ReLU) to 1/4 resolution;
  conditioning augmentation c = mu(phi) + exp(log_sigma(phi)) * eps, tiled over that grid and
  concatenated (with `coord_channels`, also a y and an x map); a 3x3 fusion conv, 4 residual
  blocks, then nearest x2 + 3x3 conv twice and a 3x3 conv with tanh.
- D(x, t): `nets.text.TextConditionedDiscriminator`, the matching-aware critic.
- phi: the frozen text encoder fitted on the training captions (`models._text`).

Losses (reference train.py):
  L_D = BCE(D(x, t), 1) + lambda_mismatch BCE(D(x, t_hat), 0) + 1/2 BCE(D(G(x, t_bar), t_bar), 0)
  L_G = BCE(D(G(x, t_bar), t_bar), 1) + lambda_kl KL(N(mu, sigma) || N(0, I)) [+ lambda_rec |G(x, t) - x|]
        [+ lambda_match rank(E(G(x, t_bar)), t_bar)]
t_hat: another image's caption (the batch rolled by one). t_bar, "semantically relevant" text: the
first half of the batch gets rolled (mismatching) captions, the second half its own. Where the
data gives relevant captions (CaptionedArrays(relevant=...): captions of edits of the same scene,
not in the paper), the first half of t_bar and the second half of t_hat use them instead, so G
practises the edits it will be asked for and D learns to check single attributes. The
reconstruction term with the image's own caption is not in the paper (default 0): it asks that a
matching caption leaves the image as it is. Nor is the matching term (`models._text`, default 0):
the frozen embedding's image encoder E must rank the edit with its text above the batch's other texts.

Inference: `translate(x, text="...")`; the noise of the conditioning augmentation comes from `seed`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import kl_gaussian, l1
from ..nets.init import init_weights
from ._text import TextConditioned, TextModelConfig
from .base import check_losses, register, require_blendable


def _bn_relu(conv: nn.Module, ch: int) -> list[nn.Module]:
    return [conv, nn.BatchNorm2d(ch), nn.ReLU(True)]


class _Res(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(*_bn_relu(nn.Conv2d(ch, ch, 3, padding=1, bias=False), ch),
                                  nn.Conv2d(ch, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch))

    def forward(self, x):
        return F.relu(x + self.body(x))


class EditGenerator(nn.Module):
    def __init__(self, channels: int, text_dim: int, ngf: int = 64, ca_dim: int = 128, n_res: int = 4,
                 coords: bool = False):
        super().__init__()
        self.coords = coords
        self.encoder = nn.Sequential(nn.Conv2d(channels, ngf, 3, padding=1), nn.ReLU(True),
                                     *_bn_relu(nn.Conv2d(ngf, 2 * ngf, 4, 2, 1, bias=False), 2 * ngf),
                                     *_bn_relu(nn.Conv2d(2 * ngf, 4 * ngf, 4, 2, 1, bias=False), 4 * ngf))
        self.mu = nn.Sequential(nn.Linear(text_dim, ca_dim, bias=False), nn.LeakyReLU(0.2, True))
        self.log_sigma = nn.Sequential(nn.Linear(text_dim, ca_dim, bias=False), nn.LeakyReLU(0.2, True))
        self.fuse = nn.Sequential(nn.Conv2d(4 * ngf + ca_dim + 2 * coords, 4 * ngf, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(4 * ngf), *[_Res(4 * ngf) for _ in range(n_res)])
        self.decoder = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                     *_bn_relu(nn.Conv2d(4 * ngf, 2 * ngf, 3, padding=1, bias=False), 2 * ngf),
                                     nn.Upsample(scale_factor=2, mode="nearest"),
                                     *_bn_relu(nn.Conv2d(2 * ngf, ngf, 3, padding=1, bias=False), ngf),
                                     nn.Conv2d(ngf, channels, 3, padding=1), nn.Tanh())

    def forward(self, x: torch.Tensor, text: torch.Tensor, eps: torch.Tensor | None = None):
        """(image, (mu, log_sigma)); eps ~ N(0, I) of shape (N, ca_dim), drawn here if None."""
        f = self.encoder(x)
        mu, log_sigma = self.mu(text), self.log_sigma(text)
        eps = torch.randn_like(mu) if eps is None else eps.to(mu)
        c = (mu + log_sigma.exp() * eps)[:, :, None, None].expand(-1, -1, *f.shape[-2:])
        parts = [f, c.to(f.dtype)]
        if self.coords:
            h, w = f.shape[-2:]
            yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
            parts.append(torch.stack([yy, xx])[None].expand(len(f), -1, -1, -1).to(f))
        return self.decoder(self.fuse(torch.cat(parts, 1))), (mu, log_sigma)


@dataclass
class SisGANConfig(TextModelConfig):
    SIZES: ClassVar[dict] = {**TextModelConfig.SIZES, "n_res": "depth"}
    n_res: int = 4
    ca_dim: int = 128
    lambda_kl: float = 1.0
    #: |G(x, own caption) - x|, not in the paper
    lambda_rec: float = 0.0
    #: two coordinate channels (y, x in [-1, 1]) at the fusion, so G can place edits that the text
    #: locates ("at the top left"); CoordConv (Liu et al. 2018), not in the paper
    coord_channels: bool = False


@register("sisgan")
class SisGAN(TextConditioned):
    """Edits an image so that it matches a caption, keeping what the caption does not mention."""
    paper: ClassVar[tuple] = ("Dong, Yu, Wu & Guo: Semantic Image Synthesis via Adversarial Learning, ICCV 2017",
                              "https://arxiv.org/abs/1707.06873")
    Config = SisGANConfig

    def __init__(self, config: SisGANConfig):
        super().__init__(config)
        c = config
        require_blendable("sisgan", c, "edits images in place")
        check_losses("sisgan", c, ("lambda_kl", "lambda_rec"), gan_modes=())
        self.netG = init_weights(EditGenerator(c.in_channels, c.text_dim, c.ngf, c.ca_dim, c.n_res, c.coord_channels))
        self.build_discriminator()

    def inference_forward(self, x, direction, text=None, seed=0):
        """x edited to match `text` (one caption, or one per image)."""
        phi = self.embed(self.texts_for(text, len(x))).to(x.device)
        gen = torch.Generator().manual_seed(int(seed))
        eps = torch.randn(len(x), self.config.ca_dim, generator=gen)
        return self.netG(x, phi.to(x.dtype), eps)[0]

    # ---- training -------------------------------------------------------------------------
    @staticmethod
    def relevant(phi: torch.Tensor, phi_edit: torch.Tensor | None = None) -> torch.Tensor:
        """The reference's t_bar: the first half of the batch mismatching (rolled captions, or the
        data's relevant captions `phi_edit` when given), the second half its own."""
        h = len(phi) // 2
        first = phi[:h].roll(-1, 0) if phi_edit is None else phi_edit[:h]
        return torch.cat([first, phi[h:]])

    def train_step(self, batch, step):
        c = self.config
        x = batch["A"]
        phi = self.embed(batch["text"]).to(x.device)
        phi_bar = self.relevant(phi, self.embed(batch["relevant"]).to(phi) if "relevant" in batch else None)
        fake, (mu, log_sigma) = self.netG(x, phi_bar)
        losses = self.discriminator_step(x, phi, fake, phi_bar, self.mismatching(batch, phi))
        g_fake = self.gan(self.netD(fake, phi_bar), True, for_discriminator=False)
        kl = kl_gaussian(mu, 2 * log_sigma)
        loss_g = g_fake + c.lambda_kl * kl
        losses.update({"G": g_fake.item(), "KL": kl.item()})
        loss_g = self.add_matching(loss_g, fake, phi_bar, losses)
        if c.lambda_rec > 0:
            rec = l1(self.netG(x, phi)[0], x)
            loss_g = loss_g + c.lambda_rec * rec
            losses["rec"] = rec.item()
        self.optimize("G", loss_g)
        self.set_requires_grad(self.netD, True)
        return losses

    @torch.no_grad()
    def visuals(self, batch):
        x = batch["A"]
        phi = self.embed(batch["text"]).to(x.device)
        return {"input": x, "own caption": self.netG(x, phi)[0], "other caption": self.netG(x, phi.roll(1, 0))[0]}


__all__ = ["EditGenerator", "SisGAN", "SisGANConfig"]
