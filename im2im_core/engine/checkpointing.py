"""Training checkpoints for exact resume, safe to load, written atomically.

A checkpoint is one `torch.save` file of tensors and plain containers only (state dicts, ints,
floats, strings, lists), so it is read back with `torch.load(weights_only=True)`: nothing in it
can execute code. It holds the nets, optimizers, LR schedulers, EMA generators, image pools, the
iteration, every RNG state, and the model/train configs. Each file is written with
`atomic_write` (temp file, fsync, rename), then `latest.json` is rewritten atomically to name
it, then older files beyond `keep_last` are removed -- a kill at any moment leaves only complete
files, and `latest.json` always names one of them.
"""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import torch

from ..io import atomic_write, safe_torch_load
from ..config import to_dict
from ..errors import CheckpointError, Im2ImError

FORMAT = "napari-im2im-train"
FORMAT_VERSION = 1
LATEST = "latest.json"
_NAME = re.compile(r"^ckpt_(\d+)\.pt$")


def checkpoint_name(step: int) -> str:
    """File name of the checkpoint taken after `step` iterations."""
    return f"ckpt_{step:08d}.pt"


# ---- RNG states as tensors/lists (weights_only-loadable) ----------------------------------------
def rng_state() -> dict:
    """Python, numpy, torch CPU (and CUDA) generator states as tensors and plain values."""
    version, mt, gauss = random.getstate()
    _, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": {"version": version, "state": torch.tensor(mt, dtype=torch.int64), "gauss": gauss},
             "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Inverse of `rng_state` (CUDA states only when the same number of GPUs is present)."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state(("MT19937", npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


# ---- files -------------------------------------------------------------------------------------
def list_checkpoints(ckpt_dir) -> list[tuple[int, Path]]:
    """(step, path) of every complete checkpoint file, oldest first."""
    d = Path(ckpt_dir)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def find_latest(ckpt_dir) -> Path | None:
    """The file `latest.json` names; if it is missing, the newest checkpoint file."""
    d = Path(ckpt_dir)
    pointer = d / LATEST
    if pointer.is_file():
        try:
            path = d / json.loads(pointer.read_text())["checkpoint"]
            # never follow a pointer out of the run folder (../, an absolute path, a symlink)
            if path.is_file() and path.resolve().parent == d.resolve():
                return path
        except (OSError, ValueError, KeyError, TypeError):
            pass  # fall back to scanning: every ckpt_*.pt file is complete (atomic writes)
    found = list_checkpoints(d)
    return found[-1][1] if found else None


def save_checkpoint(ckpt_dir, state: dict, keep_last: int = 3) -> Path:
    """Write `state` atomically as ckpt_<step>.pt, point latest.json at it, prune old files."""
    d = Path(ckpt_dir)
    path = d / checkpoint_name(int(state["step"]))
    atomic_write(path, lambda tmp: torch.save(state, tmp))
    pointer = json.dumps({"checkpoint": path.name, "step": int(state["step"])})
    atomic_write(d / LATEST, lambda tmp: Path(tmp).write_text(pointer))
    for _, old in list_checkpoints(d)[:-keep_last]:
        if old != path:
            old.unlink(missing_ok=True)
    return path


def load_checkpoint(path) -> dict:
    """Read a training checkpoint with torch.load(weights_only=True) and check its format."""
    path = Path(path)
    state = safe_torch_load(path, "training checkpoint")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a napari-im2im training checkpoint")
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has training-checkpoint format {state.get('format_version')!r}; "
                              f"this version reads {FORMAT_VERSION}")
    return state


def make_out_dir(path: Path) -> Path:
    """Create the run folder, or a ConfigError naming train.out_dir (under a file, read-only, ...)."""
    import tempfile

    from ..errors import ConfigError

    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        reason = "it is not writable" if isinstance(exc, PermissionError) else (exc.strerror or type(exc).__name__)
        raise ConfigError(f"train.out_dir {str(path)!r} cannot hold the run: {reason}") from None
    return path


def clean_stale_temps(directory) -> list[Path]:
    """Remove temp files an interrupted write left behind: atomic_write's hidden `.*.tmp` and
    the `.tmpXXXXXX` files safetensors itself writes through."""
    d = Path(directory)
    stale = [p for p in d.iterdir() if p.is_file() and p.name.startswith(".")
             and (p.name.endswith(".tmp") or re.fullmatch(r"\.tmp\w{6}", p.name))] if d.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


# ---- state <-> objects ---------------------------------------------------------------------------
def capture(model, schedulers: dict, ema: dict, step: int, train_cfg, extra: dict | None = None) -> dict:
    """Everything needed to continue training exactly, as tensors and plain containers."""
    state = {"format": FORMAT, "format_version": FORMAT_VERSION, "family": model.family,
             "model_config": model.config_dict(), "train_config": to_dict(train_cfg), "step": int(step),
             "nets": model.state_dict(),
             "optimizers": {n: o.state_dict() for n, o in model.optimizers.items()},
             "schedulers": {n: s.state_dict() for n, s in schedulers.items()},
             "ema": {n: m.state_dict() for n, m in ema.items()},
             "extra_state": model.extra_state(), "rng": rng_state()}
    state.update(extra or {})
    return state


def _to_device(obj, device):
    """Move every tensor of a nested container to `device` (pools must live with the model)."""
    if torch.is_tensor(obj):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(v, device) for v in obj)
    return obj


def saved_config(state: dict) -> dict:
    """The checkpoint's model config as this version reads it: renamed keys under their new names
    and fields added since it was written at their defaults (as they were when it trained)."""
    from ..models import config_from_dict

    try:
        return to_dict(config_from_dict(state["family"], state["model_config"], warn_renamed=False))
    except Im2ImError:
        return state["model_config"]


def restore(state: dict, model, schedulers: dict, ema: dict, device) -> int:
    """Load a captured state into live objects; returns the iteration to continue from."""
    if state["family"] != model.family:
        raise CheckpointError(f"checkpoint was trained with family {state['family']!r}, not {model.family!r}")
    saved, now = saved_config(state), model.config_dict()
    if saved != now:
        diff = {k: (saved.get(k), now.get(k)) for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k)}
        raise CheckpointError(f"checkpoint was trained with a different {model.family} config (field: "
                              f"(checkpoint, now)) {diff}; resume with the config it was saved with")
    model.load_state_dict(state["nets"])
    for name, opt in model.optimizers.items():
        opt.load_state_dict(state["optimizers"][name])
    for name, sched in schedulers.items():
        sched.load_state_dict(state["schedulers"][name])
        # the schedule may have been lengthened: recompute this iteration's lr from the new one
        for group, base, fn in zip(sched.optimizer.param_groups, sched.base_lrs, sched.lr_lambdas):
            group["lr"] = base * fn(sched.last_epoch)
    missing = set(ema) - set(state.get("ema", {}))
    for name, module in ema.items():
        module.load_state_dict(state["ema"][name] if name not in missing else getattr(model, name).state_dict())
    model.load_extra_state(_to_device(state.get("extra_state", {}), device))
    set_rng_state(state["rng"])
    return int(state["step"])
