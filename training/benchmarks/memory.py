"""Resident memory over many translate calls of varying image sizes, as in a long napari session
or a folder of mixed sizes, against the same number of calls at one size.

    python -m training.benchmarks.memory --calls 1000
    python -m training.benchmarks.memory --calls 1000 --record   # also write results/memory.json

Each setting runs in a fresh process (oneDNN reads its cache size once): the library's defaults
(oneDNN primitive cache capped at 64, the heap trimmed after each call) and the earlier behaviour
(oneDNN's default cache of 1024, no trim). Sizes are drawn uniformly from 200-319 px per side.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "memory.json"
SETTINGS = {"library defaults": {},
            "before (oneDNN cache 1024, no heap trim)": {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "1024",
                                                         "IM2IM_KEEP_MALLOC": "1"}}
SIZES = {"constant 256 x 256": "constant", "varying 200-319 px": "varying"}


def rss_mb() -> float:
    """Current resident set size (Linux /proc), MB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def measure(model: str, sizes: str, calls: int, warm: int = 50) -> dict:
    """RSS after `warm` calls and then every 10% of `calls` (in this process)."""
    import im2im_core

    tr = im2im_core.load(model, device="cpu")
    import time

    rng = np.random.default_rng(0)
    trace = []
    for i in range(warm + calls):
        if i == warm:
            t0 = time.perf_counter()
        h, w = (256, 256) if sizes == "constant" else (int(v) for v in rng.integers(200, 320, 2))
        tr.translate(rng.random((h, w), dtype=np.float32))
        if i >= warm - 1 and (i - warm + 1) % max(1, calls // 10) == 0:
            trace.append(round(rss_mb(), 1))
    return {"after_warmup_mb": trace[0], "after_calls_mb": trace[-1], "growth_mb": round(trace[-1] - trace[0], 1),
            "trace_mb": trace, "ms_per_call": round(1000 * (time.perf_counter() - t0) / max(calls, 1), 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="cyclegan_t1w_t2w")
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--record", action="store_true", help=f"write {RESULTS.name}")
    ap.add_argument("--child", nargs=1, help=argparse.SUPPRESS)  # sizes kind: run one measurement, print JSON
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.model, args.child[0], args.calls)))
        return 0
    rows = []
    print(f"{args.model}, {args.calls} calls after 50 warm-up calls; RSS in MB, each row a fresh process")
    print("| setting | sizes | after warm-up | after the calls | growth | ms per call |\n|---|---|---|---|---|---|")
    for setting, env in SETTINGS.items():
        for label, kind in SIZES.items():
            out = subprocess.run([sys.executable, "-m", "training.benchmarks.memory", "--model", args.model,
                                  "--calls", str(args.calls), "--child", kind], env={**os.environ, **env},
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append({"setting": setting, "sizes": label, **r})
            print(f"| {setting} | {label} | {r['after_warmup_mb']:.0f} | {r['after_calls_mb']:.0f} | "
                  f"{r['growth_mb']:+.0f} | {r['ms_per_call']:.0f} |", flush=True)
    if args.record:
        RESULTS.write_text(json.dumps({"model": args.model, "calls": args.calls, "rows": rows,
                                       "command": f"python -m training.benchmarks.memory --calls {args.calls} --record"},
                                      indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
