"""T1w <-> T2w translation on real MNI152 anatomy with a known paired ground truth.

Trains each family on unpaired slices (T1w from one set of axial slices, T2w from a disjoint
set; pix2pix and BicycleGAN get both contrasts of the training slices, paired, one model per direction), then
evaluates on held-out slabs against the synthetic ground truth, both directions, next to two
baselines: identity and histogram matching to the training target-domain histogram.

StarGAN (one model for N domains) trains on three contrasts, T1w, T2w and PD, each from its own
disjoint group of training slices (`mni.multi_contrast_slices`), and is evaluated on all six
directions between them (second table, next to identity and histogram matching on the same six
directions; `--baselines` computes those too); its T1w<->T2w rows also enter the main table.

    python -m training.benchmarks.mri_translation --families cycle_gan --iterations 2000
    python -m training.benchmarks.mri_translation --families stargan --iterations 10000 --baselines
    python -m training.benchmarks.mri_translation --families stargan --set n_critic=1 --set train.batch_size=8
(`--set KEY=VALUE` overrides a model config key, `--set train.KEY=VALUE` a TrainConfig key; the
settings are saved with the results.)
Multimodal families (MUNIT) translate every test slice with K styles (`--samples`, default 8,
seed 0) and are reported on fidelity, the best of the K samples (per slice the sample with the
highest SSIM; its SSIM and PSNR) and the mean over the K samples, next to diversity: the mean
pairwise L1 distance between the K samples of a slice (on the [0, 1] scale, whole slice,
averaged over the K(K-1)/2 pairs and the slices; 0 means one output whatever the style). Their
main-table entry is the mean over the samples.

    python -m training.benchmarks.mri_translation --report     # table from the saved results

Families can run as separate processes (one per core); each writes results/<family>.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .common import command_line, mean_metrics, ship, slice_metrics, write_json

FAMILIES = ("pix2pix", "cycle_gan", "attention_cycle_gan", "unit", "stargan", "munit", "augmented_cycle_gan", "drit",
            "bicycle_gan")
MULTIMODAL = ("munit", "augmented_cycle_gan", "drit", "bicycle_gan")
PAIRED = ("pix2pix", "bicycle_gan")  # one model per direction, trained on both contrasts of the same slices
CONTRASTS = ("T1w", "T2w", "PD")  # StarGAN's domains
ALL_DIRECTIONS = tuple(f"{a}->{b}" for a in CONTRASTS for b in CONTRASTS if a != b)
#: batch size per family (the others train with 1, as junyanz's CycleGAN); a WGAN-GP critic and its
#: domain classifier need a few images per step (the paper uses 16)
BATCH = {"stargan": 4}
SHIP_NAMES = {"cycle_gan": "cyclegan_t1w_t2w", "attention_cycle_gan": "attention_t1w_t2w", "unit": "unit_t1w_t2w"}


def load_data(size: int):
    """Train (unpaired A/B, and paired for pix2pix), test pairs and brain masks of the test slices."""
    from im2im_core.data import mni

    tis = mni.load_mni_tissues()
    idx = mni.split_slices(tis["brain"], axis=2)
    t1, t2 = mni.synthesize_contrast(tis, "T1w"), mni.synthesize_contrast(tis, "T2w")
    train_all = np.concatenate([idx["A"], idx["B"]])
    sl = lambda vol, index: mni._slices(vol, tis["brain"], 2, index, size)  # noqa: E731
    return {"train": {"A": sl(t1, idx["A"]), "B": sl(t2, idx["B"])},
            "paired": {"A": sl(t1, train_all), "B": sl(t2, train_all)},
            "test": {"A": sl(t1, idx["test"]), "B": sl(t2, idx["test"])},
            "mask": sl(tis["brain"].astype(np.float32), idx["test"]) > 0.5,
            "counts": {k: int(len(v)) for k, v in idx.items()},
            # three contrasts: disjoint unpaired training groups, and every contrast of the test slices
            "multi": {"train": mni.multi_contrast_slices(CONTRASTS, 2, size, "train"),
                      "test": mni.multi_contrast_slices(CONTRASTS, 2, size, "test")}}


def model_config(family: str, size: int):
    from im2im_core.models.attention_gan import AttentionCycleGANConfig
    from im2im_core.models.cycle_gan import CycleGANConfig
    from im2im_core.models.pix2pix import Pix2PixConfig
    from im2im_core.models.unit import UNITConfig
    from im2im_core.nets import DiscriminatorConfig, GeneratorConfig

    dom = ("T1w", "T2w")
    res = GeneratorConfig(arch="resnet", ngf=32, n_blocks=6)
    disc = DiscriminatorConfig(ndf=32, n_layers=3)
    if family == "pix2pix":
        depth = int(np.log2(size)) - 1
        return Pix2PixConfig(domains=dom, generator=GeneratorConfig(arch="unet", num_downs=depth, ngf=32, norm="batch"),
                             discriminator=disc)
    if family == "cycle_gan":
        return CycleGANConfig(domains=dom, generator=res, discriminator=disc)
    if family == "attention_cycle_gan":
        return AttentionCycleGANConfig(domains=dom, generator=res, discriminator=disc, attention_ngf=16)
    if family == "unit":
        return UNITConfig(domains=dom, dim=32, n_res=4, ndf=32, n_scales=2)
    if family == "munit":
        from im2im_core.models.munit import MUNITConfig

        return MUNITConfig(domains=dom, dim=32, n_res=4, mlp_dim=128, ndf=32, d_layers=3, n_scales=2)
    if family == "augmented_cycle_gan":
        from im2im_core.models.augmented_cycle_gan import AugmentedCycleGANConfig

        return AugmentedCycleGANConfig(domains=dom, ngf=32, n_res=3, nef=32, ndf=32, lr=2e-4)
    if family == "drit":
        from im2im_core.models.drit import DRITConfig

        return DRITConfig(domains=dom, dim=32, n_res=4, ndf=32, d_layers=3, n_scales=2, ndf_content=128)
    if family == "bicycle_gan":
        from im2im_core.models.bicycle_gan import BicycleGANConfig

        return BicycleGANConfig(domains=dom, ngf=32, num_downs=int(np.log2(size)), nef=32, ndf=32)
    if family == "stargan":
        from im2im_core.models.stargan import StarGANConfig

        # the paper's networks at 32 base channels; 5 stride-2 critic layers leave 2x2 maps at 64 px
        return StarGANConfig(domains=CONTRASTS, dim=32, n_res=6, ndf=32, d_layers=max(1, int(np.log2(size)) - 1))
    raise ValueError(family)


def train_family(family: str, data: dict, size: int, iterations: int, out: Path, seed: int,
                 ema: float = 0.0, settings: tuple = ()) -> list[Path]:
    """Train one family (paired families twice: one model per direction); returns the export paths.
    `settings`: `key=value` overrides of the model config, `train.key=value` of the TrainConfig."""
    from im2im_core.config import override
    from im2im_core.data.datasets import ArrayPairs
    from im2im_core.engine.config import TrainConfig
    from im2im_core.engine.trainer import Trainer
    from im2im_core.intensity import Intensity
    from im2im_core.models import build

    runs = [("AtoB", "A", "B"), ("BtoA", "B", "A")] if family in PAIRED else [("both", "A", "B")]
    exports = []
    for tag, a, b in runs:
        src = data["paired"] if family in PAIRED else data["train"]
        if family == "stargan":
            from im2im_core.data.datasets import MultiDomainArrays

            train = data["multi"]["train"]
            ds = MultiDomainArrays(train, intensity=Intensity("percentile", 0.5, 99.5),
                                   description=f"MNI152 axial {size}px: " + ", ".join(
                                       f"{len(v)} {k}" for k, v in train.items()) + " training slices (unpaired, "
                                       "disjoint slice groups)")
        else:
            paired = family in PAIRED
            ds = ArrayPairs(src[a], src[b], paired=paired, intensity=Intensity("percentile", 0.5, 99.5),
                            description=f"MNI152 axial {size}px: {len(src[a])} {a} / {len(src[b])} {b} training "
                                        f"slices ({'paired' if paired else 'unpaired, disjoint slices'})")
        cfg = override(model_config(family, size), [a for a in settings if not a.startswith("train.")])
        if family in PAIRED and tag == "BtoA":
            cfg.domains = ("T2w", "T1w")
        tcfg = TrainConfig(iterations=iterations, batch_size=BATCH.get(family, 1), seed=seed, out_dir=str(out / f"{family}_{tag}"),
                           sample_every=max(1, iterations // 5), save_every=max(1, iterations // 4), progress=False,
                           tensorboard=False, ema=ema)
        tcfg = override(tcfg, [a[len("train."):] for a in settings if a.startswith("train.")])
        t0 = time.time()
        trainer = Trainer(build(cfg), ds, tcfg)
        res = trainer.fit()
        print(f"[{family} {tag}] {res['status']} {res['iterations']} it in {time.time() - t0:.0f} s", flush=True)
        exports.append(Path(res["export"]))
    return exports


def evaluate(translate_fn, data: dict) -> dict:
    """Mean metrics of translated held-out slices against the ground truth, both directions."""
    res = {}
    for direction, src, dst in (("T1w->T2w", "A", "B"), ("T2w->T1w", "B", "A")):
        x, gt = data["test"][src], data["test"][dst]
        pred = translate_fn(x, direction)
        rows = [slice_metrics(p, g, m) for p, g, m in zip(pred, gt, data["mask"])]
        res[direction] = mean_metrics(rows)
    return res


def evaluate_multimodal(exports: list[Path], data: dict, k: int, seed: int = 0) -> dict:
    """Per direction: mean-over-K metrics (the usual keys), best-of-K SSIM/PSNR and diversity.
    One export translates both directions; two (paired families) are T1w->T2w and T2w->T1w."""
    import im2im_core

    trs = [im2im_core.load(p, device="cpu", precision="fp32") for p in exports]
    res = {}
    for i_dir, (direction, src, dst) in enumerate((("T1w->T2w", "A", "B"), ("T2w->T1w", "B", "A"))):
        x, gt = data["test"][src], data["test"][dst]
        tr, d = (trs[0], direction) if len(trs) == 1 else (trs[i_dir], None)
        preds = np.clip(tr.translate(x, direction=d, n_samples=k, seed=seed, out_dtype="float32"), 0, 1)
        rows, best, div = [], [], []
        for i in range(len(x)):
            per = [slice_metrics(preds[j, i], gt[i], data["mask"][i]) for j in range(k)]
            rows += per
            top = max(per, key=lambda r: r["ssim"])
            best.append({"ssim_best": top["ssim"], "psnr_best": top["psnr"]})
            div.append(np.mean([np.abs(preds[a, i] - preds[b, i]).mean() for a in range(k) for b in range(a)])
                       if k > 1 else 0.0)
        res[direction] = {**mean_metrics(rows), **mean_metrics(best), "diversity_l1": float(np.mean(div)),
                          "samples": k}
    return res


def evaluate_all(translate_fn, data: dict) -> dict:
    """Mean metrics on the held-out slices for all six directions between T1w, T2w and PD."""
    res = {}
    test = data["multi"]["test"]
    for direction in ALL_DIRECTIONS:
        src, dst = direction.split("->")
        pred = translate_fn(test[src], direction)
        res[direction] = mean_metrics([slice_metrics(p, g, m) for p, g, m in zip(pred, test[dst], data["mask"])])
    return res


def _histogram_matcher(pools: dict):
    """Histogram matching of each slice to all training slices of the target contrast (one 2D reference)."""
    from skimage.exposure import match_histograms

    pools = {k: v.reshape(-1, v.shape[-1]) for k, v in pools.items()}
    return lambda x, d: np.stack([match_histograms(s, pools[d.split("->")[1]]) for s in x])


def baselines(data: dict) -> dict:
    """Identity and histogram matching: (T1w<->T2w metrics, all-six-direction metrics) per baseline."""
    hist = _histogram_matcher({"T2w": data["train"]["B"], "T1w": data["train"]["A"]})
    hist_all = _histogram_matcher(data["multi"]["train"])
    ident = lambda x, d: x  # noqa: E731
    return {"identity": (evaluate(ident, data), evaluate_all(ident, data)),
            "histogram matching": (evaluate(hist, data), evaluate_all(hist_all, data))}


def model_translate(exports: list[Path]):
    import im2im_core

    trs = [im2im_core.load(p, device="cpu", precision="fp32") for p in exports]

    def fn(x, direction):
        tr = trs[0] if len(trs) == 1 or direction == "T1w->T2w" else trs[1]
        d = direction if len(trs) == 1 else None
        return np.clip(tr.translate(x, direction=d, out_dtype="float32"), 0, 1)

    return fn


def report(out: Path) -> str:
    rows = []
    for f in sorted((out / "results").glob("*.json")):
        rows.append(json.loads(f.read_text()))
    order = ["identity", "histogram matching"] + list(FAMILIES)
    rows.sort(key=lambda r: order.index(r["name"]) if r["name"] in order else 99)
    lines = ["| method | T1w→T2w SSIM | T1w→T2w PSNR | T2w→T1w SSIM | T2w→T1w PSNR | brain SSIM (→T2w / →T1w) | iterations | command |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        a, b = r["metrics"]["T1w->T2w"], r["metrics"]["T2w->T1w"]
        lines.append(f"| {r['name']} | {a['ssim']:.3f} | {a['psnr']:.2f} dB | {b['ssim']:.3f} | {b['psnr']:.2f} dB | "
                     f"{a.get('ssim_mask', float('nan')):.3f} / {b.get('ssim_mask', float('nan')):.3f} | "
                     f"{r.get('iterations', '-')} | `{r['command']}` |")
    multi = [r for r in rows if "metrics_all" in r]
    if any(r["name"] not in ("identity", "histogram matching") for r in multi):
        lines += ["", "All six directions between T1w, T2w and PD (one StarGAN model); SSIM / PSNR:", "",
                  "| method | " + " | ".join(ALL_DIRECTIONS) + " | iterations |",
                  "|---|" + "---|" * len(ALL_DIRECTIONS) + "---|"]
        for r in multi:
            cells = [f"{r['metrics_all'][d]['ssim']:.3f} / {r['metrics_all'][d]['psnr']:.2f}" for d in ALL_DIRECTIONS]
            lines.append(f"| {r['name']} | " + " | ".join(cells) + f" | {r.get('iterations', '-')} |")
    modal = [r for r in rows if r.get("multimodal")]
    if modal:
        lines += ["", "Multimodal families, K samples per slice: fidelity (best of K / mean of K, SSIM and PSNR) and "
                  "diversity (mean pairwise L1 between the K samples, [0, 1] scale):", "",
                  "| method | K | T1w→T2w SSIM best / mean | PSNR best / mean | diversity | "
                  "T2w→T1w SSIM best / mean | PSNR best / mean | diversity | iterations |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in modal:
            cells = []
            for d in ("T1w->T2w", "T2w->T1w"):
                m = r["metrics"][d]
                cells += [f"{m['ssim_best']:.3f} / {m['ssim']:.3f}", f"{m['psnr_best']:.2f} / {m['psnr']:.2f} dB",
                          f"{m['diversity_l1']:.4f}"]
            lines.append(f"| {r['name']} | {r['metrics']['T1w->T2w']['samples']} | " + " | ".join(cells)
                         + f" | {r.get('iterations', '-')} |")
    table = "\n".join(lines)
    (out / "table.md").write_text(table + "\n")
    return table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ema", type=float, default=0.0,
                    help="EMA decay of the generator weights that are exported and evaluated (0: the live weights)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a model config key (e.g. n_critic=1), or a TrainConfig key as train.KEY=VALUE")
    ap.add_argument("--samples", type=int, default=8, help="K styles per slice for multimodal families")
    ap.add_argument("--out", default="runs/mri_translation")
    ap.add_argument("--baselines", action="store_true", help="evaluate identity and histogram matching")
    ap.add_argument("--ship", action="store_true", help="copy trained models into im2im_core/weights")
    ap.add_argument("--report", action="store_true", help="only print the table from saved results")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.report:
        print(report(out))
        return 0
    data = load_data(args.size)
    print(f"slices: {data['counts']}", flush=True)
    cmd = command_line(__spec__.name if __spec__ else "training.benchmarks.mri_translation", argv)
    if args.baselines:
        for name, (m, m_all) in baselines(data).items():
            write_json(out / "results" / f"{name}.json", {"name": name, "metrics": m, "metrics_all": m_all,
                                                          "command": cmd})
    for fam in filter(None, args.families.split(",")):
        exports = train_family(fam, data, args.size, args.iterations, out, args.seed, args.ema, tuple(args.set))
        fn = model_translate(exports)
        metrics = evaluate_multimodal(exports, data, args.samples) if fam in MULTIMODAL else evaluate(fn, data)
        result = {"name": fam, "metrics": metrics, "iterations": args.iterations, "ema": args.ema, "settings": args.set, "command": cmd,
                  "exports": [str(p) for p in exports]}
        if fam in MULTIMODAL:
            result["multimodal"] = True
        if fam == "stargan":
            result["metrics_all"] = evaluate_all(fn, data)
            result["batch_size"] = BATCH[fam]
        write_json(out / "results" / f"{fam}.json", result)
        print(json.dumps({fam: metrics}, indent=1), flush=True)
        if args.ship and fam in SHIP_NAMES:
            short = {d: {k: round(v, 4) for k, v in m.items() if k in ("ssim", "psnr", "ssim_mask")} for d, m in metrics.items()}
            print("shipped", ship(exports[0], SHIP_NAMES[fam], short, cmd,
                                  {"task": "MNI152 T1w<->T2w, axial slices", "image_size": args.size}))
    print(report(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
