"""Lesion removal, where a cycle must cheat: CycleGAN against Council-GAN and ACL-GAN.

Domain A: 2 mm axial slices of the real MNI152 T1 template with 1-3 synthetic white-matter lesions;
domain B: lesion-free slices from a disjoint set (im2im_core/data/lesions.py). The held-out slabs
(validation, test) carry lesions and come with the exact lesion-free truth.

    python -m training.benchmarks.lesion_removal --families cycle_gan,council_gan,acl_gan --iterations 4000
    python -m training.benchmarks.lesion_removal --report

Metrics on whole slices ([0, 1] scale): SSIM / PSNR against the truth, over the slice and inside
the lesion masks (mean of the SSIM map there); `residual`: mean |G(x) - truth| in the lesions over
their mean |contrast| (1 = untouched); for families with a way back F (CycleGAN's G_B, ACL-GAN's
G_TS), `recovered`: the fraction of the lesion's signed contrast that F(G(x)) restores,
sum (F(G(x)) - F(G(truth))) * d / sum d^2 over the lesions (d = x - truth), and `sensitivity`:
mean |F(G(x) + n) - F(G(x))| / sigma for Gaussian n of sigma 1/255 (Chu et al. 2017).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .common import (command_line, config_overrides, mean_metrics, ship, slice_metrics, training_arguments,
                     write_json)

FAMILIES = ("cycle_gan", "council_gan", "acl_gan")
RESULTS = Path(__file__).resolve().parent / "results" / "lesion_removal"
SHIP_NAMES = {"acl_gan": "acl_gan_lesions", "council_gan": "council_gan_lesions"}
BACKWARD = {"cycle_gan": "BtoA", "acl_gan": "BtoA"}  # the way back a cycle could use
SIGMA = 1 / 255


def model_config(family: str) -> dict:
    cfgs = {"cycle_gan": {"generator": {"arch": "resnet", "ngf": 32, "n_blocks": 6},
                          "discriminator": {"ndf": 32, "n_layers": 3}},
            "council_gan": {"members": 4, "dim": 24, "n_res": 3, "ndf": 32},
            "acl_gan": {"dim": 32, "n_res": 4, "ndf": 32, "n_scales": 2}}  # 3 scales need 192 px crops
    if family not in cfgs:
        raise SystemExit(f"unknown family {family!r}; choose from {FAMILIES}")
    return {"family": family, "domains": ["lesions", "clean"], **cfgs[family]}


def train_family(family: str, iterations: int, runs: Path, seed: int, settings: tuple) -> Path:
    from im2im_core.engine.factory import train_from_config

    data = {"kind": "lesions", "crop_size": 96, "intensity": {"mode": "fixed", "low": 0.0, "high": 1.0}}
    train = {"iterations": iterations, "batch_size": 1, "seed": seed, "ema": 0.999, "out_dir": str(runs / family),
             "resume": True, "save_every": 100, "keep_last": 2, "sample_every": max(1, iterations // 10),
             "log_every": 50, "progress": False, "tensorboard": False}
    t0 = time.time()
    trainer = train_from_config({"model": model_config(family), "data": data, "train": train}, settings)
    print(f"[{family}] {trainer.result['status']} {trainer.result['iterations']} it in {time.time() - t0:.0f} s",
          flush=True)
    return Path(trainer.result["export"])


def _run(tr, x: np.ndarray, direction: str) -> np.ndarray:
    from im2im_core.data.lesions import SPACING

    y = tr.translate(x, direction=direction, out_dtype="float32", spacing=(1.0, SPACING, SPACING))
    return np.clip(y, 0, 1)


def evaluate(fn, back, split: dict) -> dict:
    """Metrics of a removal fn(x) and, if given, its way back back(y) on one held-out split."""
    x, truth, mask, brain = split["image"], split["truth"], split["mask"], split["brain"]
    y = fn(x)
    rows = []
    for i in range(len(x)):
        m = slice_metrics(y[i], truth[i], mask[i])
        d = np.abs(x[i] - truth[i])[mask[i]]
        m["residual"] = float(np.abs(y[i] - truth[i])[mask[i]].mean() / max(d.mean(), 1e-6))
        m["ssim_brain"] = slice_metrics(y[i], truth[i], brain[i])["ssim_mask"]
        rows.append(m)
    out = mean_metrics(rows)
    if back is not None:
        yt = fn(truth)
        b, bt = back(y), back(yt)
        d = (x - truth) * mask
        out["recovered"] = float(((b - bt) * d).sum() / max((d ** 2).sum(), 1e-12))
        noise = np.random.default_rng(0).normal(0, SIGMA, y.shape).astype(np.float32)
        out["sensitivity"] = float(np.abs(back(y + noise) - b).mean() / SIGMA)
    return out


def evaluate_family(export: Path, family: str, data: dict) -> dict:
    import im2im_core

    tr = im2im_core.load(export, device="cpu")
    fn = lambda x: _run(tr, x, "AtoB")  # noqa: E731
    back = (lambda y: _run(tr, y, BACKWARD[family])) if family in BACKWARD else None
    return {w: evaluate(fn, back, data[w]) for w in ("val", "test")}


def report(results: Path = RESULTS) -> str:
    rows = [json.loads(f.read_text()) for f in sorted(results.glob("*.json"))]
    order = ["identity", *FAMILIES]
    rows.sort(key=lambda r: order.index(r["name"]) if r["name"] in order else 99)
    lines = ["Held-out test slab, whole 2 mm axial T1 slices with synthetic lesions; against the lesion-free truth:", "",
             "| method | SSIM in lesions | PSNR in lesions | SSIM (slice) | PSNR (slice) | lesion contrast left | "
             "recovered by the way back | sensitivity to 1/255 noise | val SSIM in lesions | iterations |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t, v = r["metrics"]["test"], r["metrics"]["val"]
        rec = f"{t['recovered']:.2f}" if "recovered" in t else "-"
        sen = f"{t['sensitivity']:.2f}" if "sensitivity" in t else "-"
        lines.append(f"| {r['name']} | {t['ssim_mask']:.3f} | {t['psnr_mask']:.2f} dB | {t['ssim']:.3f} | "
                     f"{t['psnr']:.2f} dB | {t['residual']:.2f} | {rec} | {sen} | {v['ssim_mask']:.3f} | "
                     f"{r.get('iterations', '-')} |")
    lines += ["", "Commands:", ""] + [f"- {r['name']}: `{r['command']}`" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    training_arguments(ap, "runs/lesion_removal", RESULTS, 4000)
    ap.add_argument("--baselines", action="store_true", help="evaluate identity (the input itself)")
    args = ap.parse_args(argv)
    results = Path(args.results)
    if args.report:
        print(report(results))
        return 0
    from im2im_core.data.lesions import lesion_data

    data = lesion_data()
    cmd = command_line(__spec__.name if __spec__ else "training.benchmarks.lesion_removal", argv)
    if args.baselines:
        metrics = {w: evaluate(lambda x: x, None, data[w]) for w in ("val", "test")}
        write_json(results / "identity.json", {"name": "identity", "metrics": metrics, "command": cmd})
    settings = config_overrides(args.set)
    for fam in filter(None, args.families.split(",")):
        export = Path(args.export) if args.export else train_family(fam, args.iterations, Path(args.runs), args.seed,
                                                                    settings)
        import im2im_core

        iters = im2im_core.load(export, device="cpu").meta["provenance"].get("iterations")
        metrics = evaluate_family(export, fam, data)
        write_json(results / f"{fam}.json", {"name": fam, "metrics": metrics, "iterations": iters,
                                              "settings": list(settings), "command": cmd, "export": str(export)})
        print(fam, json.dumps({w: {k: round(v, 3) for k, v in m.items()} for w, m in metrics.items()}), flush=True)
        if args.ship and fam in SHIP_NAMES:
            short = {k: round(v, 4) for k, v in metrics["test"].items()}
            print("shipped", ship(export, SHIP_NAMES[fam], short, cmd, {"task": "lesion removal, MNI152 T1 2 mm"}))
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
