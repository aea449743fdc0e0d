"""Training speed of one CycleGAN step at 128 px (the `cycle_gan_mni.yaml` networks), fp32 eager
against the faster settings, measured in one process and interleaved (round-robin over the
settings, median per setting) so that load from other processes hits every setting alike.

    python -m training.benchmarks.training_speed                 # batch 1, 5 rounds
    python -m training.benchmarks.training_speed --batch 4 --compile

Prints seconds per iteration and images per second for each setting and the ratio to fp32 eager
on the same batch. bf16 settings run only where the CPU (or GPU) has bf16.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch


def build(batch: int, memory_format, fused: bool, seed: int = 0):
    """A CycleGAN as in cycle_gan_mni.yaml with its optimizers (fused Adam as the trainer makes
    them, or PyTorch's default), and one fixed batch."""
    from im2im_core.engine.config import TrainConfig
    from im2im_core.models import build as build_model
    from im2im_core.models.cycle_gan import CycleGANConfig
    from im2im_core.nets import DiscriminatorConfig, GeneratorConfig

    torch.manual_seed(seed)
    model = build_model(CycleGANConfig(domains=("T1w", "T2w"), generator=GeneratorConfig(arch="resnet", ngf=32, n_blocks=6),
                                       discriminator=DiscriminatorConfig(ndf=32, n_layers=3)))
    model.to(memory_format=memory_format).train()
    from im2im_core.engine.trainer import fuse_adam

    model.optimizers = model.configure_optimizers(TrainConfig())
    if fused:
        fuse_adam(model.optimizers)
    g = torch.Generator().manual_seed(seed)
    batch = {k: (torch.rand(batch, 1, 128, 128, generator=g) * 2 - 1).contiguous(memory_format=memory_format)
             for k in ("A", "B")}
    return model, batch


def settings(with_compile: bool, bf16: bool) -> dict:
    out = {"fp32 eager": dict(bf16=False, cl=False, compile=False, fused=False),
           "fp32 + fused Adam": dict(bf16=False, cl=False, compile=False, fused=True)}
    if bf16:
        out["bf16 autocast + fused Adam"] = dict(bf16=True, cl=False, compile=False, fused=True)
        out["bf16 + fused + channels_last (trainer default)"] = dict(bf16=True, cl=True, compile=False, fused=True)
        if with_compile:
            out["bf16 + fused + torch.compile"] = dict(bf16=True, cl=False, compile=True, fused=True)
            out["bf16 + fused + channels_last + torch.compile (cycle_gan_mni.yaml)"] = dict(
                bf16=True, cl=True, compile=True, fused=True)
    return out


def main(argv=None) -> int:
    from im2im_core.device import bf16_supported

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=4, help="timed steps per round and setting")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (about a minute to compile)")
    args = ap.parse_args(argv)
    dev = torch.device("cpu")
    runs = {}
    for name, s in settings(args.compile, bf16_supported(dev)).items():
        model, batch = build(args.batch, torch.channels_last if s["cl"] else torch.contiguous_format, s["fused"])
        if s["compile"]:
            from im2im_core.engine.trainer import compile_networks

            compile_networks(model)
        ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if s["bf16"] else (lambda: torch.autocast("cpu", enabled=False))
        t0 = time.perf_counter()
        for i in range(2):  # warm-up (and compile)
            with ctx():
                model.train_step(batch, i)
        print(f"{name}: warm-up {time.perf_counter() - t0:.1f} s", flush=True)
        runs[name] = (model, batch, ctx, [])
    for _ in range(args.rounds):
        for name, (model, batch, ctx, times) in runs.items():
            t0 = time.perf_counter()
            for i in range(args.steps):
                with ctx():
                    model.train_step(batch, i)
            times.append((time.perf_counter() - t0) / args.steps)
    base = statistics.median(runs["fp32 eager"][3])
    print(f"\nCycleGAN step, 128 px, batch {args.batch}, {torch.get_num_threads()} threads, median of {args.rounds} "
          f"rounds x {args.steps} steps:\n")
    print("| setting | s / iteration | images / s | speed-up vs fp32 eager |\n|---|---|---|---|")
    for name, (_, _, _, times) in runs.items():
        t = statistics.median(times)
        print(f"| {name} | {t:.3f} | {args.batch / t:.2f} | {base / t:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
