"""Large images: the streamed (exact) path against one whole-image pass of the same model.

Run:  python -m training.benchmarks.large_images [--sizes 1024 2048 4096] [--models resnet9 cyclegan_t1w_t2w]
      python -m training.benchmarks.large_images --zarr 8192 [--models cyclegan_t1w_t2w]

For every model and size, one fresh process runs the whole image in one `model(x)` call (the
reference, where it fits in memory) and another runs `Translator.translate` streamed layer by
layer over row strips (im2im_core.stream; the default above 1024 px, forced here at every size
with tile=256). Each
prints its time and its own peak RSS (VmHWM); the parent compares the two outputs (PSNR on [0, 1],
largest pixel error) and prints the time ratio. Both sides run at the Translator's precision
(bf16 where the CPU has it) unless --precision fp32.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MODELS = ("resnet9", "cyclegan_t1w_t2w", "unit_t1w_t2w", "attention_t1w_t2w", "pix2pix_t1w_t2w")


def translator(name: str, precision: str):
    import torch

    import im2im_core
    from im2im_core.inference import Translator
    from im2im_core.intensity import Intensity
    from im2im_core.models import build
    from im2im_core.models.generator import GeneratorOnlyConfig
    from im2im_core.nets import GeneratorConfig

    if name == "resnet9":  # junyanz's resnet_9blocks layout (what a .pth import builds), 3 -> 3 channels
        torch.manual_seed(0)
        model = build(GeneratorOnlyConfig(in_channels=3, out_channels=3, generator=GeneratorConfig(n_blocks=9, ngf=64)))
        return Translator(model, {"intensity": Intensity("dtype")}, torch.device("cpu"), precision)
    return im2im_core.load(name, device="cpu", precision=precision)


def image(name: str, side: int) -> np.ndarray:
    """A smooth test image with noise (every layer's statistics depend on all of it): float32 in
    [0, 1] for the 1-channel MRI models, an 8-bit RGB photo-like image for the ResNet-9."""
    g = np.random.default_rng(0)
    yy, xx = np.mgrid[:side, :side] / side
    base = 0.5 + 0.3 * np.sin(23 * xx + 5 * yy ** 2) * np.cos(17 * yy) + 0.05 * g.standard_normal((side, side))
    img = np.clip(base, 0, 1).astype(np.float32)
    if name == "resnet9":
        return (np.stack([img, img[::-1], img[:, ::-1]], -1) * 255).round().astype(np.uint8)
    return img


def peak_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return int(re.search(r"VmHWM:\s+(\d+)", fh.read()).group(1)) / 1024


def run_case(name: str, side: int, mode: str, precision: str, out: str) -> dict:
    tr = translator(name, precision)
    img = image(name, side)
    rgb = True if img.ndim == 3 else None
    kw = dict(out_dtype="float32", resample=False, rgb=rgb)  # outputs compared on [0, 1] (resnet9: / 255)
    if len(tr.directions()) > 1:
        kw["direction"] = tr.directions()[0]
    kw["tile"] = side if mode == "whole" else 256  # one pass over the whole image, or streamed
    t0 = time.perf_counter()
    y = tr.translate(img, **kw)
    seconds = time.perf_counter() - t0
    np.save(out, y)
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def make_zarr(path: str, side: int) -> None:
    """A uint16 OME-Zarr test image of side x side, written a band of chunk rows at a time."""
    from im2im_core.chunked import create_ome_zarr

    axes = [{"name": "y", "type": "space", "unit": "millimeter"}, {"name": "x", "type": "space", "unit": "millimeter"}]
    arr = create_ome_zarr(path, (side, side), np.uint16, (1024, 1024), axes, (1.0, 1.0))
    g = np.random.default_rng(0)
    xx = np.arange(side) / side
    for r0 in range(0, side, 1024):
        yy = (np.arange(r0, min(side, r0 + 1024)) / side)[:, None]
        band = 0.5 + 0.3 * np.sin(23 * xx + 5 * yy ** 2) * np.cos(17 * yy) + 0.05 * g.standard_normal((len(yy), side))
        arr[r0:r0 + len(yy)] = (np.clip(band, 0, 1) * 60000).astype(np.uint16)


def run_zarr_case(name: str, src: str, dst: str, precision: str) -> dict:
    from im2im_core.chunked import translate_zarr

    tr = translator(name, precision)
    t0 = time.perf_counter()
    translate_zarr(tr, src, dst, tr.directions()[0] if len(tr.directions()) > 1 else None)
    return {"seconds": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb()}


def zarr_table(models, side: int, precision: str) -> None:
    print(f"\nOME-Zarr {side}² uint16 (chunks 1024²) -> OME-Zarr, `translate_zarr` in a fresh process:\n")
    print("| model | time | peak RSS |")
    print("|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        src = str(Path(tmp) / "in.zarr")
        subprocess.run([sys.executable, "-m", "training.benchmarks.large_images", "--make-zarr", src, str(side)], check=True)
        for name in models:
            dst = str(Path(tmp) / f"{name}.zarr")
            p = subprocess.run([sys.executable, "-m", "training.benchmarks.large_images", "--precision", precision,
                                "--zarr-case", name, src, dst], capture_output=True, text=True)
            if p.returncode:
                print(p.stderr[-2000:], file=sys.stderr)
                print(f"| {name} | failed | |")
                continue
            r = json.loads(p.stdout.strip().splitlines()[-1])
            print(f"| {name} | {r['seconds']:.1f} s | {r['peak_rss_mb']:.0f} MB |", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--sizes", nargs="+", type=int, default=[1024, 2048, 4096])
    ap.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    ap.add_argument("--no-whole", nargs="*", type=int, default=[], metavar="SIZE",
                    help="sizes at which the whole-image reference is skipped (too large for memory)")
    ap.add_argument("--zarr", type=int, metavar="SIDE", help="only the OME-Zarr case, at this side")
    ap.add_argument("--case", nargs=4, metavar=("MODEL", "SIZE", "MODE", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--make-zarr", nargs=2, metavar=("PATH", "SIDE"), help=argparse.SUPPRESS)
    ap.add_argument("--zarr-case", nargs=3, metavar=("MODEL", "SRC", "DST"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.make_zarr:
        make_zarr(args.make_zarr[0], int(args.make_zarr[1]))
        return 0
    if args.zarr_case:
        print(json.dumps(run_zarr_case(*args.zarr_case, args.precision)))
        return 0
    if args.zarr:
        zarr_table(args.models if args.models != list(MODELS) else ["cyclegan_t1w_t2w"], args.zarr, args.precision)
        return 0
    if args.case:
        name, side, mode, out = args.case
        print(json.dumps(run_case(name, int(side), mode, args.precision, out)))
        return 0
    print("| model | size | whole image | streamed | time ratio | PSNR | max error | peak RSS whole / streamed |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            for side in args.sizes:
                res = {}
                for mode in ("whole", "stream"):
                    if mode == "whole" and side in args.no_whole:
                        continue
                    out = str(Path(tmp) / f"{mode}.npy")
                    p = subprocess.run([sys.executable, "-m", "training.benchmarks.large_images", "--precision",
                                        args.precision, "--case", name, str(side), mode, out],
                                       capture_output=True, text=True)
                    if p.returncode:
                        print(p.stderr[-2000:], file=sys.stderr)
                        res[mode] = None
                        continue
                    res[mode] = json.loads(p.stdout.strip().splitlines()[-1])
                    res[mode]["y"] = np.load(out)
                w, s = res.get("whole"), res.get("stream")
                if s is None:
                    print(f"| {name} | {side}² | - | failed | | | | |", flush=True)
                    continue
                if w is None:
                    print(f"| {name} | {side}² | not run | {s['seconds']:.2f} s | | | | - / {s['peak_rss_mb']:.0f} MB |",
                          flush=True)
                    continue
                scale = 255.0 if name == "resnet9" else 1.0
                err = np.abs(w["y"].astype(np.float64) - s["y"]) / scale
                psnr = 10 * np.log10(1.0 / max(np.mean(err ** 2), 1e-30))
                print(f"| {name} | {side}² | {w['seconds']:.2f} s | {s['seconds']:.2f} s | "
                      f"{s['seconds'] / w['seconds']:.2f}× | {psnr:.1f} dB | {err.max():.4f} | "
                      f"{w['peak_rss_mb']:.0f} / {s['peak_rss_mb']:.0f} MB |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
