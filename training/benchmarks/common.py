"""Shared pieces of the benchmarks: metrics with a stated convention, shipping a trained model."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).resolve().parents[2] / "im2im_core" / "weights"
#: mask family -> the shipped reconstruction model trained on it
RECON_MODELS = {"gaussian1d": "mri_recon_1dgauss", "poisson2d": "mri_recon_poisson2d"}
#: the classical CS-MRI baselines (im2im_core.mri.cs.METHODS) every reconstruction table reports
CLASSICAL = ("TV", "L1-wavelet")


def slice_metrics(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """PSNR/SSIM/NMSE of one slice on the [0, 1] scale (data_range=1), whole image and in `mask`.

    Convention: both images are on the normalised [0, 1] scale of the ground truth (its volume's
    99.5th percentile in the brain maps to 1), predictions are clipped to [0, 1], and skimage is
    called with an explicit data_range=1. In-mask SSIM is the mean of the SSIM map over the mask.
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    pred = np.clip(pred.astype(np.float64), 0, 1)
    gt = gt.astype(np.float64)
    ssim, smap = structural_similarity(gt, pred, data_range=1.0, full=True)
    out = {"psnr": peak_signal_noise_ratio(gt, pred, data_range=1.0), "ssim": ssim,
           "nmse": float(np.sum((pred - gt) ** 2) / max(np.sum(gt ** 2), 1e-12))}
    if mask is not None and mask.any():
        mse = np.mean((pred[mask] - gt[mask]) ** 2)
        out["psnr_mask"] = float(10 * np.log10(1.0 / max(mse, 1e-12)))
        out["ssim_mask"] = float(smap[mask].mean())
    return out


def mean_metrics(rows: list[dict]) -> dict:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def command_line(module: str, argv=None) -> str:
    """The command that reproduces this run, for the tables and the shipped checkpoints."""
    args = sys.argv[1:] if argv is None else argv
    return "python -m " + " ".join(shlex.quote(a) for a in [module, *args])


def training_arguments(ap, runs: str, results, iterations: int) -> None:
    """The options every training benchmark takes: which families, how long, overrides, where."""
    ap.add_argument("--families", default="")
    ap.add_argument("--iterations", type=int, default=iterations)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="config override (a bare KEY means model.KEY)")
    ap.add_argument("--export", default="", help="evaluate this export instead of training (one family)")
    ap.add_argument("--runs", default=runs)
    ap.add_argument("--results", default=str(results))
    ap.add_argument("--ship", action="store_true", help="copy the evaluated models into im2im_core/weights")
    ap.add_argument("--report", action="store_true", help="only print the table from saved results")


def config_overrides(sets: list[str]) -> tuple[str, ...]:
    """`--set` values as config overrides; a bare KEY=VALUE means model.KEY=VALUE."""
    return tuple(s if s.split("=")[0].split(".")[0] in ("model", "train", "data") else f"model.{s}" for s in sets)


def ship(export_path, name: str, metrics: dict, command: str, extra: dict | None = None, intensity=None) -> Path:
    """Re-save a trained export as a shipped checkpoint (fp16 when fp32 would top 4 MB) with its
    metrics and command; `intensity` replaces the training window (e.g. a percentile window where
    training used data already on [0, 1], so that users' raw scans are scaled the same way)."""
    import torch

    from im2im_core import checkpoint, load

    tr = load(export_path, device="cpu", precision="fp32")
    prov = dict(tr.meta.get("provenance", {}))
    prov.update({"metrics": metrics, "command": command, **(extra or {})})
    big = sum(p.numel() for p in tr.model.parameters()) * 4 > 4e6
    out = checkpoint.save(WEIGHTS / f"{name}.safetensors", tr.model, intensity or tr.intensity, prov,
                          dtype=torch.float16 if big else None, spacing=tr.spacing)
    return out


def write_json(path, data) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2))
