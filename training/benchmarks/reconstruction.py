"""CS-MRI reconstruction on real scans; inpainting and super-resolution on the MNI152 template.

Reconstruction models train on whole 1 mm slices of the MNI152 template and Colin27 (three
orientations, MRIAugment) and are tested on real slices of OTHER subjects and scanners
(im2im_core/data/real_mri, see im2im_core.data.real_scans): no test voxel is ever seen in training. The classical
baselines (TV, L1-wavelet) are tuned on two further validation subjects.

Inpainting and SR use template slices (128 px, cropped to the brain's bounding box) with slabs of
each orientation held out; the other two orientations' training slices cross those slabs (about
90% of a test slice's brain voxels also lie in some training slice), so those template numbers are
optimistic for a model. Metrics are on a [0, 1] scale with data_range=1 (common.slice_metrics),
over the whole slice and inside the head/brain mask.

    python -m training.benchmarks.reconstruction --report        # tables from the committed results
    python -m training.benchmarks.reconstruction --task recon --record   # score the shipped recon models, real scans
    python -m training.benchmarks.reconstruction --task inpaint --record # the shipped inpaint_mri, real scans
    python -m training.benchmarks.reconstruction --task sr --record      # the shipped SR models, template slabs
    python -m training.benchmarks.reconstruction --task recon --masks gaussian1d --train --phase 1 --iterations 4000 --ship
    python -m training.benchmarks.reconstruction --task inpaint --train --ship
    python -m training.benchmarks.reconstruction --task sr --train --ship

Without --train a task scores the shipped model(s). `--record` also writes the results to
`training/benchmarks/results/reconstruction/` (committed), which `--report` reprints without
computing anything.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .common import CLASSICAL, RECON_MODELS, command_line, mean_metrics, ship, slice_metrics, write_json

#: written beside a training run's export: the command line that trained it
COMMAND_FILE = "command.txt"

SIZE = 128
RECON_MASKS = [("gaussian1d", r) for r in (0.1, 0.2, 0.3, 0.4)] + [("poisson2d", r) for r in (0.1, 0.2, 0.3, 0.4)]
COLUMNS = ("zero-filled", *CLASSICAL, "model")
HOLE_RANGES = ((0.1, 0.2), (0.2, 0.4))
RESULTS = Path(__file__).resolve().parent / "results" / "reconstruction"


def load_data(test_stride: int = 3):
    """Train slices from the three orientations, test slices from each orientation's held-out slabs
    (+ brain masks); the slabs are not held out from the other orientations' slices."""
    from im2im_core.data import mni

    tis = mni.load_mni_tissues()
    vol, brain = np.clip(tis["t1_template"], 0, 1).astype(np.float32), tis["brain"]
    train, test, masks = [], [], []
    for axis in (0, 1, 2):
        idx = mni.split_slices(brain, axis=axis)
        train.append(mni._slices(vol, brain, axis, np.concatenate([idx["A"], idx["B"]]), SIZE))
        t = idx["test"][::test_stride]
        test.append(mni._slices(vol, brain, axis, t, SIZE))
        masks.append(mni._slices(brain.astype(np.float32), brain, axis, t, SIZE) > 0.5)
    return {"train": np.concatenate(train), "test": np.concatenate(test), "mask": np.concatenate(masks)}


