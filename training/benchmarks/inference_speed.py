"""Inference speed and memory of the ResNet-9 generator: naive eager fp32 vs the Translator path.

Run:  python -m training.benchmarks.inference_speed
Each case runs in its own process so peak RSS (VmHWM; ru_maxrss would include the parent's RSS
at fork) belongs to that case alone. The
naive baseline is `model(x)` under `torch.no_grad()` in fp32, whole image, measured in the
same run. Ratios are naive time / our time.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import subprocess
import sys
import time

CASES = {
    "naive_256": dict(side=256, naive=True),
    "ours_256": dict(side=256, naive=False),
    "ours_256_fp32": dict(side=256, naive=False, precision="fp32"),
    "naive_1024": dict(side=1024, naive=True),
    "ours_1024": dict(side=1024, naive=False),
    "ours_1024_fp32": dict(side=1024, naive=False, precision="fp32"),
    "ours_1024_thumbnail": dict(side=1024, naive=False, norm_stats="thumbnail"),
    "ours_2048": dict(side=2048, naive=False),
}


def run_case(name: str, repeats: int) -> dict:
    import numpy as np
    import torch

    from im2im_core.inference import Translator
    from im2im_core.intensity import Intensity
    from im2im_core.models import build
    from im2im_core.models.generator import GeneratorOnlyConfig
    from im2im_core.nets import GeneratorConfig

    c = CASES[name]
    torch.manual_seed(0)
    model = build(GeneratorOnlyConfig(in_channels=3, out_channels=3, generator=GeneratorConfig(n_blocks=9, ngf=64))).eval()
    side = c["side"]
    times = []
    if c["naive"]:
        x = torch.rand(1, 3, side, side) * 2 - 1
        with torch.no_grad():
            model.netG(x)  # warm-up
            for _ in range(repeats):
                t0 = time.perf_counter()
                model.netG(x)
                times.append(time.perf_counter() - t0)
    else:
        tr = Translator(model, {"intensity": Intensity("dtype")}, torch.device("cpu"), precision=c.get("precision", "auto"))
        img = (np.random.default_rng(0).random((side, side, 3)) * 255).astype(np.uint8)
        kw = dict(norm_stats=c.get("norm_stats", "exact"))  # default tile and overlap
        tr.translate(img[:256, :256], **kw)  # warm-up
        for _ in range(repeats):
            t0 = time.perf_counter()
            tr.translate(img, **kw)
            times.append(time.perf_counter() - t0)
    return {"case": name, "seconds": statistics.median(times), "runs": len(times),
            "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's own high-water RSS (VmHWM) in MB."""
    with open("/proc/self/status") as fh:
        return int(re.search(r"VmHWM:\s+(\d+)", fh.read()).group(1)) / 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=CASES)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args.case, args.repeats)))
        return 0
    res = {}
    for name in CASES:
        reps = args.repeats if CASES[name]["side"] <= 256 else max(1, args.repeats - 1)
        out = subprocess.run([sys.executable, "-m", "training.benchmarks.inference_speed", "--case", name,
                              "--repeats", str(reps)], capture_output=True, text=True, check=True)
        res[name] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  {name:18s} {res[name]['seconds']:7.3f} s   peak RSS {res[name]['peak_rss_mb']:6.0f} MB", flush=True)
    import torch

    print(f"\nResNet-9 generator (ngf=64, 3->3 channels), torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads")
    print("| image | naive eager fp32 | ours (bf16; streamed, exact, above 384 px) | speed-up | ours fp32 | peak RSS naive / ours |")
    print("|---|---|---|---|---|---|")
    for side in (256, 1024):
        n, o, f = res[f"naive_{side}"], res[f"ours_{side}"], res[f"ours_{side}_fp32"]
        print(f"| {side}² | {n['seconds']:.3f} s | {o['seconds']:.3f} s | {n['seconds'] / o['seconds']:.2f}× | "
              f"{f['seconds']:.3f} s | {n['peak_rss_mb']:.0f} / {o['peak_rss_mb']:.0f} MB |")
    e, b = res["ours_1024_thumbnail"], res["ours_2048"]
    print(f"\n1024² with norm_stats='thumbnail' (approximate tiles): {e['seconds']:.2f} s "
          f"({res['naive_1024']['seconds'] / e['seconds']:.2f}× naive), peak RSS {e['peak_rss_mb']:.0f} MB")
    print(f"2048² streamed (exact): {b['seconds']:.2f} s, peak RSS {b['peak_rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
