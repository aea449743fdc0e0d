"""The small interface every family implements (the registry that maps names to classes is
`_registry.py`; `register` is re-exported here for the families).

A family is one module in this package: a config dataclass, the networks it builds, its
training step and `inference_forward`. The engine, the Translator, the CLI and the napari
plugin only talk to this interface.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..config import to_dict
from ..errors import ConfigError, InputError
from ._registry import register  # noqa: F401 - the families' decorator, next to the class they subclass

#: `ModelConfig.SIZES` of the families built from a nested generator and discriminator config
NESTED_SIZES = {"generator.ngf": "width", "generator.n_blocks": "depth", "generator.num_downs": "levels",
                "discriminator.ndf": "width"}
#: ... and of the encoder/decoder families (UNIT, MUNIT, DRIT, Council-GAN, ACL-GAN)
LATENT_SIZES = {"dim": "width", "n_res": "depth", "ndf": "width", "n_scales": "scales"}


def require_blendable(family: str, cfg, why: str = "blends its output with the input") -> None:
    """Families that blend their output with the input need as many output channels as input ones."""
    if cfg.in_channels != cfg.out_channels:
        raise ConfigError(f"{family} {why}, so in_channels ({cfg.in_channels}) must "
                          f"equal out_channels ({cfg.out_channels})")


def check_losses(family: str, cfg, weights, gan_modes=("lsgan", "vanilla")) -> None:
    """The GAN mode is one the family supports (when it has a choice) and every named loss weight is >= 0."""
    if gan_modes:
        check_choices(cfg, gan_mode=gan_modes)
    bad = {w: getattr(cfg, w) for w in weights if getattr(cfg, w) < 0}
    if bad:
        raise ConfigError(f"{family}: loss weights must be >= 0, got {bad}")


def check_choices(cfg, **choices) -> None:
    """Each named config field must hold one of its allowed values; the error names the field."""
    for name, allowed in choices.items():
        if getattr(cfg, name) not in allowed:
            raise ConfigError(f"{name} {getattr(cfg, name)!r} unknown; use one of {tuple(allowed)}")


@dataclass
class ModelConfig:
    """Fields every family shares. Domain names label directions ("T1w->T2w")."""

    in_channels: int = 1
    out_channels: int = 1
    domains: tuple = ("A", "B")

    #: the size knobs `preset` turns, by dotted field name: "width" (channels), "depth" (block
    #: counts), "levels" (U-Net downsamplings, also capped by the crop size), "scales"
    #: (discriminator scales, 1 when tiny). Each family lists its own.
    SIZES: ClassVar[dict] = {}
    #: capacity -> (largest width, largest depth)
    CAPACITIES: ClassVar[dict] = {"tiny": (8, 1), "small": (32, 3)}

    def preset(self, capacity: str = "full", size: int = 256):
        """A copy sized for quick runs: "tiny" and "small" cap the `SIZES` knobs; "full" keeps the
        paper's sizes. `size` is the training crop's side, which bounds a U-Net's depth."""
        import math

        from ..config import from_dict

        if capacity == "full":
            return self
        if capacity not in self.CAPACITIES:
            raise ConfigError(f"capacity {capacity!r} unknown; use one of {['full', *self.CAPACITIES]}")
        width, depth = self.CAPACITIES[capacity]
        cap = {"width": lambda v: min(v, width), "depth": lambda v: min(v, depth),
               "levels": lambda v: max(2, min(v, int(math.log2(max(size, 8))) - 2)),
               "scales": lambda v: 1 if capacity == "tiny" else v}
        data = to_dict(self)
        for key, kind in self.SIZES.items():
            *parents, name = key.split(".")
            node = data
            for p in parents:
                node = node[p]
            node[name] = cap[kind](node[name])
        return from_dict(type(self), data)


