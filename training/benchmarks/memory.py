"""Resident memory over many translate calls of varying image sizes, as in a long napari session
or a folder of mixed sizes, against the same number of calls at one size (same process).

    python -m training.benchmarks.memory --calls 1000

Prints RSS after warm-up and after the calls, for a constant 256x256 image and for sizes drawn
uniformly from 200-319 px per side, with the library's defaults.
"""
from __future__ import annotations

import argparse
import resource

import numpy as np


def rss_mb() -> float:
    """Current resident set size (Linux /proc), MB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def run(tr, sizes, calls: int, warm: int = 50) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    for i in range(warm + calls):
        h, w = sizes(rng)
        tr.translate(rng.random((h, w), dtype=np.float32))
        if i == warm - 1:
            start = rss_mb()
    return start, rss_mb()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="cyclegan_t1w_t2w")
    ap.add_argument("--calls", type=int, default=1000)
    args = ap.parse_args(argv)
    import im2im_core

    tr = im2im_core.load(args.model, device="cpu")
    print(f"{args.model}, {args.calls} calls after 50 warm-up calls; RSS in MB")
    print("| sizes | after warm-up | after the calls | growth |\n|---|---|---|---|")
    for name, sizes in (("constant 256 x 256", lambda r: (256, 256)),
                        ("varying 200-319 px", lambda r: tuple(int(v) for v in r.integers(200, 320, 2)))):
        a, b = run(tr, sizes, args.calls)
        print(f"| {name} | {a:.0f} | {b:.0f} | {b - a:+.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
