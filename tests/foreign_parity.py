"""Helpers of the official-checkpoint tests: goldens, the Translator on [-1, 1] tensors, round trips."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

import im2im_core

ROOT = Path(__file__).parent / "data" / "official"
TOL = 1e-4  # max abs on [-1, 1], fp32


def golden(name: str):
    """(folder, arrays as tensors, meta) of one golden."""
    folder = ROOT / name
    with np.load(folder / "golden.npz") as z:  # uint8 arrays are image codes k: k / 255 * 2 - 1
        arrays = {k: torch.from_numpy(z[k].astype(np.float32) / 255 * 2 - 1 if z[k].dtype == np.uint8 else z[k])
                  for k in z.files}
    return folder, arrays, json.loads((folder / "meta.json").read_text())


def to_image(x: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) in [-1, 1] -> an (H, W[, C]) float32 image in [0, 255], as the official test scripts read files."""
    img = ((x[0].permute(1, 2, 0).numpy() + 1) / 2 * 255).astype(np.float32)
    return img[..., 0] if img.shape[-1] == 1 else img


def from_image(img: np.ndarray) -> torch.Tensor:
    """The inverse of to_image."""
    img = np.asarray(img, np.float32)
    img = img[..., None] if img.ndim == 2 else img
    return torch.from_numpy(img / 255 * 2 - 1).permute(2, 0, 1)[None]


def translate(tr, x: torch.Tensor, **opts) -> torch.Tensor:
    """tr.translate on a [-1, 1] tensor through the official [0, 255] pre/post-processing."""
    for key in ("style_from",):
        if key in opts and torch.is_tensor(opts[key]):
            opts[key] = to_image(opts[key])
    return from_image(tr.translate(to_image(x), out_dtype="float32", precision="fp32", **opts))


def max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a.float() - b.float()).abs().max())


def assert_bit_identical(a, b, where=""):
    """Nested dicts of tensors with the same keys in the same order and equal bits."""
    if torch.is_tensor(a):
        assert torch.is_tensor(b) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), where
        return
    assert isinstance(a, dict) and isinstance(b, dict), where
    assert list(a) == list(b), f"{where}: keys differ {list(a)[:5]} vs {list(b)[:5]}"
    for k in a:
        assert_bit_identical(a[k], b[k], f"{where}/{k}")


def round_trip(path, tmp_path, config=None, **kw):
    """official -> ours (`im2im import`) -> official (`im2im export --format official`), through the CLI;
    returns (the original object, the exported one)."""
    from im2im_core.cli import main

    if Path(tmp_path).suffix:  # a file name for the exported file (formats whose names carry meaning)
        tmp_path, back = Path(tmp_path).parent, Path(tmp_path)
        tmp_path.mkdir(parents=True, exist_ok=True)
    else:
        back = tmp_path / f"back{Path(path).suffix}"
    ours = tmp_path / "imported.safetensors"
    args = ["import", str(path), "-o", str(ours)] + (["--config", str(config)] if config is not None else [])
    for k, v in kw.items():
        args += [f"--{k.replace('_', '-')}", str(v)]  # e.g. set="encoder=..." -> --set encoder=...
    assert main(args) == 0
    assert main(["export", str(ours), "-o", str(back), "--format", "official"]) == 0
    return torch.load(path, weights_only=True), torch.load(back, weights_only=True)


def load(name: str, config=None, **kw):
    return im2im_core.load(ROOT / name / kw.pop("file"), device="cpu", precision="fp32", config=config, **kw)
