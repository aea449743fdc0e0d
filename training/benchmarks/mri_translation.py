"""T1w <-> T2w translation at native 1 mm on real MNI152 anatomy, with a known paired ground truth.

Input domain T1w is the real MNI152 T1 template (the napari sample), T2w (and PD for StarGAN) is
computed from the same tissue maps, so every held-out slice has an exact target. Every family
trains on random 128 px crops of the 1 mm volumes in all three orientations, with the validation
and test slabs cut out (`mni.native_split`); unpaired families draw A and B crops independently,
paired ones (pix2pix, BicycleGAN: one model per direction) at one place. Evaluation translates
each whole volume as an axial stack, as a user translates the napari sample, and scores the
held-out axial slices as whole 1 mm slices (`common.slice_metrics`: whole image and in the brain).
Settings and iteration counts are chosen on the validation slab; the tables report the test slab.

    python -m training.benchmarks.mri_translation --baselines                 # baselines only
    python -m training.benchmarks.mri_translation --families pix2pix --iterations 4000
    python -m training.benchmarks.mri_translation --families cycle_gan --export runs/cycle_gan_mni/model.safetensors
    python -m training.benchmarks.mri_translation --report                    # tables from the saved results

Training runs resume from their last checkpoint (`runs/mri_translation/<family>_<tag>`), so an
interrupted command continues where it stopped. `--set KEY=VALUE` overrides a model config key,
`--set train.KEY=VALUE` / `--set data.KEY=VALUE` a training or data key. Results go to
`training/benchmarks/results/mri_translation/<name>.json` (committed; `--report` reprints them).
Multimodal families translate with K styles (`--samples`): mean over K (the table's entry),
best of K, and diversity (mean pairwise L1 between the K outputs of a slice).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .common import command_line, config_overrides, mean_metrics, ship, slice_metrics, write_json
from . import translation_baselines as tb

FAMILIES = ("pix2pix", "cycle_gan", "attention_cycle_gan", "unit", "stargan", "munit", "augmented_cycle_gan", "drit",
            "bicycle_gan", "council_gan", "acl_gan")
ONE_WAY = ("council_gan",)  # translates T1w->T2w only
MULTIMODAL = ("munit", "augmented_cycle_gan", "drit", "bicycle_gan")
PAIRED = ("pix2pix", "bicycle_gan")
DIRECTIONS = ("T1w->T2w", "T2w->T1w")
ALL_DIRECTIONS = tuple(f"{a}->{b}" for a in tb.CONTRASTS for b in tb.CONTRASTS if a != b)
BATCH = {"stargan": 4}
SHIP_NAMES = {"pix2pix": ("pix2pix_t1w_t2w", "pix2pix_t2w_t1w"), "cycle_gan": ("cyclegan_t1w_t2w",),
              "attention_cycle_gan": ("attention_t1w_t2w",), "unit": ("unit_t1w_t2w",), "stargan": ("stargan_mri",),
              "munit": ("munit_t1w_t2w",), "drit": ("drit_t1w_t2w",), "augmented_cycle_gan": ("augcgan_t1w_t2w",),
              "bicycle_gan": ("bicyclegan_t1w_t2w", "bicyclegan_t2w_t1w")}
RESULTS = Path(__file__).resolve().parent / "results" / "mri_translation"
BASELINES = ("identity", "histogram matching", "brain histogram matching", "global quantile mapping",
             "lookup-table oracle (paired)")


def model_config(family: str) -> dict:
    """Model section of the training config (128 px crops; widths as in the earlier benchmark)."""
    dom = ["T1w", "T2w"]
    res = {"arch": "resnet", "ngf": 32, "n_blocks": 6}
    disc = {"ndf": 32, "n_layers": 3}
    cfgs = {
        "pix2pix": {"generator": {"arch": "unet", "num_downs": 5, "ngf": 32, "norm": "instance"},  # 8.3 MB in fp16
                    "discriminator": {**disc, "norm": "instance"}},
        "cycle_gan": {"generator": res, "discriminator": disc},
        "attention_cycle_gan": {"generator": res, "discriminator": disc, "attention_ngf": 16},
        "unit": {"dim": 32, "n_res": 4, "ndf": 32, "n_scales": 2},
        "munit": {"dim": 32, "n_res": 4, "mlp_dim": 128, "ndf": 32, "d_layers": 3, "n_scales": 2},
        "augmented_cycle_gan": {"ngf": 32, "n_res": 3, "nef": 32, "ndf": 32, "lr": 2e-4},
        "drit": {"dim": 32, "n_res": 4, "ndf": 32, "d_layers": 3, "n_scales": 2, "ndf_content": 128},
        "bicycle_gan": {"ngf": 32, "num_downs": 7, "nef": 32, "ndf": 32},
        "stargan": {"dim": 32, "n_res": 6, "ndf": 32, "d_layers": 6},
        "council_gan": {"members": 4, "dim": 24, "n_res": 3, "ndf": 32},
        "acl_gan": {"dim": 32, "n_res": 4, "ndf": 32, "n_scales": 2},  # 3 scales need 192 px crops
    }
    if family not in cfgs:
        raise SystemExit(f"unknown family {family!r}; choose from {FAMILIES}")
    doms = list(tb.CONTRASTS) if family == "stargan" else dom
    return {"family": family, "domains": doms, **cfgs[family]}


def train_family(family: str, iterations: int, runs: Path, seed: int, ema: float, settings: tuple) -> list[Path]:
    """Train (or resume) one family; paired families train one model per direction. Returns exports."""
    from im2im_core.engine.factory import train_from_config

    tags = [("AtoB", ["T1w", "T2w"]), ("BtoA", ["T2w", "T1w"])] if family in PAIRED else [("both", None)]
    exports = []
    for tag, order in tags:
        model = model_config(family)
        data = {"kind": "mni", "size": 0, "crop_size": 128, "paired": family in PAIRED,
                "contrasts": order or model["domains"][:2]}
        if order:
            model["domains"] = order
        train = {"iterations": iterations, "batch_size": BATCH.get(family, 1), "seed": seed, "bf16": True,
                 "ema": ema, "out_dir": str(runs / f"{family}_{tag}"), "resume": True, "save_every": 250,
                 "keep_last": 2, "sample_every": max(1, iterations // 10), "log_every": 50, "progress": False,
                 "tensorboard": False}
        t0 = time.time()
        trainer = train_from_config({"model": model, "data": data, "train": train}, settings)
        res = trainer.result
        print(f"[{family} {tag}] {res['status']} {res['iterations']} it in {time.time() - t0:.0f} s", flush=True)
        exports.append(Path(res["export"]))
    return exports


def score(pred: np.ndarray, data: dict, dst: str, which: str) -> dict:
    """Mean metrics of the held-out `which` slab of a predicted whole stack."""
    rows = [slice_metrics(pred[i], data["stack"][dst][i], data["brain_stack"][i]) for i in tb.held_out(data, which)]
    return mean_metrics(rows)


def evaluate(fn, data: dict, directions=DIRECTIONS, synthetic_t1: bool = True) -> dict:
    """{"test": {direction: metrics}, "val": {...}}; with `synthetic_t1`, also "T1w-synthetic->T2w"
    (the synthetic T1w given to the same T1w->T2w mapping)."""
    out = {"test": {}, "val": {}}
    jobs = [(d, d.split("->")[0], d) for d in directions]
    if synthetic_t1 and "T1w->T2w" in directions:
        jobs.append(("T1w-synthetic->T2w", "T1w-synthetic", "T1w->T2w"))
    for name, src, direction in jobs:
        pred = fn(data["stack"][src], direction)
        dst = direction.split("->")[1]
        for which in out:
            out[which][name] = score(pred, data, dst, which)
    return out


def model_translate(exports: list[Path], data: dict, k: int = 0, seed: int = 0):
    """x, direction -> prediction of a whole stack, through `Translator.translate` at 1 mm (K samples
    on a new leading axis when k > 0)."""
    import im2im_core

    trs = [im2im_core.load(p, device="cpu") for p in exports]
    spacing = (1.0, *data["spacing"])

    def fn(x, direction):
        tr = trs[0] if len(trs) == 1 or direction == "T1w->T2w" else trs[1]
        opts = {"n_samples": k, "seed": seed} if k else {}
        y = tr.translate(x, direction=direction if len(trs) == 1 else None, out_dtype="float32", spacing=spacing, **opts)
        return np.clip(y, 0, 1)

    return fn


def evaluate_multimodal(exports, data: dict, k: int) -> dict:
    """Mean over K samples (the usual keys), best of K and diversity, per direction and slab."""
    fn = model_translate(exports, data, k)
    out = {"test": {}, "val": {}}
    for direction in DIRECTIONS:
        src, dst = direction.split("->")
        preds = fn(data["stack"][src], direction)
        for which in out:
            idx = tb.held_out(data, which)
            rows, best, div = [], [], []
            for i in idx:
                per = [slice_metrics(preds[j, i], data["stack"][dst][i], data["brain_stack"][i]) for j in range(k)]
                rows += per
                top = max(per, key=lambda r: r["ssim"])
                best.append({"ssim_best": top["ssim"], "psnr_best": top["psnr"]})
                div.append(np.mean([np.abs(preds[a, i] - preds[b, i]).mean() for a in range(k) for b in range(a)]))
            out[which][direction] = {**mean_metrics(rows), **mean_metrics(best), "diversity_l1": float(np.mean(div)),
                                     "samples": k}
    return out


def baselines(data: dict) -> dict:
    """name -> (two-direction results, six-direction results); the histogram baselines pick
    inversion per direction on the validation slab (brain histogram matching's choice)."""
    invert = {}
    for d in ALL_DIRECTIONS:
        src, dst = d.split("->")
        val = {inv: score(tb.brain_hist(data, {d: inv})(data["stack"][src], d), data, dst, "val")["ssim"]
               for inv in (False, True)}
        invert[d] = val[True] > val[False]
    fns = {"identity": lambda x, d: np.clip(x, 0, 1), "histogram matching": tb.plain_hist(data),
           "brain histogram matching": tb.brain_hist(data, invert), "global quantile mapping": tb.global_quantile(data, invert),
           "lookup-table oracle (paired)": tb.lut_oracle(data)}
    out = {}
    for name, fn in fns.items():
        out[name] = (evaluate(fn, data), evaluate(fn, data, ALL_DIRECTIONS, synthetic_t1=False))
    for name in ("brain histogram matching", "global quantile mapping"):
        out[name][0]["inverted"] = invert
    return out


def slug(name: str) -> str:
    """File name of a result: "lookup-table oracle (paired)" -> "lookup-table_oracle"."""
    return name.split(" (")[0].replace(" ", "_")


def report(results: Path = RESULTS) -> str:
    rows = [json.loads(f.read_text()) for f in sorted(results.glob("*.json"))]
    order = list(BASELINES) + list(FAMILIES)
    rows.sort(key=lambda r: order.index(r["name"]) if r["name"] in order else 99)
    lines = ["Held-out test slab, whole 1 mm axial slices, real T1 template in; SSIM / PSNR, whole image and "
             "(brain):", "",
             "| method | T1w→T2w SSIM | PSNR | brain SSIM | T2w→T1w SSIM | PSNR | brain SSIM | synthetic T1w→T2w SSIM | "
             "val SSIM (→T2w / →T1w) | iterations |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t, v = r["metrics"]["test"], r["metrics"]["val"]
        a, b = t["T1w->T2w"], t.get("T2w->T1w")
        syn = t.get("T1w-synthetic->T2w", {}).get("ssim", float("nan"))
        back = (f"{b['ssim']:.3f} | {b['psnr']:.2f} dB | {b['ssim_mask']:.3f}" if b else "- (one-way) | - | -")
        val_back = f"{v['T2w->T1w']['ssim']:.3f}" if "T2w->T1w" in v else "-"
        lines.append(f"| {r['name']} | {a['ssim']:.3f} | {a['psnr']:.2f} dB | {a['ssim_mask']:.3f} | {back} | "
                     f"{syn:.3f} | {v['T1w->T2w']['ssim']:.3f} / {val_back} | {r.get('iterations', '-')} |")
    multi = [r for r in rows if "metrics_all" in r]
    if multi:
        lines += ["", "All six directions between T1w, T2w and PD (test slab; SSIM / PSNR):", "",
                  "| method | " + " | ".join(ALL_DIRECTIONS) + " |", "|---|" + "---|" * len(ALL_DIRECTIONS)]
        for r in multi:
            m = r["metrics_all"]["test"]
            lines.append(f"| {r['name']} | " + " | ".join(f"{m[d]['ssim']:.3f} / {m[d]['psnr']:.2f}"
                                                           for d in ALL_DIRECTIONS) + " |")
    modal = [r for r in rows if r.get("multimodal")]
    if modal:
        lines += ["", "Multimodal families, K samples per slice (test slab): SSIM best / mean of K, diversity:", "",
                  "| method | K | T1w→T2w SSIM best / mean | diversity | T2w→T1w SSIM best / mean | diversity |",
                  "|---|---|---|---|---|---|"]
        for r in modal:
            m = r["metrics"]["test"]
            cells = [f"{m[d]['ssim_best']:.3f} / {m[d]['ssim']:.3f} | {m[d]['diversity_l1']:.4f}" for d in DIRECTIONS]
            lines.append(f"| {r['name']} | {m['T1w->T2w']['samples']} | " + " | ".join(cells) + " |")
    lines += ["", "Commands:", ""] + [f"- {r['name']}: `{r['command']}`" + (f" (trained with `{r['trained_with']}`)"
                                                                            if r.get("trained_with") else "")
                                      for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="")
    ap.add_argument("--iterations", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ema", type=float, default=0.999, help="EMA decay of the exported generator weights (0: live)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a config key: model.KEY, train.KEY or data.KEY (a bare KEY means model.KEY)")
    ap.add_argument("--export", action="append", default=[], help="evaluate these exports instead of training "
                    "(one family; paired families: T1w->T2w first)")
    ap.add_argument("--trained-with", default="", help="with --export: the command that trained the exports "
                    "(recorded in the results and the shipped model)")
    ap.add_argument("--samples", type=int, default=4, help="K styles per slice for multimodal families")
    ap.add_argument("--runs", default="runs/mri_translation")
    ap.add_argument("--results", default=str(RESULTS))
    ap.add_argument("--baselines", action="store_true", help="evaluate the training-free baselines and the oracle")
    ap.add_argument("--ship", action="store_true", help="copy the evaluated models into im2im_core/weights")
    ap.add_argument("--ship-only", default="", help="with --ship: only these shipped names (comma-separated), e.g. "
                    "the direction that beats its prior")
    ap.add_argument("--report", action="store_true", help="only print the tables from saved results")
    args = ap.parse_args(argv)
    results = Path(args.results)
    if args.report:
        print(report(results))
        return 0
    data = tb.native_data("template")
    cmd = command_line(__spec__.name if __spec__ else "training.benchmarks.mri_translation", argv)
    if args.baselines:
        for name, (m, m_all) in baselines(data).items():
            write_json(results / f"{slug(name)}.json", {"name": name, "metrics": m, "metrics_all": m_all, "command": cmd})
            print(name, json.dumps({d: round(v["ssim"], 3) for d, v in m["test"].items()}), flush=True)
    settings = config_overrides(args.set)
    for fam in filter(None, args.families.split(",")):
        exports = [Path(p) for p in args.export] or train_family(fam, args.iterations, Path(args.runs), args.seed,
                                                                 args.ema, settings)
        import im2im_core

        iters = im2im_core.load(exports[0], device="cpu").meta["provenance"].get("iterations")
        if fam in MULTIMODAL:
            metrics = evaluate_multimodal(exports, data, args.samples)
        else:
            metrics = evaluate(model_translate(exports, data), data, DIRECTIONS[:1] if fam in ONE_WAY else DIRECTIONS)
        result = {"name": fam, "metrics": metrics, "iterations": iters, "settings": list(settings), "command": cmd,
                  "exports": [str(p) for p in exports], "multimodal": fam in MULTIMODAL}
        if args.trained_with:
            result["trained_with"] = args.trained_with
        if fam == "stargan":
            result["metrics_all"] = evaluate(model_translate(exports, data), data, ALL_DIRECTIONS, synthetic_t1=False)
        write_json(results / f"{fam}.json", result)
        print(fam, json.dumps({w: {d: round(v["ssim"], 3) for d, v in m.items()} for w, m in metrics.items()}), flush=True)
        if args.ship and fam in SHIP_NAMES:
            for export, name in zip(exports, SHIP_NAMES[fam]):
                if args.ship_only and name not in args.ship_only.split(","):
                    continue
                short = {d: {k: round(v, 4) for k, v in m.items() if k in ("ssim", "psnr", "ssim_mask")}
                         for d, m in metrics["test"].items()}
                extra = {"task": "MNI152 T1w<->T2w at 1 mm", **({"trained_with": args.trained_with} if args.trained_with else {})}
                print("shipped", ship(export, name, short, cmd, extra))
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
