"""What every golden writer shares: importing an official checkout, seeding, writing the golden."""
from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import torch

GOLDEN_ROOT = Path(__file__).resolve().parents[2] / "tests" / "data" / "official"
SIZES = ((32, 32), (48, 40))  # two image sizes, (H, W), multiples of 8


def parse(repo: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=f"write the {repo} goldens from an official checkout")
    p.add_argument("checkout", help=f"a checkout of https://github.com/{repo}")
    p.add_argument("--commit", default=None, help="the checkout's commit (default: asked of git)")
    return p.parse_args()


def import_official(checkout, module: str, stubs=()):
    """Import `module` from the checkout; `stubs` names modules it imports that only training needs
    (tensorboardX, ...), replaced by empty modules."""
    for name in stubs:
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.path.insert(0, str(checkout))
    try:
        return importlib.import_module(module)
    finally:
        sys.path.remove(str(checkout))


def commit_of(checkout, given=None) -> str:
    if given:
        return given
    try:
        return subprocess.check_output(["git", "-C", str(checkout), "rev-parse", "HEAD"], text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def randomize(module: torch.nn.Module, seed: int) -> None:
    """Seeded weights, every parameter non-trivial (norm affines off 1/0, biases non-zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            fan = p[0].numel() if p.ndim > 1 else 1
            scale = (1.0 / fan) ** 0.5 if p.ndim > 1 else 0.2
            p.copy_(torch.randn(p.shape, generator=g) * scale + (1.0 if p.ndim == 1 and "weight" in name or
                                                                 name.endswith("gamma") else 0.0))


def images(seed: int, channels: int, sizes=SIZES, batch: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(batch, channels, h, w, generator=g) * 2 - 1 for h, w in sizes]


def image_codes(seed: int, channels: int, sizes, batch: int = 1) -> list[tuple[np.ndarray, torch.Tensor]]:
    """Images stored as uint8 codes k (4x smaller goldens) and their values k / 255 * 2 - 1."""
    rng = np.random.default_rng(seed)
    out = []
    for h, w in sizes:
        k = rng.integers(0, 256, (batch, channels, h, w), dtype=np.uint8)
        out.append((k, torch.from_numpy(k.astype(np.float32) / 255 * 2 - 1)))
    return out


def write(name: str, repo: str, commit: str, arrays: dict, info: dict) -> Path:
    """golden.npz (float32 arrays) and meta.json under tests/data/official/<name>/."""
    out = GOLDEN_ROOT / name
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "golden.npz", **{k: v if isinstance(v, np.ndarray) and v.dtype == np.uint8 else
                                               np.asarray(v.detach() if torch.is_tensor(v) else v, np.float32)
                                               for k, v in arrays.items()})
    meta = {"repo": repo, "commit": commit, "torch": torch.__version__, **info}
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return out


def seeded_state_dict(shapes, seed: int) -> dict:
    """Tensors for [(name, shape), ...] drawn in order from one seeded generator: weights ~ N(0, 1/fan_in),
    vectors (biases, norm affines, shaped (C,) or (C, 1, 1)) around 0 or 1. Goldens of official networks
    whose widths are fixed in their code (tens of MB) store the names, shapes and seed instead of the
    weights; the tests redraw them with this function."""
    import math

    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in shapes:
        t = torch.randn(tuple(shape), generator=g)
        vector = len(shape) == 1 or (len(shape) == 3 and list(shape[1:]) == [1, 1])
        fan = (math.prod(shape[1:]) if math.prod(shape[1:]) > 1 else shape[0]) if not vector else 1
        if vector:
            out[name] = t * 0.1 + (1.0 if name.endswith("weight") else 0.0)
        else:
            out[name] = t / math.sqrt(fan)
    return out
