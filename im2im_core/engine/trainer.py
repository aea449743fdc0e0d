"""The one training loop for every family (configs become Trainers in `engine.config`).

Reproducibility: before each iteration every RNG (python, numpy, torch) is reseeded from
(seed, iteration, rank), and the data order is a pure function of (seed, epoch), so a run resumed
from a checkpoint draws exactly the samples, crops, pool choices and dropout masks an
uninterrupted run draws, and ends with bit-identical weights (on CPU; cuDNN may differ).
"""
from __future__ import annotations

import contextlib
import copy
import math
import random
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..config import to_dict
from ..errors import CheckpointError, ConfigError, InputError, NonFiniteLoss
from ..intensity import Intensity
from . import checkpointing as ckpt
from .config import TrainConfig, validate_train_config
from .distributed import DistContext, init_distributed
from .logging import RunLog, visual_grid
from ..device import bf16_supported

# ---- randomness and data order ------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def step_seed(seed: int, step: int, rank: int = 0) -> int:
    """A well-mixed 63-bit seed for one (run seed, iteration, rank)."""
    a, b = np.random.SeedSequence([seed % 2**63, step, rank]).generate_state(2)
    return ((int(a) << 32) | int(b)) & (2**63 - 1)


@lru_cache(maxsize=4)
def _permutation(n: int, seed: int, epoch: int) -> tuple[int, ...]:
    """The shuffled order of one epoch, a function of (seed, epoch) only."""
    g = torch.Generator().manual_seed(step_seed(seed, epoch, 1 << 20))
    return tuple(torch.randperm(n, generator=g).tolist())


def sample_indices(n: int, batch_size: int, step: int, seed: int, rank: int = 0, world: int = 1) -> list[int]:
    """Dataset indices of one rank's batch at `step`: epochs of shuffled order, sharded by rank."""
    out = []
    for j in range(batch_size):
        epoch, pos = divmod((step * world + rank) * batch_size + j, n)
        out.append(_permutation(n, seed, epoch)[pos])
    return out


def lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    """Multiplier of the base lr at iteration s for the configured policy."""
    total, policy = cfg.iterations, cfg.optim.lr_policy
    start = int(round(total * (1.0 - cfg.optim.decay_fraction)))
    span = float(total - start + 1)

    def f(s: int) -> float:
        if policy == "constant" or s + 1 < start:
            return 1.0
        done = min(1.0, max(0.0, (s + 1 - start) / span))
        return 1.0 - done if policy == "linear" else 0.5 * (1.0 + math.cos(math.pi * done))

    return f


def compile_networks(model: torch.nn.Module) -> None:
    """torch.compile, in place, each network a family calls: its children, or the members of a
    ModuleDict/ModuleList child (UNIT's encoders and generators). State-dict keys are unchanged."""
    for child in model.children():
        members = child.children() if isinstance(child, (torch.nn.ModuleDict, torch.nn.ModuleList)) else [child]
        for net in members:
            if any(True for _ in net.parameters()):
                net.compile()


def fuse_adam(optimizers: dict) -> dict:
    """Switch the families' Adam optimizers to PyTorch's fused kernel (one kernel for all
    parameters: a CycleGAN's Adam step takes 12 ms instead of 31 ms on one CPU thread)."""
    for opt in optimizers.values():
        if type(opt) is not torch.optim.Adam or opt.defaults.get("differentiable"):
            continue
        params = [p for g in opt.param_groups for p in g["params"]]
        if not params or any(p.device.type not in ("cpu", "cuda") or not p.is_floating_point() for p in params):
            continue
        for group in [opt.defaults, *opt.param_groups]:
            group["fused"], group["foreach"] = True, False
        opt._step_supports_amp_scaling = True
    return optimizers


