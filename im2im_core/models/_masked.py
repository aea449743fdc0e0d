"""The config both one-way masked families (Council-GAN, ACL-GAN) build on: the masked, noise-driven
generators of nets/masked.py and their multi-scale discriminators."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import LATENT_SIZES, ModelConfig


@dataclass
class MaskedGANConfig(ModelConfig):
    SIZES: ClassVar[dict] = {**LATENT_SIZES, "mlp_dim": "width", "d_layers": "depth"}
    dim: int = 32
    n_down: int = 2
    n_res: int = 4
    style_dim: int = 8
    mlp_dim: int = 128
    ndf: int = 32
    d_layers: int = 4
    lr: float = 1e-4  # 0 takes TrainConfig.optim.lr
    weight_decay: float = 1e-4
    intensity_prior: str = "none"
    #: output x + m * G(x, z) with G starting at zero (not in the paper), instead of m * G + (1 - m) * x:
    #: an open mask then costs nothing at the start (always on with intensity_prior)
    residual: bool = False
