"""Inference speed: our `translate` against the official generators, in fp32, in bf16 with
channels_last, and in onnxruntime, with the physical limit measured in the same run.

Run:  python -m training.benchmarks.inference_speed [--nets resnet9 unet256] [--sides 256 1024]

"Official" is junyanz's ResNet-9 (instance norm) and U-Net-256 (batch norm) as restated in
`reference_nets`, with random weights (seed 0). "Ours" loads the same state dict through the
`.pth` import and calls `Translator.translate` on a uint8 RGB image, pre- and post-processing
included. onnxruntime runs the official net exported to ONNX in fp32 with 2 threads and all graph
optimisations. The physical limit is the net's convolution FLOPs divided by the best bf16
channels_last convolution throughput, measured in our case's own process right after its runs.
Each case runs in its own process; times are the best of N runs after a warm-up (on shared
machines the median drifts by up to 2x within minutes; it is printed in the log lines), and the
ratios compare cases of the same run.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

VARIANTS = ("official_fp32", "official_bf16", "onnxruntime", "ours", "ours_fp32")
THREADS = 2


def build(net: str):
    import torch

    from training.benchmarks import reference_nets as ref

    torch.manual_seed(0)
    if net == "resnet9":
        return ref.ResnetGenerator(3, 3, "instance", 9).eval()
    m = ref.UnetGenerator(3, 3, 8, norm="batch").eval()
    for b in m.modules():  # trained-like running statistics
        if isinstance(b, torch.nn.BatchNorm2d):
            b.running_mean.uniform_(-0.1, 0.1)
            b.running_var.uniform_(0.5, 1.5)
    return m


def image(side: int) -> np.ndarray:
    return (np.random.default_rng(0).random((side, side, 3)) * 255).astype(np.uint8)


def timed(fn, repeats: int, sync=lambda: None) -> tuple[float, float]:
    """(best, median) seconds of `repeats` calls after a warm-up call (for ours, also the tracing)."""
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def run_case(net: str, side: int, variant: str, repeats: int, device: str, out: str) -> dict:
    import torch

    torch.set_num_threads(THREADS)
    model = build(net)
    img = image(side)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    if variant.startswith("official"):
        model = model.to(dev)
        x = x.to(dev)
        if variant == "official_bf16":
            model = model.to(dtype=torch.bfloat16, memory_format=torch.channels_last)
            x = x.to(dtype=torch.bfloat16, memory_format=torch.channels_last)
        with torch.inference_mode():
            seconds = timed(lambda: model(x), repeats, sync)
            y = model(x)
        y = (y.float()[0].permute(1, 2, 0).cpu().numpy() + 1) / 2
    elif variant == "onnxruntime":
        import onnxruntime as ort

        path = Path(out).with_suffix(".onnx")
        torch.onnx.export(model, x, str(path), input_names=["x"], output_names=["y"], opset_version=17,
                          dynamo=False)
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = THREADS, 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        xn = x.numpy()
        seconds = timed(lambda: sess.run(None, {"x": xn}), repeats)
        y = (sess.run(None, {"x": xn})[0][0].transpose(1, 2, 0) + 1) / 2
    else:
        import im2im_core

        path = Path(out).with_suffix(".pth")
        torch.save(model.state_dict(), path)
        tr = im2im_core.load(path, device=device, precision="fp32" if variant == "ours_fp32" else "auto")
        seconds = timed(lambda: tr.translate(img), repeats, sync)
        y = tr.translate(img, out_dtype="float32") / 255
    np.save(out, np.asarray(y, np.float32))
    rss = peak_rss_mb()
    # the convolution peak in this same process, right after the timed runs: the machine's speed
    # drifts over minutes, so a peak taken elsewhere would not bound these times
    return {"seconds": seconds[0], "median": seconds[1], "peak_rss_mb": rss, "peak_tflops": conv_peak(),
            "flops": net_flops(net, side)}


def conv_peak() -> float:
    """Best bf16 channels_last convolution throughput (TFLOP/s) over layers like the nets' own."""
    import torch

    best = 0.0
    shapes = ((256, 256, 3, 1, 64), (256, 256, 3, 1, 128), (128, 128, 3, 1, 128), (64, 64, 7, 1, 256),
              (128, 256, 4, 2, 256), (256, 512, 4, 2, 128), (512, 512, 4, 2, 64))  # ResNet-9 and U-Net layers
    with torch.inference_mode():
        for cin, cout, k, stride, hw in shapes:
            conv = torch.nn.Conv2d(cin, cout, k, stride, padding=k // 2 if stride == 1 else 1, bias=False).to(
                torch.bfloat16, memory_format=torch.channels_last)
            x = torch.randn(1, cin, hw, hw).to(torch.bfloat16, memory_format=torch.channels_last)
            flops = 2 * cin * cout * k * k * conv(x).shape[-1] ** 2
            best = max(best, flops / timed(lambda: conv(x), 5)[0] / 1e12)
    return best