# ---- checks before training ----------------------------------------------------------------------
def check_data(model, dataset) -> None:
    """Fail before training when the data cannot feed this model (pairs, channels, sizes)."""
    if len(dataset) == 0:
        raise InputError("the training dataset is empty")
    if getattr(model, "needs_pairs", False) and not getattr(dataset, "paired", False):
        raise ConfigError(f"{model.family} needs paired data; use data.kind 'aligned' (or paired: true for nifti/mni)")
    multi_model, multi_data = getattr(model, "multi_domain", False), getattr(dataset, "multi_domain", False)
    if multi_model != multi_data:
        if multi_model:
            raise ConfigError(f"{model.family} trains on N domains at once: give multi-domain data (folders in "
                              "data.dirs, one per domain, or kind mni; in Python MultiDomainArrays/MultiDomainFolders)")
        raise ConfigError(f"{model.family} translates between two domains A and B; multi-domain data "
                          f"({', '.join(dataset.domains)}) is for families such as stargan")
    if getattr(model, "captioned", False) and not getattr(dataset, "captioned", False):
        raise ConfigError(f"{model.family} learns from images with captions: give a CaptionedArrays dataset")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        item = dataset[0]
    if multi_model:
        want = tuple(model.config.domains)
        if tuple(dataset.domains) != want:
            raise ConfigError(f"the data's domains {list(dataset.domains)} differ from the model's {list(want)} "
                              "(names and label order must match)")
    for key, want in zip(("image",) if multi_model else ("A", "B"), model.channels("AtoB")):
        if key not in item:
            raise InputError(f"dataset items lack domain {key!r}")
        t = item[key]
        if t.ndim != 3 or t.shape[0] != want:
            raise ConfigError(f"domain {key} images have shape {tuple(t.shape)} (C, H, W) but the model expects "
                              f"{want} channel(s); set model in_channels/out_channels to match the data")
        m = model.size_multiple()
        if t.shape[-2] % m or t.shape[-1] % m:
            raise ConfigError(f"domain {key} training images are {t.shape[-2]}x{t.shape[-1]} but this {model.family} "
                              f"generator needs sides that are a multiple of {m}; set data.crop_size (or "
                              f"data.load_size) to a multiple of {m}")


