"""Folders: `im2im translate FOLDER` (model loaded once, same-sized images batched) against a
loop that runs the CLI once per file, in the same run.

Run:  python -m training.benchmarks.folder_speed [--files 200] [--loop-files 20] [--model cyclegan_t1w_t2w]

The folder holds `--files` 256² grayscale PNGs (crops of scikit-image's photos at varying
brightness). The per-file loop runs on the first `--loop-files` of them (each call pays Python,
torch and model start-up, so the full 200 would take many minutes); both report images per second.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_folder(folder: Path, n: int) -> None:
    import imageio.v3 as iio
    from skimage import data

    photos = [data.camera(), data.coins(), data.moon(), data.brick(), data.grass(), data.gravel()]  # all >= 256²
    g = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(n):
        p = photos[i % len(photos)]
        y, x = g.integers(0, p.shape[0] - 256 + 1), g.integers(0, p.shape[1] - 256 + 1)
        crop = p[y:y + 256, x:x + 256].astype(np.float32) * g.uniform(0.6, 1.0)
        iio.imwrite(folder / f"img{i:04d}.png", crop.clip(0, 255).astype(np.uint8))


def cli(*args) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "im2im_core", "translate", *map(str, args)], check=True,
                   capture_output=True)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--loop-files", type=int, default=20)
    ap.add_argument("--model", default="cyclegan_t1w_t2w")
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        make_folder(src, args.files)
        common = ["--direction", "AtoB", "--device", "cpu"]
        folder = cli(args.model, src, "-o", Path(tmp) / "out", "--batch-size", args.batch_size, *common)
        one = cli(args.model, src, "-o", Path(tmp) / "out1", "--batch-size", 1, *common)
        files = sorted(src.iterdir())[: args.loop_files]
        loop = sum(cli(args.model, f, "-o", Path(tmp) / "loop", *common) for f in files)
    rate_folder, rate_one, rate_loop = args.files / folder, args.files / one, len(files) / loop
    print(f"{args.files} PNGs at 256², model {args.model}:\n")
    print("| run | images/s | vs the per-file CLI loop |")
    print("|---|---|---|")
    print(f"| one call on the folder, batches of {args.batch_size} | {rate_folder:.1f} | {rate_folder / rate_loop:.1f}× |")
    print(f"| one call on the folder, batches of 1 | {rate_one:.1f} | {rate_one / rate_loop:.1f}× |")
    print(f"| the CLI once per file ({len(files)} files) | {rate_loop:.2f} | 1.0× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