def net_flops(net: str, side: int) -> int:
    """The net's convolution FLOPs at this size, counted on the meta device (no compute)."""
    import torch

    from training.benchmarks.reference_nets import conv_flops

    with torch.device("meta"):
        m = build(net)
    return conv_flops(m, torch.empty(1, 3, side, side, device="meta"))


def peak_rss_mb() -> float:
    """This process's own high-water RSS (VmHWM) in MB."""
    import re

    with open("/proc/self/status") as fh:
        return int(re.search(r"VmHWM:\s+(\d+)", fh.read()).group(1)) / 1024


def psnr(a, b) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(1 / max(mse, 1e-30))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", nargs="+", default=["resnet9", "unet256"], choices=["resnet9", "unet256"])
    ap.add_argument("--sides", nargs="+", type=int, default=[256, 1024])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=10, help="runs per case at 256² (a third of it above)")
    ap.add_argument("--case", nargs=3, metavar=("NET", "SIDE", "VARIANT"), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.case:
        net, side, variant = args.case
        print(json.dumps(run_case(net, int(side), variant, args.repeats, args.device, args.out)))
        return 0

    def child(*extra) -> dict:
        cmd = [sys.executable, "-m", "training.benchmarks.inference_speed", "--device", args.device, *extra]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode:
            raise SystemExit(f"{' '.join(extra)} failed:\n{res.stderr[-3000:]}")
        return json.loads(res.stdout.strip().splitlines()[-1])

    res, outs = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for net in args.nets:
            for side in args.sides:
                for v in args.variants:
                    if v == "onnxruntime" and args.device != "cpu":
                        continue
                    out = str(Path(tmp) / f"{net}_{side}_{v}.npy")
                    reps = args.repeats if side <= 256 else max(2, args.repeats // 3)
                    res[net, side, v] = child("--case", net, str(side), v, "--repeats", str(reps), "--out", out)
                    outs[net, side, v] = np.load(out)
                    r = res[net, side, v]
                    print(f"  {net:8s} {side:5d}² {v:14s} best {r['seconds']:8.3f} s  median {r['median']:8.3f} s  "
                          f"peak RSS {r['peak_rss_mb']:6.0f} MB  conv peak {r['peak_tflops']:.2f} TFLOP/s", flush=True)
    import torch

    print(f"\ntorch {torch.__version__}, {platform.machine()}, {THREADS} threads, device {args.device}; best of N "
          f"runs; the physical limit is the net's conv FLOPs over the bf16 channels_last conv peak measured in "
          f"our case's own process\n")
    print("| case | official fp32 | official bf16 + channels_last | onnxruntime fp32 | ours | ours vs bf16 | "
          "ours vs onnxruntime | ours vs the physical limit | ours fp32 | PSNR ours / fp32 official | peak RSS ours |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")

    def sec(k):
        return f"{res[k]['seconds']:.3f} s" if k in res else "-"

    def ratio(a, k):
        return f"{res[a]['seconds'] / res[k]['seconds']:.2f}×" if a in res and k in res else "-"

    for net in args.nets:
        for side in args.sides:
            k = (net, side, "ours")
            frac = "-"
            if k in res:
                limit = res[k]["flops"] / (res[k]["peak_tflops"] * 1e12)
                frac = f"{100 * limit / res[k]['seconds']:.0f}% (peak {res[k]['peak_tflops']:.2f} TFLOP/s)"
            ref = (net, side, "official_fp32")
            q = f"{psnr(outs[k], outs[ref]):.1f} dB" if k in outs and ref in outs else "-"
            rss = f"{res[k]['peak_rss_mb']:.0f} MB" if k in res else "-"
            print(f"| {net} {side}² | {sec(ref)} | {sec((net, side, 'official_bf16'))} | "
                  f"{sec((net, side, 'onnxruntime'))} | {sec(k)} | {ratio((net, side, 'official_bf16'), k)} | "
                  f"{ratio((net, side, 'onnxruntime'), k)} | {frac} | {sec((net, side, 'ours_fp32'))} | {q} | {rss} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
