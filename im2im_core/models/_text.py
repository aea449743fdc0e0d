"""What the text-conditioned families (GAN-CLS, SisGAN) share: the config fields of their text
embedding, fitting it on the training captions before training, and encoding text at inference.

The embedding (nets.text.JointEmbedding) is trained first with the pairwise ranking loss and then
frozen, as the references use a fixed pretrained encoder. Its vocabulary is a config field, so a
checkpoint's metadata rebuilds the encoder and its weights come with the model's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..errors import InputError
from ..losses import GANLoss
from ..nets.init import init_weights
from ..nets.text import TEXT_ENCODERS, JointEmbedding, TextConditionedDiscriminator
from ..text import build_vocabulary, encode, fit_embedding, pairwise_ranking
from .base import Im2ImModel, ModelConfig, check_choices, check_losses


@dataclass
class TextModelConfig(ModelConfig):
    SIZES: ClassVar[dict] = {"ngf": "width", "ndf": "width", "text_dim": "width", "embed_nf": "width"}
    ngf: int = 64
    in_channels: int = 3
    out_channels: int = 3
    image_size: int = 64
    #: filled from the training captions before training (PAD, UNK, words)
    vocabulary: tuple = ()
    text_encoder: str = "gru"
    text_dim: int = 128
    #: width of the embedding's image encoder (it only serves fitting the text encoder)
    embed_nf: int = 32
    embed_steps: int = 1500
    embed_batch: int = 64
    embed_margin: float = 0.2
    embed_lr: float = 2e-3
    #: width of the matching-aware discriminator
    ndf: int = 64
    #: weight of the (real image, mismatching text) -> fake term of D; the references' 0.5, 0 ablates it
    lambda_mismatch: float = 0.5
    #: spectral normalisation instead of batch norm in the discriminator (not in the references)
    d_spectral: bool = False
    #: add a projection term to the discriminator (Miyato & Koyama 2018; not in the references)
    d_projection: bool = False
    #: weight of a visual-semantic matching loss on G: the frozen embedding must rank each generated
    #: image with its caption above the batch's other captions (AttnGAN's DAMSM idea; not in the references)
    lambda_match: float = 0.0
    domains: tuple = ("text", "image")


class TextConditioned(Im2ImModel):
    """Base of the text families: owns `embedding` and turns captions into its vectors, and the
    matching-aware discriminator `netD` with its update; subclasses build `netG`."""

    captioned = True
    generator_names = ("netG",)
    #: saved with the generator in inference checkpoints: the fitted text encoder
    inference_modules = ("embedding",)
    inference_options = frozenset({"text", "seed"})
    tileable = False

    def __init__(self, config: TextModelConfig):
        super().__init__(config)
        check_choices(config, text_encoder=TEXT_ENCODERS)
        check_losses(self.family, config, ("lambda_mismatch", "lambda_match"), gan_modes=())
        self.embedding = self._new_embedding()
        self.gan = GANLoss("vanilla")

    def build_discriminator(self) -> None:
        """`netD`, built by the subclass after its generator (the order fixes the seeded init)."""
        c = self.config
        self.netD = init_weights(TextConditionedDiscriminator(c.out_channels, c.text_dim, c.ndf, c.image_size,
                                                                spectral=c.d_spectral, projection=c.d_projection))

    def directions(self):
        return ["AtoB"]

    def configure_optimizers(self, train_cfg):
        return {"G": self.adam(self.netG.parameters(), train_cfg), "D": self.adam(self.netD.parameters(), train_cfg)}

    def mismatching(self, batch, phi) -> torch.Tensor:
        """t_hat: the batch's captions rolled by one (the references'), or, when the data gives
        relevant captions (edits of the same scene), those for the second half of the batch."""
        wrong = phi.roll(1, 0)
        if "relevant" not in batch:
            return wrong
        h = len(phi) // 2
        return torch.cat([wrong[:h], self.embed(batch["relevant"][h:]).to(phi)])

    def discriminator_step(self, x, phi, fake, phi_fake, phi_wrong) -> dict:
        """The matching-aware D update (references' weights): (x, t) -> real,
        lambda_mismatch (x, t_hat) -> fake with t_hat `phi_wrong` (`mismatching`), and
        1/2 (fake, its text) -> fake. Leaves D frozen for the generator's step."""
        self.set_requires_grad(self.netD, True)
        d_real = self.gan(self.netD(x, phi), True)
        d_mis = self.gan(self.netD(x, phi_wrong), False)
        d_fake = self.gan(self.netD(fake.detach(), phi_fake), False)
        loss_d = d_real + self.config.lambda_mismatch * d_mis + 0.5 * d_fake
        self.optimize("D", loss_d)
        self.set_requires_grad(self.netD, False)
        return {"D": loss_d.item(), "D_real": d_real.item(), "D_mismatch": d_mis.item(), "D_fake": d_fake.item()}

    def matching_loss(self, fake: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        """The ranking loss of the frozen embedding on (generated image, its text) pairs; its
        gradient reaches G through the embedding's image encoder."""
        return pairwise_ranking(self.embedding.image(fake).float(), phi, self.config.embed_margin)

    def add_matching(self, loss_g: torch.Tensor, fake: torch.Tensor, phi: torch.Tensor, losses: dict) -> torch.Tensor:
        """G's loss plus lambda_match times the matching loss (logged as "match") when the weight is set."""
        if self.config.lambda_match <= 0:
            return loss_g
        match = self.matching_loss(fake, phi)
        losses["match"] = match.item()
        return loss_g + self.config.lambda_match * match

    def _new_embedding(self) -> JointEmbedding:
        c = self.config
        emb = JointEmbedding(max(len(c.vocabulary), 2), c.out_channels, c.text_dim, c.text_encoder, c.embed_nf)
        return emb.requires_grad_(False).eval()

    def train(self, mode: bool = True):
        """The fitted embedding stays frozen in eval mode (its batch norm statistics too)."""
        super().train(mode)
        self.embedding.eval()
        return self

    def prepare_data(self, dataset) -> None:
        """Build the vocabulary from the training captions and fit the embedding on them."""
        c = self.config
        c.vocabulary = build_vocabulary(t for caps in dataset.captions for t in caps)
        self.embedding = self._new_embedding().requires_grad_(True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.embed_losses = fit_embedding(self.embedding, dataset.stack, dataset.captions, c.vocabulary,
                                              c.embed_steps, c.embed_batch, c.embed_lr, c.embed_margin)
        self.embedding.requires_grad_(False).eval()

    def embed(self, texts) -> torch.Tensor:
        """(N, text_dim) embeddings of captions, on the model's device."""
        if not self.config.vocabulary:
            raise InputError(f"this {self.family} model has no vocabulary: it was never trained")
        ids, lengths = encode(texts, self.config.vocabulary)
        device = next(self.embedding.parameters()).device
        with torch.no_grad():
            return self.embedding.text(ids.to(device), lengths).float()

    @staticmethod
    def captions(text) -> list[str]:
        """A caption or a non-empty list of captions, as a list; anything else is an InputError."""
        if text is None:
            raise InputError("this model needs text=...: a caption describing the image you want")
        texts = [text] if isinstance(text, str) else list(text) if isinstance(text, (list, tuple)) else None
        if not texts or not all(isinstance(t, str) for t in texts):
            raise InputError(f"text must be a caption (a string) or a non-empty list of captions, got {text!r:.80}")
        return texts

    @classmethod
    def texts_for(cls, text, n: int) -> list[str]:
        """One caption per image: a string for all, or a list of n strings."""
        texts = cls.captions(text)
        texts = texts * n if isinstance(text, str) else texts
        if len(texts) != n:
            raise InputError(f"{len(texts)} caption(s) for {n} image(s); give one caption, or one per image")
        return texts

    def extra_state(self) -> dict:
        return {}

