"""`im2im demo`: the project's main job end to end, offline, on shipped models and packaged data.

Held-out MNI152 slices (anatomy nilearn ships; the T2w contrast is synthesised from the same
tissue maps, so there is a ground truth) go through each shipped model: CS-MRI reconstruction,
T1w -> T2w translation, attention masks, inpainting and super-resolution; then the text models on
held-out scenes of the rendered shapes world (demo_text). Writes a figure
(demo.png) and a metrics table (metrics.md, metrics.csv) and prints where they are.
"""
from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

RECON, ATTENTION, INPAINT, SR = "mri_recon_1dgauss", "attention_t1w_t2w", "inpaint_mri", "sr_x2_mri"
LESIONS = "acl_gan_lesions"  # lesion removal without a cycle (2 mm slices)
SKULL = "skull_attention"  # skull removal on a real head (Colin27, 1 mm)
TRANSLATORS = ("pix2pix_t1w_t2w", "cyclegan_t1w_t2w", "unit_t1w_t2w")  # those trained at 1 mm are shown


def _metrics(pred, gt, mask=None) -> dict:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    pred = np.clip(pred, 0, 1).astype(np.float64)
    gt = gt.astype(np.float64)
    out = {"PSNR": peak_signal_noise_ratio(gt, pred, data_range=1.0),
           "SSIM": structural_similarity(gt, pred, data_range=1.0)}
    if mask is not None:
        out["PSNR in region"] = float(10 * np.log10(1 / max(np.mean((pred[mask] - gt[mask]) ** 2), 1e-12)))
    return out


def _slices(contrast: str, size: int, n: int):
    """n held-out axial slices of one contrast, [0, 1], plus their brain masks."""
    from .data import mni

    tis = mni.load_mni_tissues()
    idx = mni.split_slices(tis["brain"], axis=2)["test"]
    pick = idx[np.linspace(0, len(idx) - 1, n).round().astype(int)]
    vol = tis["t1_template"] if contrast == "template" else mni.synthesize_contrast(tis, contrast)
    img = mni._slices(np.clip(vol, 0, 1), tis["brain"], 2, pick, size)
    brain = mni._slices(tis["brain"].astype(np.float32), tis["brain"], 2, pick, size) > 0.5
    return img.astype(np.float32), brain


def _native(n: int, whole: bool):
    """Real T1 template and synthetic T2w at 1 mm: the stacks to translate (the whole volume as
    napari shows it, or only the held-out test slab), the rows of n held-out slices, brain masks."""
    from .data import mni

    tis = mni.load_mni_tissues()
    test = mni.native_split(tis["brain"], axis=2)["test"]
    index = np.arange(tis["brain"].shape[2]) if whole else test
    rows = np.searchsorted(index, test[np.linspace(0, len(test) - 1, n).round().astype(int)])
    stacks = {c: mni.native_slices(mni.contrast_volume(tis, c), index) for c in ("T1w", "T2w")}
    brain = mni.native_slices(tis["brain"].astype(np.float32), index) > 0.5
    return stacks, rows, brain


def _at_1mm(name: str) -> bool:
    """Trained at 1 mm (the older 64 px thumbnail models record no spacing and speckle at 1 mm)."""
    from .checkpoint import read_metadata
    from .inference import shipped_models

    return read_metadata(shipped_models()[name]).get("spacing") == (1.0, 1.0)


def _available(name: str) -> bool:
    from .inference import shipped_models

    return name in shipped_models()


