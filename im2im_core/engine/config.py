"""Typed training configuration; saved into every checkpoint."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class OptimConfig:
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 0.0
    #: "constant", or "linear": constant for the first half of the iterations, then linear to 0
    lr_policy: str = "linear"
    grad_clip: float = 0.0  # 0 disables clipping


@dataclass
class TrainConfig:
    """Everything the loop needs besides the model config and the data."""

    iterations: int = 1000
    batch_size: int = 1
    seed: int = 0
    optim: OptimConfig = field(default_factory=OptimConfig)
    pool_size: int = 50
    ema: float = 0.0  # EMA decay of the generators; 0 disables
    bf16: bool = False  # autocast the forward passes
    device: str = "auto"
    log_every: int = 10
    sample_every: int = 100
    save_every: int = 200
    keep_last: int = 3
    out_dir: str = "runs/experiment"
