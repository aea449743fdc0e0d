"""Tiny untrained checkpoints of every family, for the plugin's tests and screenshots.

Written with the library's own `build` + `checkpoint.save`, so they load exactly like trained
ones (random weights: outputs are meaningless, shapes and metadata are real).
"""
from __future__ import annotations

from pathlib import Path


def tiny_checkpoint(folder, family: str = "generator", *, channels: int = 1, domains=None,
                    name: str | None = None, spacing=None, **overrides) -> Path:
    """Save a randomly initialised, tiny model of `family` into `folder`; returns the path."""
    import dataclasses

    import torch

    from im2im_core import checkpoint
    from im2im_core.intensity import Intensity
    from im2im_core.models import build

    from ._train import build_model, shrink

    torch.manual_seed(0)
    if family == "generator":
        from im2im_core.models.generator import GeneratorOnlyConfig
        from im2im_core.nets import GeneratorConfig

        cfg = GeneratorOnlyConfig(in_channels=channels, out_channels=channels, domains=tuple(domains or ("T1w", "T2w")),
                                  generator=GeneratorConfig(ngf=8, n_blocks=1))
        model = build(dataclasses.replace(cfg, **overrides))
    else:
        model = build_model(family, "tiny", 64, channels, domains or ("A", "B"))
        if overrides:
            model = build(shrink(dataclasses.replace(model.config, **overrides), "tiny", 64))
    path = Path(folder) / f"{name or 'tiny_' + family}.safetensors"
    checkpoint.save(path, model, Intensity("percentile", 0.5, 99.5), {"iterations": 0, "note": "random init (tests)"},
                    spacing=spacing)
    return path