def run_demo(out_dir="im2im_demo_out", quick: bool = False) -> dict:
    """Run every available shipped model; returns {"figure", "table", "csv", "rows", "layers"}
    ("layers": name -> array, what `python -m napari_im2im` shows in napari)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import load
    from .mri import make_mask
    from .mri.fft import fft2c_np, ifft2c_np

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n = 2 if quick else 6
    rows, panels, layers = [], [], {}
    t0 = time.time()

    if _available(RECON):  # 1. CS-MRI reconstruction at 20% 1D Gaussian sampling, real scans of other subjects
        from .data.real_scans import by_size, real_slices

        gt = np.stack([s[1] for s in by_size(real_slices("test"))[(256, 256)]][:n]).astype(np.float32)
        mask = make_mask("gaussian1d", gt.shape[-2:], ratio=0.2, seed=1234)
        zf = np.abs(ifft2c_np(fft2c_np(gt.astype(np.complex64)) * mask)).astype(np.float32)
        tr = load(RECON, device="auto")
        rec = tr.translate(gt, mask=mask, data_consistency=True, out_dtype="float32")
        for name, pred in (("zero-filled", zf), (f"{RECON} + data consistency", rec)):
            m = np.mean([list(_metrics(p, g).values()) for p, g in zip(pred, gt)], axis=0)
            rows.append(("CS-MRI 1D Gaussian 20%", name, m[0], m[1]))
        panels.append(("CS-MRI, 20% of k-space (real scan)",
                       [("ground truth", gt[0]), ("sampling mask", mask.astype(float)), ("zero-filled", zf[0]),
                        ("reconstruction", rec[0]), ("|error| x4", np.clip(4 * np.abs(rec[0] - gt[0]), 0, 1))]))
        layers.update({"MRI ground truth": gt, "zero-filled": zf, "reconstruction": rec})

    stacks, pick, _ = _native(n, whole=not quick)
    t1, t2 = stacks["T1w"][pick], stacks["T2w"][pick]
    trans = [name for name in TRANSLATORS if _available(name) and _at_1mm(name)]
    if trans:  # 2. T1w -> T2w at 1 mm: the real template in (whole volume, as napari shows it), synthetic T2w truth
        row_panels = [("T1w input (MNI152 template)", t1[0])]
        m = np.mean([list(_metrics(p, g).values()) for p, g in zip(t1, t2)], axis=0)
        rows.append(("T1w -> T2w (1 mm)", "identity (input)", m[0], m[1]))
        for name in trans:
            pred = load(name, device="auto").translate(stacks["T1w"], direction="T1w->T2w", out_dtype="float32",
                                                       spacing=(1.0, 1.0, 1.0))[pick]
            m = np.mean([list(_metrics(p, g).values()) for p, g in zip(pred, t2)], axis=0)
            rows.append(("T1w -> T2w (1 mm)", name, m[0], m[1]))
            row_panels.append((name, pred[0]))
            layers[f"T2w from {name}"] = pred
        row_panels.append(("T2w ground truth", t2[0]))
        panels.append(("Contrast translation T1w -> T2w (held-out 1 mm slices)", row_panels))
        layers.update({"T1w": t1, "T2w ground truth": t2})

    if _available(ATTENTION) and _at_1mm(ATTENTION):  # 3. attention masks, on the same 1 mm slices
        res = load(ATTENTION, device="auto").translate(stacks["T1w"], direction="T1w->T2w", return_attention=True,
                                                       out_dtype="float32", spacing=(1.0, 1.0, 1.0))
        a_out, att = res["image"][pick], res["attention"][pick]
        m = np.mean([list(_metrics(p, g).values()) for p, g in zip(a_out, t2)], axis=0)
        rows.append(("T1w -> T2w (1 mm)", ATTENTION, m[0], m[1]))
        panels.append(("Attention-guided CycleGAN (1 mm)",
                       [("T1w input", t1[0]), ("attention mask", att[0]), ("output", a_out[0]),
                        ("T2w ground truth", t2[0])]))
        layers["attention"] = att

    if _available(LESIONS):  # 4. lesion removal on held-out 2 mm slices with synthetic lesions
        from .data.lesions import SPACING, lesion_data

        test = lesion_data()["test"]
        k = np.linspace(0, len(test["image"]) - 1, n).round().astype(int)
        x, truth = test["image"][k], test["truth"][k]
        res = load(LESIONS, device="auto").translate(x, return_attention=True, out_dtype="float32",
                                                     spacing=(1.0, SPACING, SPACING))
        for name, pred in (("identity (input)", x), (LESIONS, res["image"])):
            v = [_metrics(p, g, h) for p, g, h in zip(pred, truth, test["mask"][k])]
            rows.append(("Lesion removal (PSNR in lesions)", name, float(np.mean([d["PSNR in region"] for d in v])),
                         float(np.mean([d["SSIM"] for d in v]))))
        panels.append(("Lesion removal (ACL-GAN, 2 mm)",
                       [("T1 with lesions", x[0]), ("lesion mask (truth)", test["mask"][k][0].astype(float)),
                        ("model's mask", res["attention"][0]), ("lesions removed", res["image"][0]),
                        ("lesion-free truth", truth[0])]))
        layers.update({"T1 with lesions": x, "lesions removed": res["image"]})

    if _available(SKULL):  # 4b. skull removal on held-out whole 1 mm slices of a real head
        from .data.skull import skull_data

        test = skull_data()["test"]
        k = np.linspace(0, len(test["image"]) - 1, n).round().astype(int)
        x, truth = test["image"][k], test["truth"][k]
        res = load(SKULL, device="auto").translate(x, return_attention=True, out_dtype="float32")
        for name, pred in (("identity (input)", x), (SKULL, res["image"])):
            m = np.mean([list(_metrics(p, g).values()) for p, g in zip(pred, truth)], axis=0)
            rows.append(("Skull removal, Colin27 (1 mm)", name, m[0], m[1]))
        panels.append(("Skull removal (attention CycleGAN, real head, 1 mm)",
                       [("T1 head (held out)", x[0]), ("attention mask", res["attention"][0]),
                        ("skull removed", res["image"][0]), ("brain (ch2bet truth)", truth[0])]))
        layers.update({"T1 head": x, "skull removed": res["image"]})

    if _available(INPAINT) or _available(SR):  # 5. inpainting (real scans of other subjects) and super-resolution
        gt, _ = _slices("template", 128, n)
        row_panels = []
        if _available(INPAINT):
            from skimage.restoration import inpaint_biharmonic

            from .data.holes import random_hole_mask
            from .data.real_scans import by_size, real_slices

            scans = np.stack([s[1] for s in by_size(real_slices("test"))[(256, 256)]][:n]).astype(np.float32)
            rng = np.random.default_rng(3)
            tr = load(INPAINT, device="auto")
            for lo, hi in ((0.1, 0.2), (0.2, 0.4)):
                holes = np.stack([random_hole_mask(scans.shape[-2:], rng, (lo, hi)) for _ in scans]).astype(bool)
                holed = np.where(holes, 0, scans).astype(np.float32)
                filled = tr.translate(holed, mask=holes, out_dtype="float32")
                classical = np.stack([inpaint_biharmonic(x, h) for x, h in zip(holed, holes)]).astype(np.float32)
                for name, pred in (("biharmonic", classical), (INPAINT, filled)):
                    err = np.concatenate([np.abs(np.clip(f, 0, 1) - g)[h] for f, g, h in zip(pred, scans, holes)])
                    rows.append((f"Inpainting {lo:.0%}-{hi:.0%} holes, real scans (in holes)",
                                 f"{name} (L1 {err.mean():.4f})", float(10 * np.log10(1 / np.mean(err ** 2))),
                                 float("nan")))
            row_panels += [("with holes (real scan)", holed[0]), ("inpainted", filled[0]), ("biharmonic", classical[0]),
                           ("real scan", scans[0])]
            layers.update({"real scan": scans, "with holes": holed, "inpainted": filled})
        if _available(SR):
            from skimage.transform import resize

            low = np.stack([resize(g, (64, 64), order=3, anti_aliasing=True) for g in gt]).astype(np.float32)
            bic = np.stack([resize(x, (128, 128), order=3) for x in low])
            sr = load(SR, device="auto").translate(low, out_dtype="float32")
            for name, pred in (("bicubic", bic), (SR, sr)):
                m = np.mean([list(_metrics(p, g).values()) for p, g in zip(pred, gt)], axis=0)
                rows.append(("Super-resolution x2", name, m[0], m[1]))
            row_panels += [("low-res (x2 down)", low[0]), ("super-resolved", sr[0]), ("ground truth", gt[0])]
            layers["super-resolved"] = sr
        panels.append(("Inpainting (real scan) and super-resolution (template)", row_panels))

    from .demo_text import text_panels  # 6. text -> image and text-guided edits (shapes world)

    more = text_panels(_available)
    rows += more[0]
    panels += more[1]
    layers.update(more[2])

    if not panels:
        raise RuntimeError("no shipped models found in im2im_core/weights; reinstall the package")
    cols = max(len(p) for _, p in panels)
    fig, axes = plt.subplots(len(panels), cols, figsize=(2.3 * cols, 2.6 * len(panels)), squeeze=False)
    for r, (title, row) in enumerate(panels):
        for c in range(cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(row):
                ax.imshow(np.clip(row[c][1], 0, 1), cmap="gray", vmin=0, vmax=1)
                ax.set_title(row[c][0], fontsize=8 if "\n" not in row[c][0] else 6)
        axes[r][0].text(-0.08, 0.5, title, transform=axes[r][0].transAxes, rotation=90, va="center", ha="right", fontsize=8)
    fig.suptitle("napari-im2im demo: shipped models on held-out slices (MNI152; real scans for CS-MRI)", fontsize=10)
    fig.tight_layout()
    figure = out / "demo.png"
    fig.savefig(figure, dpi=110)
    plt.close(fig)

    table = out / "metrics.md"
    lines = ["| task | method | PSNR (dB) | SSIM |", "|---|---|---|---|"]
    lines += [f"| {t} | {m} | {p:.2f} | {'' if np.isnan(s) else f'{s:.3f}'} |" for t, m, p, s in rows]
    table.write_text("\n".join(lines) + "\n")
    with open(out / "metrics.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["task", "method", "psnr_db", "ssim"])
        w.writerows(rows)
    print("\n".join(lines))
    print(f"\nfigure:  {figure.resolve()}\ntable:   {table.resolve()}\ncsv:     {(out / 'metrics.csv').resolve()}"
          f"\n({time.time() - t0:.0f} s; metrics on [0, 1] images with data_range=1)")
    return {"figure": figure, "table": table, "csv": out / "metrics.csv", "rows": rows, "layers": layers}
