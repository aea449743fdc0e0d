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

    from ._train import model_config

    torch.manual_seed(0)
    if family == "generator":
        from im2im_core.models.generator import GeneratorOnlyConfig
        from im2im_core.nets import GeneratorConfig

        cfg = GeneratorOnlyConfig(in_channels=channels, out_channels=channels, domains=tuple(domains or ("T1w", "T2w")),
                                  generator=GeneratorConfig(ngf=8, n_blocks=1))
        model = build(dataclasses.replace(cfg, **overrides))
    else:
        cfg = model_config(family, "tiny", 64, channels, domains or ("A", "B"))
        model = build(dataclasses.replace(cfg, **overrides).preset("tiny", 64))
    path = Path(folder) / f"{name or 'tiny_' + family}.safetensors"
    checkpoint.save(path, model, Intensity("percentile", 0.5, 99.5), {"iterations": 0, "note": "random init (tests)"},
                    spacing=spacing)
    return path


def train_widget(viewer, a: str, b: str, out_dir, *, iterations: int, size: int = 32, preview_every: int = 0,
                 family: str = "cycle_gan", capacity: str = "tiny"):
    """A docked Train widget set up to train `family` from layer `a` to layer `b` (not started)."""
    from ._widget_train import TrainWidget

    w = TrainWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.domain_a.layers.setCurrentText(a)
    w.domain_b.layers.setCurrentText(b)
    w.family.setCurrentText(family)
    w.capacity.setCurrentText(capacity)
    w.size.setValue(size)
    w.iterations.setValue(iterations)
    w.preview_every.setValue(preview_every)
    w.out_dir.setText(str(out_dir))
    return w