def train(model_cfg, data, iterations, out: Path, name: str, batch_size: int, lr: float, intensity,
          augment=None, description: str = "", resume: bool = False, init: str = "", command: str = "") -> Path:
    """Train (from `init`'s weights, an export or shipped name, when given) and return the export;
    `command`, the command line that trained it, is kept beside it (command.txt) for shipping later."""
    from im2im_core.data.datasets import ArrayPairs
    from im2im_core.engine.config import OptimConfig, TrainConfig
    from im2im_core.engine.trainer import Trainer
    from im2im_core.models import build

    ds = ArrayPairs(data["train"], data["train"], paired=True, intensity=intensity, augment=augment,
                    description=description or f"MNI152 T1 template, {len(data['train'])} training slices from 3 "
                                f"orientations, {SIZE}px; held-out slabs of each orientation (crossed by the others' "
                                "training slices)")
    tcfg = TrainConfig(iterations=iterations, batch_size=batch_size, out_dir=str(out / name), progress=False,
                       tensorboard=False, sample_every=max(1, iterations // 5), save_every=max(1, min(500, iterations // 4)),
                       optim=OptimConfig(lr=lr), resume=resume)
    model = build(model_cfg)
    if init:
        import im2im_core

        start = im2im_core.load(init, device="cpu", precision="fp32").model
        model.load_state_dict(start.state_dict())
    t0 = time.time()
    res = Trainer(model, ds, tcfg).fit()
    print(f"[{name}] {res['status']} {res['iterations']} it in {time.time() - t0:.0f} s", flush=True)
    if command:
        (Path(res["export"]).parent / COMMAND_FILE).write_text(command + "\n")
    return Path(res["export"])


def eval_rows(preds, data):
    return mean_metrics([slice_metrics(p, g, m) for p, g, m in zip(preds, data["test"], data["mask"])])


# ---- CS-MRI --------------------------------------------------------------------------------
def recon_configs(kind: str, arch: str = "cascade", phase: float = 0.0):
    from im2im_core.models.mri_recon import MRIReconConfig
    from im2im_core.nets import DiscriminatorConfig, GeneratorConfig

    lo, hi = (0.1, 0.5) if kind == "gaussian1d" else (0.1, 0.3)
    if arch == "unet":  # DAGAN as published (plus optional DC at inference)
        return MRIReconConfig(generator=GeneratorConfig(arch="unet", num_downs=7, ngf=16, norm="batch"),
                              discriminator=DiscriminatorConfig(ndf=32), mask_kind=kind, ratio=lo, ratio_max=hi)
    return MRIReconConfig(cascades=5, cascade_depth=5, cascade_width=32, discriminator=DiscriminatorConfig(ndf=32),
                          mask_kind=kind, ratio=lo, ratio_max=hi, phase=phase)


def train_recon(args, kind: str, name: str, out: Path, command: str = "") -> Path:
    """Train on the template (128 px, --data template) or on whole 1 mm slices of the template and
    Colin27 with MRIAugment's deformations, bias, contrast curves and Rician noise (--data real)."""
    from im2im_core.data.mri_augment import MRIAugment
    from im2im_core.intensity import Intensity

    lr = args.lr or (1e-3 if args.arch == "cascade" else 2e-4)  # defaults: the settings of the runs quoted in the README
    cfg = recon_configs(kind, args.arch, args.phase)
    if args.data == "template":
        return train(cfg, load_data(), args.iterations, out, name, 4, lr, Intensity("percentile", 0.0, 99.5),
                     resume=args.resume)
    from .real_mri import training_slices

    cfg.ratio, cfg.ratio_max = 0.1, 0.4
    cfg.lambda_gan, cfg.fm_weight, cfg.ssim_weight = args.recon_adv, args.recon_fm, args.recon_ssim
    cfg.real_fraction = args.real_fraction
    contrasts = tuple(c for c in args.contrasts.split(",") if c)
    slices = training_slices(256, skull=args.skull, contrasts=contrasts)
    desc = (f"MNI152 T1 template and Colin27{' (also with skull)' if args.skull else ''}"
            f"{', MNI152 ' + ' and '.join(contrasts) + ' synthesized from its tissue maps' if contrasts else ''}, "
            f"{len(slices)} whole 1 mm slices from 3 orientations padded to 256 px, random {args.crop} px crops with "
            f"MRIAugment{f' (random contrast curves {args.curves:.0%} of the time)' if args.curves else ''}"
            f"{', 8 orientations' if args.transpose else ''}{f', coarser matrices down to {1 - args.lowres:.0%}' if args.lowres else ''}"
            f"{', exact zeros outside a random box' if args.zero_outside else ''}; tested on "
            "other subjects (im2im_core/data/real_mri)")
    # min-max window: a percentile window would clip the brightest pixels before undersampling
    return train(cfg, {"train": slices}, args.iterations, out, name, args.batch_size, lr,
                 Intensity("percentile", 0.0, 100.0),
                 MRIAugment(crop_size=args.crop, noise=args.noise, scale=args.aug_scale, curves=args.curves,
                            transpose=args.transpose, lowres=args.lowres, zero_outside=args.zero_outside),
                 desc, resume=args.resume, init=args.init, command=command)


def trained_contrasts(args) -> list[str]:
    """The contrasts a --data real run trains on, as the shipped model's provenance states them."""
    out = [f"T1w (MNI152 template, Colin27{' with and without skull' if args.skull else ''})"]
    out += [f"{c} (synthesized from MNI152 tissue maps)" for c in args.contrasts.split(",") if c]
    if args.curves:
        out.append(f"random contrast curves, inverted and unsorted ({args.curves:.0%} of crops)")
    return out


def trained_variations(args) -> list[str]:
    """How a --data real run varies its crops beyond contrast, for the provenance."""
    out = [f"zoom within 1 +/- {args.aug_scale:g}"]
    if args.transpose:
        out.append("all eight orientations of a crop")
    if args.lowres:
        out.append(f"coarser acquisition matrices down to {1 - args.lowres:.0%}")
    if args.zero_outside:
        out.append(f"exact zeros outside a random box ({args.zero_outside:.0%} of crops)")
    if args.real_fraction:
        out.append(f"magnitude images without phase reconstructed as real images ({args.real_fraction:.0%} of batches)")
    return out


def background_error(pred: np.ndarray, gt: np.ndarray, head: np.ndarray) -> tuple[float, float]:
    """(RMS error, stripe amplitude) on [0, 1] at least 5 px outside the head, NaN without such
    pixels. Stripes: the largest swing of the error's column means about their median (1D line
    undersampling aliases along the rows, so its leftovers are vertical stripes)."""
    from scipy import ndimage

    far = ~ndimage.binary_dilation(head, iterations=5)
    if not far.any():
        return float("nan"), float("nan")
    err = np.where(far, np.clip(pred, 0, 1) - gt, np.nan)
    with np.errstate(all="ignore"):
        cols = np.nanmean(err, axis=0)
    return float(np.sqrt(np.nanmean(err ** 2))), float(np.nanmax(np.abs(cols - np.nanmedian(cols))))


def score_slices(preds, truths) -> dict:
    """Mean metrics over (pred, (name, gt, head)) pairs, with the background RMS error."""
    rows = [{**slice_metrics(p, g, h), **dict(zip(("background_rmse", "stripes"), background_error(p, g, h)))}
            for p, (_, g, h) in zip(preds, truths)]
    return {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}


def source_of(name: str) -> str:
    return name.split("_")[0]


def classical(kind: str, ratio: float) -> dict:
    """Zero-filling, and TV and L1-wavelet tuned on the validation slices, on the test slices
    (in `by_size` order): {"tuned": settings, column: [predictions]}. One process per mask."""
    from im2im_core.data.real_scans import by_size, real_slices
    from im2im_core.mri import make_mask
    from im2im_core.mri.cs import METHODS, tune
    from im2im_core.mri.fft import fft2c_np, ifft2c_np

    val_imgs = np.stack([v[1] for v in real_slices("validation")])
    vmask = make_mask(kind, val_imgs.shape[-2:], ratio=ratio, seed=1234)
    val_k = fft2c_np(val_imgs.astype(np.complex64)) * vmask
    tuned = {m: tune(m, val_k, val_imgs, vmask, lambda p, g: slice_metrics(p, g)["psnr"])[0] for m in CLASSICAL}
    out = {"tuned": tuned, "zero-filled": [], **{m: [] for m in CLASSICAL}}
    for shape, group in by_size(real_slices("test")).items():
        mask = make_mask(kind, shape, ratio=ratio, seed=1234)
        k = fft2c_np(np.stack([g[1] for g in group]).astype(np.complex64)) * mask
        out["zero-filled"] += list(np.abs(ifft2c_np(k)))
        for m in CLASSICAL:
            out[m] += [METHODS[m](ks, mask, **tuned[m]) for ks in k]
    return out


def run_recon(args, data, out, cmd):
    """Every method on the real held-out slices (im2im_core/data/real_mri), classical baselines tuned
    on the validation slices; one row per (mask, ratio), and per source at 20%. The classical
    baselines of different masks run in parallel processes (--jobs)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from im2im_core.data.real_scans import real_slices

    kinds = args.masks.split(",")
    unknown = set(kinds) - set(RECON_MODELS)
    if unknown:
        raise SystemExit(f"--masks: unknown {sorted(unknown)}; use {', '.join(RECON_MODELS)}")
    models = {kind: train_recon(args, kind, RECON_MODELS[kind], out, cmd) if args.train else RECON_MODELS[kind]
              for kind in kinds}
    for item in args.checkpoint:
        kind, _, path = item.partition("=")
        if kind not in kinds or not path:
            raise SystemExit(f"--checkpoint {item!r}: use KIND=PATH with KIND one of --masks ({', '.join(kinds)})")
        models[kind] = path
    test = real_slices("test")
    ratios = [float(r) for r in args.ratios.split(",")] if args.ratios else None
    cases = [m for m in RECON_MASKS if m[0] in kinds and (ratios is None or m[1] in ratios)]
    if args.model_only:
        return model_only(args, kinds, models, cases, test, cmd)
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        baselines = list(pool.map(classical, *zip(*cases)))
    rows = []
    for (kind, ratio), preds in zip(cases, baselines):
        tuned = preds.pop("tuned")
        preds["model"], order = model_predictions(models[kind], kind, ratio, test)
        row = {"mask": f"{kind} {int(ratio * 100)}%", "tuned": tuned,
               **{c: score_slices(preds[c], order) for c in COLUMNS},
               "by_source": {src: {c: score_slices([p for p, o in zip(preds[c], order) if source_of(o[0]) == src],
                                                   [o for o in order if source_of(o[0]) == src]) for c in COLUMNS}
                             for src in dict.fromkeys(source_of(o[0]) for o in order)}}
        rows.append(row)
        print(row["mask"], {c: (round(row[c]["psnr"], 2), round(row[c]["ssim"], 3)) for c in COLUMNS}, flush=True)
    if args.ship:
        ship_recon(args, models, rows, cmd)
    result = {"rows": rows, "command": cmd, "source": "measured"}
    write_json(out / f"recon_{'_'.join(kinds)}.json", result)
    if args.record:
        for kind in kinds:
            write_json(Path(args.results) / f"recon_{kind}.json",
                       {**result, "rows": [r for r in rows if r["mask"].startswith(kind + " ")]})
    return recon_tables(rows)


def ship_recon(args, models: dict, rows: list, cmd: str) -> None:
    """Ship each trained (--train) or given (--checkpoint) model over the shipped one only if it
    wins the validation ranking (`recon_contrasts.select`: the T2*w EPI subject and the T1
    validation subjects, 20%, with and without phase); the provenance keeps the command that
    trained it, the ranking and this command."""
    from .recon_contrasts import select

    for kind, path in models.items():
        if path == RECON_MODELS[kind]:
            continue
        trained_with = cmd if args.train else _training_command(path)
        if _same_weights(path, RECON_MODELS[kind]):  # only the metadata changes
            print(f"{kind}: the shipped {RECON_MODELS[kind]} has these weights; its metadata is rewritten", flush=True)
            ranking = _shipped_ranking(RECON_MODELS[kind])
        else:
            ranking = select(kind, [RECON_MODELS[kind], str(path)])
            print(f"{kind} on validation: " + ", ".join(f"{p} {v:.2f} dB" for p, v in ranking), flush=True)
            if ranking[0][0] != str(path):
                print(f"not shipped: the shipped {RECON_MODELS[kind]} scores higher on validation", flush=True)
                continue
        r = next(r for r in rows if r["mask"] == f"{kind} 20%")
        trained_args = _arguments_of(trained_with)
        print("shipped", ship(path, RECON_MODELS[kind],
                              {f"{kind} 20% PSNR, real held-out slices": {c: round(r[c]["psnr"], 2) for c in COLUMNS}},
                              trained_with,
                              {"task": "CS-MRI, trained on MNI152 + Colin27, tested on other subjects",
                               "contrasts": trained_contrasts(trained_args),
                               "variations": trained_variations(trained_args),
                               "classical_tuned_on_validation_at_20%": r["tuned"],
                               "chosen_on_validation": {"rule": "mean PSNR at 20%, with and without phase, "
                                                                "T2*w EPI and T1 validation slices",
                                                        "scores_dB": {p: round(v, 2) for p, v in ranking}},
                               "shipped_with": cmd}))


def _same_weights(path, shipped: str) -> bool:
    """Whether two checkpoints hold the same generator (a shipped file keeps no discriminator)."""
    import im2im_core
    import torch

    a, b = (im2im_core.load(p, device="cpu", precision="fp32").model for p in (path, shipped))
    return all(torch.equal(x, y) for name in a.generator_names
               for x, y in zip(getattr(a, name).state_dict().values(), getattr(b, name).state_dict().values()))


def _shipped_ranking(shipped: str) -> list[tuple[str, float]]:
    """The validation ranking a shipped checkpoint records."""
    import im2im_core

    prov = im2im_core.load(shipped, device="cpu", precision="fp32").meta.get("provenance", {})
    return list(prov.get("chosen_on_validation", {}).get("scores_dB", {}).items())


def _training_command(path) -> str:
    """The command that trained an export (its run's command.txt), or a clear stop."""
    f = Path(path).parent / COMMAND_FILE
    if not f.is_file():
        raise SystemExit(f"--ship --checkpoint: {f} is missing, so the command that trained {path} is unknown")
    return f.read_text().strip()


def _arguments_of(command: str) -> argparse.Namespace:
    """This benchmark's options as a recorded command line gave them."""
    import shlex

    words = shlex.split(command)
    return parser().parse_args(words[words.index("training.benchmarks.reconstruction") + 1:])


def model_predictions(model, kind: str, ratio: float, test):
    """(predictions, slices in prediction order) of a recon model on the real test slices."""
    import im2im_core
    from im2im_core.data.real_scans import by_size
    from im2im_core.mri import make_mask

    tr = im2im_core.load(model, device="cpu", precision="fp32")
    preds, order = [], []
    for shape, group in by_size(test).items():
        imgs = np.stack([g[1] for g in group])
        mask = make_mask(kind, shape, ratio=ratio, seed=1234)
        preds += list(np.clip(tr.translate(imgs, mask=mask, data_consistency=True, out_dtype="float32"), 0, 1))
        order += group
    return preds, order


def model_only(args, kinds, models, cases, test, cmd):
    """Re-score only the model column of the committed rows: the classical baselines see the same
    slices, masks and validation tuning, so their committed scores stand (a new shipped model)."""
    rows = []
    for kind in kinds:
        committed = json.loads((Path(args.results) / f"recon_{kind}.json").read_text())
        for row in committed["rows"]:
            ratio = float(row["mask"].split()[1].rstrip("%")) / 100
            if (kind, ratio) not in cases:
                rows.append(row)
                continue
            preds, order = model_predictions(models[kind], kind, ratio, test)
            row["model"] = score_slices(preds, order)
            for src in row.get("by_source", {}):
                pick = [i for i, o in enumerate(order) if source_of(o[0]) == src]
                row["by_source"][src]["model"] = score_slices([preds[i] for i in pick], [order[i] for i in pick])
            rows.append(row)
            print(row["mask"], {c: (round(row[c]["psnr"], 2), round(row[c]["ssim"], 3)) for c in COLUMNS}, flush=True)
        result = {**committed, "rows": [r for r in rows if r["mask"].startswith(kind + " ")],
                  "model_command": cmd}
        write_json(Path(args.out) / f"recon_{kind}.json", result)
        if args.record:
            write_json(Path(args.results) / f"recon_{kind}.json", result)
    if args.ship:
        ship_recon(args, models, rows, cmd)
    return recon_tables(rows)


def recon_tables(rows) -> str:
    """The table of `run_recon`'s rows; rows recorded from a checkpoint's provenance carry only
    PSNR and SSIM per column, so their cells without a number print "-"."""
    def cell(r, c, key, fmt):
        v = r[c].get(key)
        return "-" if v is None else format(v, fmt)

    lines = ["| mask | " + " | ".join(f"{c} PSNR / SSIM" for c in COLUMNS) + " | in the head: PSNR / SSIM ("
             + " / ".join(COLUMNS) + ") | background RMS error, stripes (" + " / ".join(COLUMNS) + ") | tuned on validation |",
             "|---" * (len(COLUMNS) + 4) + "|"]
    for r in rows:
        cells = " | ".join(f"{r[c]['psnr']:.2f} dB / {r[c]['ssim']:.3f}" for c in COLUMNS)
        head = " / ".join(f"{cell(r, c, 'psnr_mask', '.2f')} dB, {cell(r, c, 'ssim_mask', '.3f')}" for c in COLUMNS)
        bg = " / ".join(f"{cell(r, c, 'background_rmse', '.4f')}, {cell(r, c, 'stripes', '.4f')}" for c in COLUMNS)
        settings = "; ".join(f"{m} w={t['weight']:g}, {t['iterations']} it" for m, t in r["tuned"].items())
        lines.append(f"| {r['mask']} | {cells} | {head} | {bg} | {settings} |")
    for r in rows:
        if r["mask"].endswith(" 20%") and r.get("by_source"):
            lines += ["", f"Per source, {r['mask']} (PSNR / SSIM, whole image):", "",
                      "| source | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
            for src, cols in r["by_source"].items():
                lines.append(f"| {src} | " + " | ".join(f"{cols[c]['psnr']:.2f} dB / {cols[c]['ssim']:.3f}"
                                                       for c in COLUMNS) + " |")
    return "\n".join(lines)


# ---- inpainting ----------------------------------------------------------------------------
#: photos and micrographs that ship offline in scikit-image's, scikit-learn's ("sklearn:") and
#: matplotlib's ("*.jpg", "*.npz") wheels, grey; held-out ones are never cropped for training
PHOTOS_TRAIN = ("astronaut", "brick", "chelsea", "grass", "gravel", "hubble_deep_field",
                "immunohistochemistry", "page", "retina", "rocket", "text", "clock", "stereo_motorcycle",
                "shepp_logan_phantom", "grace_hopper.jpg", "jacksboro_fault_dem.npz", "sklearn:china.jpg",
                "sklearn:flower.jpg")
PHOTOS_TEST = ("camera", "cell", "coins", "moon")
PHOTOS_VALIDATION = ("coffee", "microaneurysms")


def photo(name: str) -> np.ndarray:
    """One offline sample image (see PHOTOS_TRAIN) as grey float32 in [0, 1] (those over 800 px halved,
    to train faster; the elevation map min-max scaled)."""
    import skimage.data
    from skimage.color import rgb2gray
    from skimage.transform import rescale

    if name.startswith("sklearn:"):
        from sklearn.datasets import load_sample_image

        img = load_sample_image(name.partition(":")[2])
    elif name.endswith((".jpg", ".npz")):  # matplotlib's sample data (in its wheel)
        import imageio.v3 as iio
        from matplotlib.cbook import get_sample_data

        path = get_sample_data(name, asfileobj=False)
        if name.endswith(".npz"):
            with np.load(path) as z:
                img = z[z.files[0]].astype(np.float64)
            img = (img - img.min()) / (img.max() - img.min())
        else:
            img = iio.imread(path)
    else:
        img = getattr(skimage.data, name)()
        img = img[0] if name == "stereo_motorcycle" else img  # (left, right, disparity): the left view
    if img.ndim == 3:
        img = rgb2gray(img[..., :3])
    elif img.dtype == np.uint8:
        img = img / 255
    if max(img.shape) > 800:
        img = rescale(img, 0.5, anti_aliasing=True)
    return np.clip(img, 0, 1).astype(np.float32)


def inpaint_data(which: str, split: str, template=None):
    """{"train": images, "test": [(name, image)]}: whole 1 mm template and Colin27 slices with the
    real scans of other subjects as `split`, the template thumbnails of `load_data` (the earlier
    shipped model's data; "test" only), or scikit-image's photos with the held-out ones."""
    if which == "template":
        return {"train": template["train"], "test": [(str(i), x) for i, x in enumerate(template["test"])]}
    if which == "mri":
        from im2im_core.data.real_scans import real_slices

        from .real_mri import training_slices

        return {"train": training_slices(256), "test": [(n, img) for n, img, _ in real_slices(split)]}
    names = PHOTOS_TEST if split == "test" else PHOTOS_VALIDATION
    return {"train": [photo(n) for n in PHOTOS_TRAIN], "test": [(n, photo(n)) for n in names]}


def run_inpaint(args, data, out, cmd):
    import im2im_core
    from skimage.restoration import inpaint_biharmonic

    from im2im_core.data.holes import random_hole_mask
    from im2im_core.data.mri_augment import MRIAugment
    from im2im_core.data.transforms import PhotoAugment
    from im2im_core.intensity import Intensity
    from im2im_core.models.inpaint import InpaintConfig

    mri = args.inpaint_data in ("mri", "template")
    name = "inpaint_mri" if mri else "inpaint_photo"
    data = inpaint_data(args.inpaint_data, args.split, data)
    model = dict(c.partition("=")[::2] for c in args.checkpoint).get("inpaint", name)
    if args.train:
        cfg = InpaintConfig(ngf=args.inpaint_ngf, hole_kind="mixed", hole_ratio=(0.1, 0.4), lambda_gan=args.inpaint_adv,
                            l2_hole_weight=args.inpaint_l2, arch=args.inpaint_arch)
        if args.inpaint_data == "template":  # the recipe of the model shipped before the real-scan one
            aug, desc = None, ""
        elif mri:
            aug = MRIAugment(crop_size=args.crop, noise=args.noise, scale=args.aug_scale)
            desc = (f"MNI152 T1 template and Colin27, {len(data['train'])} whole 1 mm slices from 3 orientations "
                    f"padded to 256 px, random {args.crop} px crops with MRIAugment; tested on other subjects "
                    "(im2im_core/data/real_mri)")
        else:
            aug = PhotoAugment(crop_size=args.crop)
            desc = (f"offline photos and micrographs {', '.join(PHOTOS_TRAIN)} (grey), random {args.crop} px crops "
                    "from windows up to twice as large, 8 orientations, gamma curves")
        template = args.inpaint_data == "template"
        model = train(cfg, data, args.iterations, out, name, 2 if template else args.batch_size, args.lr or 5e-4,
                      Intensity("percentile", 0.0, 99.5 if template else 100.0), aug, desc, resume=args.resume)
    tr = im2im_core.load(model, device="cpu", precision="fp32")
    rng = np.random.default_rng(7)
    rows = []
    for lo, hi in HOLE_RANGES:
        errs = {"biharmonic": [], "model": []}
        achieved = []
        for _, gt in data["test"]:
            hole = random_hole_mask(gt.shape, rng, (lo, hi)).astype(bool)
            holed = np.where(hole, 0, gt).astype(np.float32)
            preds = {"biharmonic": inpaint_biharmonic(holed, hole),
                     "model": tr.translate(holed, mask=hole, out_dtype="float32")}
            for m, pred in preds.items():
                errs[m].append(np.abs(np.clip(pred, 0, 1) - gt)[hole])
            achieved.append(hole.mean())
        row = {"holes": f"{int(lo * 100)}-{int(hi * 100)}%", "achieved": float(np.mean(achieved))}
        for m, e in errs.items():
            e = np.concatenate(e)
            row[m] = {"l1_hole": float(e.mean()), "psnr_hole": float(10 * np.log10(1 / np.mean(e ** 2)))}
        rows.append(row)
        print(row, flush=True)
    if args.train and args.ship:
        r = rows[-1]
        print("shipped", ship(model, name, {"holes 20-40% L1 / PSNR in holes": {
            m: [round(r[m]["l1_hole"], 4), round(r[m]["psnr_hole"], 2)] for m in ("biharmonic", "model")}},
            cmd, {"task": "free-form inpainting, " + {"mri": "MRI: trained on MNI152 + Colin27, tested on other subjects",
                                                      "template": "MNI152 T1 template",
                                                      "photos": "grey photos and micrographs"}[args.inpaint_data]}))
    result = {"rows": rows, "command": cmd, "source": "measured", "model": str(model), "split": args.split}
    write_json(out / f"{name}_{args.split}.json", result)
    if args.record:
        write_json(Path(args.results) / f"{name}_{args.split}.json", result)
    return inpaint_table(rows)


def inpaint_table(rows) -> str:
    lines = ["| hole ratio | biharmonic L1 / PSNR in holes | model L1 / PSNR in holes |", "|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['holes']} (mean {r['achieved']:.0%}) | {r['biharmonic']['l1_hole']:.4f} / "
                     f"{r['biharmonic']['psnr_hole']:.2f} dB | {r['model']['l1_hole']:.4f} / {r['model']['psnr_hole']:.2f} dB |")
    return "\n".join(lines)


# ---- super-resolution ----------------------------------------------------------------------
def run_sr(args, data, out, cmd):
    import im2im_core
    from skimage.transform import resize

    from im2im_core.intensity import Intensity
    from im2im_core.models.super_resolution import SuperResolutionConfig

    rows = []
    for scale in (2, 4):
        name = f"sr_x{scale}_mri"
        model = name
        if args.train:
            model = train(SuperResolutionConfig(scale=scale, n_blocks=8, nf=32), data, args.iterations, out, name, 4, 2e-4,
                          Intensity("percentile", 0.0, 99.5))
        tr = im2im_core.load(model, device="cpu", precision="fp32")
        lr = np.stack([resize(x, (SIZE // scale,) * 2, order=3, anti_aliasing=True) for x in data["test"]]).astype(np.float32)
        bicubic = np.stack([resize(x, (SIZE, SIZE), order=3) for x in lr])
        net = tr.translate(lr, out_dtype="float32")
        row = {"scale": scale, "bicubic": eval_rows(bicubic, data), "model": eval_rows(net, data)}
        rows.append(row)
        print(scale, {m: round(row[m]["psnr"], 2) for m in ("bicubic", "model")}, flush=True)
        if args.train and args.ship:
            print("shipped", ship(model, name, {f"x{scale} PSNR": {m: round(row[m]["psnr"], 2) for m in ("bicubic", "model")}},
                                  cmd, {"task": f"x{scale} super-resolution, MNI152 T1", "image_size": SIZE}))
    result = {"rows": rows, "command": cmd, "source": "measured"}
    write_json(out / "sr.json", result)
    if args.record:
        write_json(Path(args.results) / "sr.json", result)
    return sr_table(rows)


def sr_table(rows) -> str:
    lines = ["| scale | bicubic PSNR / SSIM | model PSNR / SSIM |", "|---|---|---|"]
    for r in rows:
        lines.append(f"| ×{r['scale']} | {r['bicubic']['psnr']:.2f} dB / {r['bicubic']['ssim']:.3f} | "
                     f"{r['model']['psnr']:.2f} dB / {r['model']['ssim']:.3f} |")
    return "\n".join(lines)


# ---- the committed results -----------------------------------------------------------------
def _source(r: dict) -> str:
    model = f"\n\nModel column re-scored for the shipped model: `{r['model_command']}`" if r.get("model_command") else ""
    return f"Command: `{r['command']}`" + model + (f"\n\nNote: {r['note']}." if r.get("note") else "")


def report(results: Path = RESULTS) -> str:
    """The tables of the committed results (recon per mask family, inpainting, SR); computes nothing."""
    out = []
    for f in sorted(results.glob("recon_*.json")):
        r = json.loads(f.read_text())
        out += [f"CS-MRI reconstruction, real scans of other subjects ({f.name}):", "", recon_tables(r["rows"]), "",
                _source(r), ""]
    for f in sorted(results.glob("inpaint_*.json")):
        r = json.loads(f.read_text())
        out += [f"Inpainting, L1 / PSNR in the holes, {r.get('split', 'test')} split ({f.name}):", "",
                inpaint_table(r["rows"]), "", _source(r), ""]
    from .recon_contrasts import contrast_tables

    if (tables := contrast_tables(results)):
        out += [tables, ""]
    f = results / "sr.json"
    if f.exists():
        r = json.loads(f.read_text())
        out += ["Super-resolution, MNI152 template slabs (sr.json):", "", sr_table(r["rows"]), "", _source(r), ""]
    return "\n".join(out).rstrip()


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", choices=("recon", "inpaint", "sr"), default="recon")
    ap.add_argument("--report", action="store_true",
                    help="only print the tables from the committed results (training/benchmarks/results/reconstruction)")
    ap.add_argument("--record", action="store_true",
                    help="also write the results to --results (training/benchmarks/results/reconstruction, committed)")
    ap.add_argument("--results", default=str(RESULTS),
                    help="the committed results folder that --record writes and --report reads")
    ap.add_argument("--train", action="store_true", help="train the model(s) first (else use the shipped ones)")
    ap.add_argument("--ship", action="store_true", help="copy trained models into im2im_core/weights")
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--masks", default="gaussian1d,poisson2d", help="recon: which mask families (models) to run")
    ap.add_argument("--arch", choices=("cascade", "unet"), default="cascade",
                    help="recon: DC-CNN cascade (default) or DAGAN's U-Net")
    ap.add_argument("--ratios", default="", help="recon: only these sampling ratios, e.g. 0.2 (default: all)")
    ap.add_argument("--phase", type=float, default=0.0,
                    help="recon: train with a random smooth phase up to this many radians on each image")
    ap.add_argument("--real-fraction", type=float, default=0.0,
                    help="recon: fraction of batches kept real-valued and reconstructed with the real-image constraint")
    ap.add_argument("--resume", action="store_true", help="continue the run in --out instead of starting afresh")
    ap.add_argument("--jobs", type=int, default=2, help="recon: processes for the classical baselines")
    ap.add_argument("--model-only", action="store_true",
                    help="recon: re-score only the model column of the committed rows (baselines unchanged)")
    ap.add_argument("--checkpoint", action="append", default=[], metavar="KIND=PATH",
                    help="recon: evaluate this checkpoint for a mask kind instead of the shipped model")
    ap.add_argument("--data", choices=("template", "real"), default="real",
                    help="recon: train on template thumbnails or on 1 mm template + Colin27 slices with augmentation")
    ap.add_argument("--noise", type=float, default=0.03, help="recon --data real, inpaint mri: largest Rician noise level")
    ap.add_argument("--recon-adv", type=float, default=0.1, help="recon --data real: adversarial weight")
    ap.add_argument("--recon-fm", type=float, default=1.0, help="recon --data real: feature-matching weight")
    ap.add_argument("--recon-ssim", type=float, default=0.0, help="recon --data real: weight of 1 - SSIM")
    ap.add_argument("--skull", action="store_true", help="recon --data real: add Colin27 with its skull")
    ap.add_argument("--contrasts", default="", help="recon --data real: add these contrasts synthesized from the "
                    "MNI152 tissue maps, e.g. T2w,PD")
    ap.add_argument("--curves", type=float, default=0.0,
                    help="recon --data real: share of crops given a random (inverted or unsorted) contrast curve")
    ap.add_argument("--transpose", action="store_true", help="recon --data real: all eight orientations of a crop")
    ap.add_argument("--lowres", type=float, default=0.0,
                    help="recon --data real: crops keep a central fraction in [1 - this, 1] of k-space (coarser scans)")
    ap.add_argument("--init", default="", help="recon: start from this model's weights (export path or shipped name)")
    ap.add_argument("--zero-outside", type=float, default=0.0,
                    help="recon --data real: probability of zeroing a crop outside a random box (zero-padded scans)")
    ap.add_argument("--aug-scale", type=float, default=0.1, help="recon --data real, inpaint mri: zoom range 1 +/- this")
    ap.add_argument("--crop", type=int, default=192, help="recon --data real, inpaint: training crop size")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--lr", type=float, default=0, help="Adam step (0: the task's default)")
    ap.add_argument("--inpaint-ngf", type=int, default=16, help="inpaint: generator width")
    ap.add_argument("--inpaint-data", choices=("mri", "template", "photos"), default="mri",
                    help="inpaint: MRI (template + Colin27, scored on real scans of other subjects), the "
                         "template thumbnails the earlier inpaint_mri trained on, or scikit-image's offline photos")
    ap.add_argument("--inpaint-arch", choices=("gated", "unet"), default="gated", help="inpaint: generator")
    ap.add_argument("--inpaint-l2", type=float, default=0.0, help="inpaint: squared-error weight in the holes")
    ap.add_argument("--inpaint-adv", type=float, default=0.1,
                    help="inpaint: adversarial weight (0.1 the family default; lower favours L1 in the holes)")
    ap.add_argument("--split", choices=("test", "validation"), default="test",
                    help="inpaint: score on the held-out test images or on the validation ones (to choose a recipe)")
    ap.add_argument("--out", default="runs/reconstruction")
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.report:
        print(report(Path(args.results)))
        return 0
    if args.record and (args.train or args.checkpoint) and not args.ship:
        raise SystemExit("--record writes the committed results of the shipped models: a trained model or "
                         "--checkpoint only with --ship")
    out = Path(args.out)
    cmd = command_line("training.benchmarks.reconstruction", argv)
    data = None
    if args.task == "sr" or (args.task == "inpaint" and args.inpaint_data == "template"):
        data = load_data()
        print(f"train slices {len(data['train'])}, test slices {len(data['test'])}", flush=True)
    table = {"recon": run_recon, "inpaint": run_inpaint, "sr": run_sr}[args.task](args, data, out, cmd)
    table += f"\n\nCommand: `{cmd}`"
    tag = f"_{args.masks.replace(',', '_')}" if args.task == "recon" else ""
    (out / f"{args.task}{tag}_table.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