class Im2ImModel(nn.Module):
    """Base class: subclasses set `Config`, build nets in __init__, and override the hooks."""

    family: ClassVar[str] = ""
    #: (citation, URL) of the paper the family implements (cited by exports)
    paper: ClassVar[tuple] = ("", "")
    Config: ClassVar[type] = ModelConfig
    #: extra keyword options `inference_forward` accepts (anything else is a clear error)
    inference_options: ClassVar[frozenset] = frozenset()
    #: names of the sub-modules that generate images (EMA, export, inference device moves)
    generator_names: ClassVar[tuple] = ()
    scale_factor: ClassVar[int] = 1
    #: False when the model needs the whole image at once (k-space masks, inpainting masks)
    tileable: ClassVar[bool] = True
    #: False for the restoration families, which learn from one set of clean images (they make
    #: their own degraded inputs), not from a pair of domains
    two_domains: ClassVar[bool] = True
    #: conv-only families run fastest on CPU with bf16 weights (no autocast casts around each norm)
    pure_bf16: ClassVar[bool] = False
    #: what a large image gets when its network cannot be streamed (stream.Unsupported), with a
    #: NotStreamable warning: "tiles" (a statistics pass per norm layer, then overlapping tiles:
    #: close to the whole image for plain instance-norm generators) or "whole" (one whole-image pass:
    #: for families whose codes, labels or AdaIN parameters make tiles differ from it)
    unstreamable: ClassVar[str] = "tiles"

    def __init__(self, config):
        super().__init__()
        self.config = config

    # ---- description -------------------------------------------------------------------
    def directions(self) -> list[str]:
        """Canonical direction names; the first is the default."""
        return ["AtoB", "BtoA"]

    def resolve_direction(self, direction: str | None) -> str:
        """Accept "AtoB"/"BtoA" or domain names such as "T1w->T2w"."""
        dirs = self.directions()
        if direction is None:
            return dirs[0]
        if direction in dirs:
            return direction
        names = list(self.config.domains)
        if "->" in direction and len(names) >= 2:
            src, dst = (s.strip() for s in direction.split("->", 1))
            alias = {f"{names[0]}->{names[1]}": "AtoB", f"{names[1]}->{names[0]}": "BtoA"}
            canon = alias.get(f"{src}->{dst}")
            if canon in dirs:
                return canon
        readable = dirs + [f"{names[0]}->{names[1]}"] if len(names) >= 2 else dirs
        raise InputError(f"direction {direction!r} not offered by {self.family}; use one of {readable}")

    def channels(self, direction: str) -> tuple[int, int]:
        """(input, output) channels for a direction."""
        c = self.config
        return (c.in_channels, c.out_channels) if direction == "AtoB" else (c.out_channels, c.in_channels)

    def size_multiple(self) -> int:
        """Spatial sides fed to `inference_forward` are padded to a multiple of this."""
        return 4

    def prepare_data(self, dataset) -> None:
        """Fit data-derived buffers (intensity priors) before a fresh run; a resume overwrites them."""

    def check_options(self, opts: dict[str, Any]) -> None:
        unknown = sorted(set(opts) - set(self.inference_options))
        if unknown:
            allowed = sorted(self.inference_options) or "none"
            raise InputError(f"option(s) {unknown} not supported by family {self.family!r}; it accepts: {allowed}")

    def resolve_samples(self, direction: str, opts: dict[str, Any], device) -> list[dict[str, Any]]:
        """Expand options into one dict per output sample (multimodal families draw styles here,
        once per sample, so every tile of a sample shares its style)."""
        return [opts]

    def unchanged_pixels(self, opts: dict[str, Any]):
        """Boolean numpy mask (broadcastable to the image) of pixels the model promises to return
        unchanged, so the Translator can paste the raw input back bit-identically; None if none."""
        return None

    # ---- inference -------------------------------------------------------------------------
    def inference_forward(self, x: torch.Tensor, direction: str, **opts) -> torch.Tensor | dict:
        """x: (N, C, H, W) in [-1, 1]. Returns the translated batch in [-1, 1] (or a dict with
        an "image" entry and extra maps such as "attention" in [0, 1])."""
        raise NotImplementedError

    def export_module(self, direction: str) -> nn.Module:
        """A plain x -> y module for TorchScript / torch.export."""
        return _DirectionWrapper(self, direction)

    # ---- training (driven by im2im_core.engine) ------------------------------------------
    #: the engine sets these: optimizers by name, gradient clipping, and a gradient all-reduce
    optimizers: dict
    grad_clip: float = 0.0
    grad_sync = None  # callable(params) averaging gradients across DDP ranks, or None

    def configure_optimizers(self, train_cfg) -> dict[str, torch.optim.Optimizer]:
        """Create (and return by name) the optimizers; also create image pools etc. here."""
        raise NotImplementedError(f"{self.family} cannot be trained")

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        """One iteration: D and G updates through `self.optimize`; returns loss values.
        `batch` maps "A"/"B" (and extras such as "label") to tensors in [-1, 1]."""
        raise NotImplementedError(f"{self.family} cannot be trained")

    @staticmethod
    def adam(params, train_cfg) -> torch.optim.Adam:
        """Adam with the run's lr, betas and weight decay (what most families use)."""
        o = train_cfg.optim
        return torch.optim.Adam(params, lr=o.lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay)

    def optimize(self, name: str, loss: torch.Tensor) -> None:
        """Backward, sync, clip and step one optimizer; a NaN/Inf loss stops training."""
        if not torch.isfinite(loss.detach()).all():
            from ..errors import NonFiniteLoss

            raise NonFiniteLoss(f"{self.family}: loss for optimizer {name!r} is {loss.item()}")
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        if self.grad_sync is not None:
            self.grad_sync(params)
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
        opt.step()

    @staticmethod
    def set_requires_grad(nets, flag: bool) -> None:
        for net in nets if isinstance(nets, (list, tuple)) else [nets]:
            for p in net.parameters():
                p.requires_grad_(flag)

    def extra_state(self) -> dict:
        """Training state beyond parameters (image pools, ...), for exact resume."""
        return {name: pool.state_dict() for name, pool in getattr(self, "pools", {}).items()}

    def load_extra_state(self, state: dict) -> None:
        for name, pool in getattr(self, "pools", {}).items():
            if name in state:
                pool.load_state_dict(state[name])

    @torch.no_grad()
    def visuals(self, batch: dict) -> dict[str, torch.Tensor]:
        return {}

    def config_dict(self) -> dict:
        return to_dict(self.config)


class _DirectionWrapper(nn.Module):
    def __init__(self, model: Im2ImModel, direction: str):
        super().__init__()
        self.model = model
        self.direction = direction

    def forward(self, x):
        y = self.model.inference_forward(x, self.direction)
        return y["image"] if isinstance(y, dict) else y
