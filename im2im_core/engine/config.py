"""Typed training configuration (saved into every checkpoint), and the one way a run is
configured: a YAML file or dict plus `section.key=value` overrides, parsed and checked here
(`parse_config`); `factory.py` turns it into a Trainer."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

from ..config import from_dict, parse_scalar
from ..errors import ConfigError

SECTIONS = ("model", "data", "train")

LR_POLICIES = ("constant", "linear", "cosine")


@dataclass
class OptimConfig:
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 0.0
    #: "constant"; "linear": constant for the first (1 - decay_fraction) of the iterations, then
    #: linear to 0 (junyanz's policy); "cosine": cosine decay over the same final stretch
    lr_policy: str = "linear"
    decay_fraction: float = 0.5
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
    #: ramp the decay as min(ema, (1 + t) / (10 + t)) so a short run's EMA forgets the random init
    #: (without it, 0.999 keeps 0.999**2000 = 13.5% of the init weights after 2,000 iterations)
    ema_warmup: bool = True
    #: bf16 autocast of the forward passes where the device has bf16 (AVX512-BF16 or AMX CPUs, bf16
    #: CUDA GPUs); elsewhere training runs in fp32 whatever this says
    bf16: bool = True
    #: torch.compile each network (in place, so checkpoints keep their keys): faster steps after a
    #: compile of about a minute, worth it for long runs (training/benchmarks/training_speed.py)
    compile: bool = False
    #: channels_last memory format for weights and batches: with bf16 it is 1.6x faster per CycleGAN
    #: step on CPU (training/benchmarks/training_speed.py)
    channels_last: bool = True
    device: str = "auto"
    log_every: int = 10
    sample_every: int = 100  # 0 disables the PNG grids
    save_every: int = 200  # 0 saves only at the end (and on stop)
    keep_last: int = 3
    out_dir: str = "runs/experiment"
    tensorboard: bool = True
    progress: bool = True  # tqdm bar on rank 0
    #: False; True/"latest" resumes from out_dir's latest checkpoint (fresh start if none); or a path
    resume: bool | str = False


def _check(ok: bool, message: str) -> None:
    """Raise a one-line ConfigError when a condition on the config fails."""
    if not ok:
        raise ConfigError(f"config[train]: {message}")


def validate_train_config(cfg: TrainConfig) -> TrainConfig:
    """Reject out-of-range values before any work starts, naming the key."""
    _check(isinstance(cfg.iterations, int) and cfg.iterations >= 1, f"iterations must be an integer >= 1, got {cfg.iterations!r}")
    _check(isinstance(cfg.batch_size, int) and cfg.batch_size >= 1, f"batch_size must be an integer >= 1, got {cfg.batch_size!r}")
    _check(isinstance(cfg.seed, int) and 0 <= cfg.seed < 2 ** 63, f"seed must be an integer in [0, 2**63), got {cfg.seed!r}")
    _check(cfg.pool_size >= 0, f"pool_size must be >= 0, got {cfg.pool_size}")
    _check(0.0 <= cfg.ema < 1.0, f"ema must be in [0, 1), got {cfg.ema}")
    _check(cfg.log_every >= 1, f"log_every must be >= 1, got {cfg.log_every}")
    _check(cfg.sample_every >= 0, f"sample_every must be >= 0, got {cfg.sample_every}")
    _check(cfg.save_every >= 0, f"save_every must be >= 0, got {cfg.save_every}")
    _check(cfg.keep_last >= 1, f"keep_last must be >= 1, got {cfg.keep_last}")
    _check(bool(str(cfg.out_dir).strip()), "out_dir must not be empty")
    _check(not Path(cfg.out_dir).expanduser().exists() or Path(cfg.out_dir).expanduser().is_dir(),
           f"out_dir {cfg.out_dir!r} is a file; it names the run folder")
    _check(str(cfg.device) == "auto" or str(cfg.device).split(":")[0] in ("cpu", "cuda"),
           f"device must be auto, cpu or cuda[:N], got {cfg.device!r}")
    o = cfg.optim
    _check(o.lr > 0, f"optim.lr must be > 0, got {o.lr}")
    _check(0 <= o.beta1 < 1 and 0 <= o.beta2 < 1, f"optim.beta1/beta2 must be in [0, 1), got {o.beta1}, {o.beta2}")
    _check(o.weight_decay >= 0, f"optim.weight_decay must be >= 0, got {o.weight_decay}")
    _check(o.lr_policy in LR_POLICIES, f"optim.lr_policy {o.lr_policy!r} unknown; use one of {LR_POLICIES}")
    _check(0 <= o.decay_fraction <= 1, f"optim.decay_fraction must be in [0, 1], got {o.decay_fraction}")
    _check(o.grad_clip >= 0, f"optim.grad_clip must be >= 0, got {o.grad_clip}")
    return cfg


def _read_config(path_or_dict) -> dict:
    """The raw {model, data, train} mapping from a YAML path or a dict (copied)."""
    import yaml

    if isinstance(path_or_dict, dict):
        return copy.deepcopy(path_or_dict)
    path = Path(path_or_dict).expanduser()
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping with sections {list(SECTIONS)}")
    return data


def apply_overrides(raw: dict, overrides) -> dict:
    """Apply `section.key[.sub]=value` strings (values parsed by `parse_scalar`) to a raw config mapping."""
    for item in overrides or ():
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form section.key=value (e.g. train.iterations=100)")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        if parts[0] not in SECTIONS or len(parts) < 2:
            raise ConfigError(f"override {key!r} must start with one of {list(SECTIONS)} and name a key, "
                              "e.g. train.iterations=100")
        node = raw
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key!r}: {p!r} is not a config section")
        node[parts[-1]] = parse_scalar(value)
    return raw


def parse_config(path_or_dict, overrides=()):
    """Validate a full config: returns (model config, DataConfig, TrainConfig); errors name the key."""
    from ..data.datasets import DataConfig
    from ..models import config_from_dict

    raw = apply_overrides(_read_config(path_or_dict), overrides)
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"config: unknown section(s) {unknown}; use {list(SECTIONS)}")
    model = dict(raw.get("model") or {})
    if "family" not in model:
        raise ConfigError("config[model]: 'family' is required (e.g. cycle_gan, pix2pix)")
    family = model.pop("family")
    try:
        model_cfg = config_from_dict(family, model)
        data_cfg = from_dict(DataConfig, raw.get("data") or {}, "[data]")
        train_cfg = validate_train_config(from_dict(TrainConfig, raw.get("train") or {}, "[train]"))
    except TypeError as exc:  # a value of the wrong type reached a dataclass or a comparison
        raise ConfigError(f"config: a value has the wrong type ({exc})") from None
    return model_cfg, data_cfg, train_cfg
