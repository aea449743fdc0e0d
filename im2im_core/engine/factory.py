"""The trainer factory: a config (YAML file or dict plus `section.key=value` overrides) becomes a
checked Trainer for the CLI, `python -m training`, the benchmarks and the napari Train widget.
Apart from the loop (`trainer.py`) and the config types (`config.py`), which import nothing back."""
from __future__ import annotations

import yaml

from ..config import to_dict
from ..data.build import build_dataset
from ..models import build
from .checkpointing import make_out_dir
from .config import parse_config
from .trainer import Trainer, seed_everything


def build_trainer(path_or_dict, overrides=(), dataset=None, **hooks):
    """Parse, build the model and dataset, and check them together -- all before training.

    `dataset`: an already built dataset (the napari Train widget's in-memory layers) instead of
    the one `data` describes; everything else takes the same path as a YAML run."""
    model_cfg, data_cfg, train_cfg = parse_config(path_or_dict, overrides)
    seed_everything(train_cfg.seed)  # identical initial weights on every rank and every run
    model = build(model_cfg)
    domains = model.config.domains if getattr(model, "multi_domain", False) else None
    if dataset is None:
        dataset = build_dataset(data_cfg, channels=model.channels("AtoB"), domains=domains)
    trainer = Trainer(model, dataset, train_cfg, dataset.intensity, dataset.description, **hooks)
    trainer.full_config = {"model": {"family": model.family, **to_dict(model_cfg)}, "data": to_dict(data_cfg),
                           "train": to_dict(train_cfg)}
    return trainer


def train_from_config(path_or_dict, overrides=(), **hooks):
    """`im2im train CONFIG.yaml key=value ...`: validate everything, train, return the Trainer
    (its `.model`, `.export_path`, `.last_checkpoint`, `.result`)."""
    trainer = build_trainer(path_or_dict, overrides, **hooks)
    if trainer.dist.is_main:
        make_out_dir(trainer.out_dir)
        (trainer.out_dir / "config.yaml").write_text(yaml.safe_dump(trainer.full_config, sort_keys=False))
    trainer.result = trainer.fit()
    return trainer