# ---- the loop -------------------------------------------------------------------------------------
class Trainer:
    """Trains any family: `Trainer(model, dataset, train_cfg, intensity, data_description).fit()`.

    `callback(step, losses)` is called after every iteration (live loss display) and
    `should_stop()` before each one (a GUI Stop button): stopping saves a checkpoint first.
    """

    def __init__(self, model, dataset, train_cfg: TrainConfig | None = None, intensity: Intensity | None = None,
                 data_description: str = "", *, callback: Callable[[int, dict], None] | None = None,
                 should_stop: Callable[[], bool] | None = None):
        self.cfg = validate_train_config(train_cfg or TrainConfig())
        self.dataset = dataset
        self.intensity = intensity or getattr(dataset, "intensity", None) or Intensity()
        self.data_description = data_description or getattr(dataset, "description", "")
        self.spacing = getattr(dataset, "spacing", None)  # the pixel size the model learns at, if known
        self.callback, self.should_stop = callback, should_stop
        check_data(model, dataset)
        model.prepare_data(dataset)
        self.dist: DistContext = init_distributed(self.cfg.device)
        self.device = self.dist.device
        self.model = model.to(self.device).train()
        self.dist.broadcast_module(self.model)
        model.optimizers = fuse_adam(model.configure_optimizers(self.cfg))
        model.grad_clip = self.cfg.optim.grad_clip
        model.grad_sync = self.dist.grad_sync if self.dist.enabled else None
        self.schedulers = {n: torch.optim.lr_scheduler.LambdaLR(o, lr_lambda(self.cfg)) for n, o in model.optimizers.items()}
        self.ema = ({n: copy.deepcopy(getattr(model, n)).requires_grad_(False) for n in model.generator_names}
                    if self.cfg.ema > 0 else {})
        self.use_bf16 = bool(self.cfg.bf16) and bf16_supported(self.device)
        self.memory_format = torch.channels_last if self.cfg.channels_last else torch.contiguous_format
        if self.cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if self.cfg.compile:
            compile_networks(self.model)
        self.out_dir = Path(self.cfg.out_dir).expanduser()
        self.ckpt_dir = self.out_dir / "checkpoints"
        self.export_path = self.out_dir / "model.safetensors"
        self.step = 0
        self.last_checkpoint: Path | None = None
        self.last_losses: dict[str, float] = {}

    # ---- state ------------------------------------------------------------------------------
    def save(self) -> Path | None:
        """Write a training checkpoint and the inference export (rank 0); refuses NaN weights."""
        bad = [n for n, p in self.model.named_parameters() if not torch.isfinite(p).all()]
        if bad:
            raise NonFiniteLoss(f"after iteration {self.step}: parameters {bad[:3]} became NaN/Inf")
        if not self.dist.is_main:
            return None
        extra = {"intensity": to_dict(self.intensity), "data_description": self.data_description}
        state = ckpt.capture(self.model, self.schedulers, self.ema, self.step, self.cfg, extra)
        self.last_checkpoint = ckpt.save_checkpoint(self.ckpt_dir, state, self.cfg.keep_last)
        self.export()
        return self.last_checkpoint

    def export(self, path=None) -> Path:
        """Inference `.safetensors` (EMA generators when enabled) that `im2im_core.load` opens."""
        from ..checkpoint import save

        prov = {"iterations": self.step, "data": self.data_description, "ema": bool(self.ema),
                "trained_with": "im2im_core.engine.trainer"}
        swapped = {n: self.model._modules[n] for n in self.ema}
        self.model._modules.update(self.ema)
        try:
            return save(path or self.export_path, self.model, self.intensity, prov, spacing=self.spacing)
        finally:
            self.model._modules.update(swapped)

    def load(self, path) -> int:
        """Restore a training checkpoint into this trainer; returns its iteration."""
        state = ckpt.load_checkpoint(path)
        self.step = ckpt.restore(state, self.model, self.schedulers, self.ema, self.device)
        self.last_checkpoint = Path(path)
        return self.step

    def _refresh_export(self) -> None:
        """Rewrite the export when it is missing or older than the resumed checkpoint (a kill between
        the checkpoint and the export would otherwise leave it stale for good)."""
        from ..checkpoint import read_metadata

        if self.last_checkpoint is None or not self.dist.is_main:
            return
        try:
            done = read_metadata(self.export_path).get("provenance", {}).get("iterations")
        except (CheckpointError, OSError):
            done = None
        if done != self.step:
            self.export()

    def _resume(self, resume) -> None:
        """resume=True/"latest": out_dir's latest checkpoint if any; a path: that file."""
        if isinstance(resume, str) and resume.lower() not in ("latest", "true", "auto"):
            self.load(resume)
            return
        latest = ckpt.find_latest(self.ckpt_dir)
        if latest is None:
            return
        try:
            self.load(latest)
        except CheckpointError as exc:  # a damaged newest file: resume from the newest intact one
            older = [p for _, p in reversed(ckpt.list_checkpoints(self.ckpt_dir)) if p != latest]
            for path in older:
                try:
                    self.load(path)
                except CheckpointError:
                    continue
                warnings.warn(f"{exc}; resumed from {path.name} instead", stacklevel=2)
                return
            raise

    # ---- one iteration ----------------------------------------------------------------------
    def _batch(self, step: int) -> dict:
        """This rank's batch for `step`, on the device (order fixed by seed and step)."""
        from ..data.datasets import collate

        idx = sample_indices(len(self.dataset), self.cfg.batch_size, step, self.cfg.seed, self.dist.rank,
                             self.dist.world_size)
        batch = collate([self.dataset[i] for i in idx])
        return {k: (v.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
                    if torch.is_tensor(v) and v.ndim == 4 else v.to(self.device) if torch.is_tensor(v) else v)
                for k, v in batch.items()}

    def _autocast(self):
        """bf16 autocast around the forward passes when enabled and the device has bf16."""
        if not self.use_bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def ema_decay(self, step: int) -> float:
        """EMA decay used after iteration `step` (0-based); warm-up as in TF's ExponentialMovingAverage."""
        if not self.cfg.ema_warmup:
            return self.cfg.ema
        return min(self.cfg.ema, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def _ema_update(self) -> None:
        """ema <- decay * ema + (1 - decay) * live, buffers copied."""
        decay = self.ema_decay(self.step)
        for name, ema in self.ema.items():
            live = getattr(self.model, name)
            params = list(ema.parameters())
            if params:  # a buffers-only module (a fitted intensity mapping) has none
                torch._foreach_lerp_(params, list(live.parameters()), 1.0 - decay)
            for eb, lb in zip(ema.buffers(), live.buffers()):
                eb.copy_(lb)

    def _samples(self, batch: dict, log: RunLog) -> None:
        """PNG grid of the family's visuals on the current batch, in eval mode."""
        self.model.eval()
        try:
            with torch.no_grad(), self._autocast():
                vis = self.model.visuals(batch)
        finally:
            self.model.train()
        if vis:
            log.image(self.step, visual_grid(vis))

    def train_one(self) -> dict[str, float]:
        """Run iteration `self.step` (seeded from it) and advance the counter."""
        torch.manual_seed(s := step_seed(self.cfg.seed, self.step, self.dist.rank))
        random.seed(s)
        np.random.seed(s % 2**32)
        batch = self._batch(self.step)
        try:
            with self._autocast():
                losses = self.model.train_step(batch, self.step)
        except NonFiniteLoss as exc:
            raise NonFiniteLoss(f"at iteration {self.step + 1}: {exc}") from None
        self.dist.sync_buffers(self.model)
        self.last_lr = self._lr()
        with warnings.catch_warnings():  # an optimizer that steps every k-th iteration (n_critic) has not yet
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
            for sched in self.schedulers.values():
                sched.step()
        self._ema_update()
        self.step += 1
        self._last_batch = batch
        return losses

    # ---- the loop ------------------------------------------------------------------------------
    def fit(self, resume: bool | str | None = None) -> dict:
        """Train to `iterations` (or until stopped); returns a summary dict."""
        resume = self.cfg.resume if resume is None else resume
        if resume:
            self._resume(resume)
            self._refresh_export()
        log = self._open_log()
        from tqdm.auto import tqdm

        bar = tqdm(total=self.cfg.iterations, initial=self.step, desc=self.model.family, dynamic_ncols=True,
                   disable=not (self.dist.is_main and self.cfg.progress))
        saved_at, status = self.step if self.last_checkpoint else None, "completed"
        if self.step >= self.cfg.iterations and self.last_checkpoint is not None:
            warnings.warn(f"the run is already at iteration {self.step} and train.iterations is "
                          f"{self.cfg.iterations}: nothing to train; raise train.iterations to continue", stacklevel=2)
        try:
            while self.step < self.cfg.iterations:
                if self.should_stop is not None and self.should_stop():
                    status = "stopped"
                    break
                if self._after_step(self.train_one(), log, bar):
                    saved_at = self.step
            if saved_at != self.step:  # the end, or Stop: never lose finished iterations
                self.save()
        except NonFiniteLoss as exc:
            kept = self.last_checkpoint or "none (no checkpoint was saved before)"
            raise NonFiniteLoss(f"training stopped {exc}; last good checkpoint kept: {kept}") from None
        finally:
            bar.close()
            if log is not None:
                log.close()
        self.dist.barrier()
        return {"status": status, "iterations": self.step, "checkpoint": self.last_checkpoint,
                "export": self.export_path if self.dist.is_main else None, "losses": self.last_losses}

    def _open_log(self) -> RunLog | None:
        """Rank 0: create out_dir, drop temp files a killed run left, open the CSV/TensorBoard log."""
        if not self.dist.is_main:
            return None
        ckpt.make_out_dir(self.out_dir)
        ckpt.clean_stale_temps(self.ckpt_dir)
        ckpt.clean_stale_temps(self.out_dir)
        return RunLog(self.out_dir, self.step, self.cfg.tensorboard)

    def _after_step(self, losses: dict, log: RunLog | None, bar) -> bool:
        """Log, sample, save when due, call the callback; True when a checkpoint was saved."""
        cfg, step = self.cfg, self.step
        self.last_losses = losses
        bar.update(1)
        if log is not None:
            log.add(losses)
            if step % cfg.log_every == 0 or step == cfg.iterations:
                means = log.flush(step, self.last_lr)
                bar.set_postfix({k: f"{v:.3g}" for k, v in means.items()}, refresh=False)
            if cfg.sample_every and (step % cfg.sample_every == 0 or step == 1):
                self._samples(self._last_batch, log)
        saved = bool(cfg.save_every and step % cfg.save_every == 0)
        if saved:
            self.save()
        if self.callback is not None:
            self.callback(step, losses)
        return saved

    def _lr(self) -> float:
        """Current lr of the first optimizer, for the log."""
        return float(next(iter(self.model.optimizers.values())).param_groups[0]["lr"])
