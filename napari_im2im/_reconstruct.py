"""MRI reconstruction, inpainting and super-resolution: the Reconstruct / Inpaint widget's core.

MRI: the input is the fully sampled ground truth; we undersample its k-space with a chosen
mask, show the mask, the zero-filled image, the reconstruction and an error map, and measure
PSNR/SSIM against the input. Without an `mri_recon` model the zero-filled image is the
reconstruction (the classical baseline). Inpaint: holes from a Labels/Shapes layer are filled by
an `inpaint` model, or by biharmonic inpainting when no model is chosen.
"""
from __future__ import annotations

import time
from typing import Generator

import numpy as np

from im2im_core.errors import InputError

from ._layers import Progress, check_cancel, check_image, output_kwargs, plane_kwargs, provenance, stream
from ._models import get_translator, model_info
from ._translate import translate_layer

WIDGET = "reconstruct"
MASK_KINDS = ("gaussian1d", "gaussian2d", "poisson2d", "random_lines", "equispaced_lines")


def make_mask(kind: str, shape, acceleration: float, seed: int = 0) -> np.ndarray:
    """Boolean k-space mask (H, W) sampling 1/acceleration of k-space."""
    from im2im_core.mri import make_mask as _make

    if kind not in MASK_KINDS:
        raise InputError(f"mask kind {kind!r} unknown; use one of {', '.join(MASK_KINDS)}")
    try:
        return np.asarray(_make(kind, tuple(shape), acceleration=float(acceleration), seed=int(seed)), bool)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def model_expects(spec, mask_kind: str, acceleration: float) -> tuple[str, list[str]]:
    """(what an mri_recon checkpoint was trained and tested on, how this mask setting departs from it);
    ("", []) for no model or a file without our metadata."""
    from im2im_core.checkpoint import read_metadata
    from im2im_core.errors import Im2ImError
    from im2im_core.inference import resolve_checkpoint
    from im2im_core.mri.envelope import departures, describe

    if spec is None:
        return "", []
    try:
        path = resolve_checkpoint(spec)
        meta = read_metadata(path) if path.suffix == ".safetensors" else None
    except Im2ImError:
        return "", []
    if not meta or meta.get("family") != "mri_recon":
        return "", []
    cfg = meta["config"].get("model", meta["config"])
    return describe(cfg, meta.get("provenance")), departures(cfg, make_mask(mask_kind, (128, 128), acceleration))


def zero_filled(image2d: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """|IFFT(mask * FFT(image))| of one real 2D image, float32."""
    import torch

    from im2im_core.mri import undersample

    _, zf = undersample(torch.from_numpy(np.asarray(image2d, np.float32)), torch.from_numpy(mask))
    return zf.numpy().astype(np.float32)


def describe_scores(m: dict) -> str:
    """'PSNR 31.20 dB, SSIM 0.912' ('identical' where the output equals the reference: no inf)."""
    psnr = f"PSNR {m['psnr']:.2f} dB" if np.isfinite(m["psnr"]) else "identical to the reference"
    return f"{psnr}, SSIM {m['ssim']:.3f}"


def metrics(gt: np.ndarray, pred: np.ndarray, data_range: float) -> dict[str, float]:
    """PSNR (from the mean squared error) and SSIM (skimage, explicit data_range, the mean over
    slices) over the 2D slices of a stack that hold signal: empty slices would score a perfect,
    infinite PSNR and lift the mean. PSNR is inf only when the output equals the reference."""
    from skimage.metrics import structural_similarity

    g = np.asarray(gt, np.float64).reshape(-1, *gt.shape[-2:])
    p = np.asarray(pred, np.float64).reshape(-1, *gt.shape[-2:])
    if min(g.shape[-2:]) < 7:
        raise InputError(f"planes of {g.shape[-2]} x {g.shape[-1]} pixels are too small to score (SSIM needs 7 x 7)")
    signal = np.abs(g).reshape(len(g), -1).max(1) > 1e-3 * data_range
    if not signal.any():
        raise InputError("the reference image is empty (no slice holds signal); nothing to score")
    g, p = g[signal], p[signal]
    mse = float(np.mean((g - p) ** 2))
    psnr = float("inf") if mse == 0 else float(10 * np.log10(data_range ** 2 / mse))
    ssim = [structural_similarity(a, b, data_range=data_range, win_size=7) for a, b in zip(g, p)]
    return {"psnr": psnr, "ssim": float(np.mean(ssim)), "slices_scored": int(signal.sum())}


def _window(translator, image: np.ndarray) -> tuple[float, float]:
    """The raw values the Translator maps to -1 and +1 for this image (as `translate` does)."""
    from im2im_core.layout import to_slices

    return translator.intensity.window(to_slices(image, 1, False)[0])


def mri_names(source: str) -> dict[str, str]:
    return {k: f"{source} [{k}]" for k in ("mask", "zero-filled", "reconstruction", "error")}


def reconstruct_layer(data, layer_meta: dict, model=None, *, mask_kind: str = "gaussian1d",
                      acceleration: float = 4.0, seed: int = 0, data_consistency: bool = True,
                      ensemble: bool = True, device: str = "auto",
                      cancel=None) -> Generator[Progress, None, list[tuple]]:
    """Yield Progress per slice; return mask, zero-filled, reconstruction and error layers.

    The reconstruction layer's metadata["im2im"]["metrics"] holds PSNR/SSIM of the
    reconstruction and of the zero-filled baseline against the input.
    """
    arr, meta = check_image(data, layer_meta)
    if meta["rgb"]:
        raise InputError("MRI reconstruction needs a grayscale (magnitude) image, not RGB")
    gt = arr.astype(np.float32)
    mask = make_mask(mask_kind, gt.shape[-2:], acceleration, seed)
    opts = {"mask_kind": mask_kind, "acceleration": acceleration, "ratio": float(mask.mean()), "seed": seed,
            "data_consistency": data_consistency, "ensemble": ensemble}
    t0 = time.perf_counter()
    planes = gt.reshape(-1, *gt.shape[-2:])
    zf = np.empty_like(planes)
    for i, plane in enumerate(planes):
        check_cancel(cancel)
        zf[i] = zero_filled(plane, mask)
        yield Progress(i + 1, len(planes) * (2 if model is not None else 1), "zero-filling")
    zf = zf.reshape(gt.shape)
    info = None
    if model is not None:
        tr = get_translator(model, device)
        if tr.family != "mri_recon":
            raise InputError(f"model {tr.name!r} is a {tr.family} model; MRI reconstruction needs an mri_recon model")
        info = model_info(tr)
        allowed = tr.model.inference_options
        fam = {k: v for k, v in {"mask": mask, "data_consistency": data_consistency, "ensemble": ensemble,
                                 "return_zero_filled": True}.items() if k in allowed}
        side = int(max(gt.shape[-2:]))
        tile = max(512, -(-side // 64) * 64)  # k-space is global: one tile per plane
        n = len(planes)
        out = yield from stream(
            lambda progress: tr.translate(gt, rgb=False, tile=tile, batch_size=1, out_dtype="float32",
                                          progress=lambda d, t: progress(n + d * n // max(t, 1), 2 * n),
                                          cancel=cancel, **fam), "reconstructing", cancel)
        recon = np.asarray(out["image"] if isinstance(out, dict) else out, np.float32)
        if isinstance(out, dict) and "zero_filled" in out:  # what the model saw, [0, 1] -> raw values
            lo, hi = _window(tr, gt)
            zf = (lo + np.asarray(out["zero_filled"], np.float32) * (hi - lo)).astype(np.float32)
    else:
        recon = zf
    seconds = time.perf_counter() - t0
    data_range = float(gt.max() - gt.min()) or 1.0
    scores = {"reconstruction": metrics(gt, recon, data_range), "zero_filled": metrics(gt, zf, data_range),
              "data_range": data_range}
    prov = provenance(WIDGET, info, opts, seconds, mode="mri", metrics=scores,
                      method=("model" if model is not None else "zero-filled (no model)"))
    names = mri_names(meta["name"])
    err = np.abs(recon - gt)
    yield Progress(1, 1, describe_scores(scores["reconstruction"]))
    lim = (float(gt.min()), float(gt.max()) if gt.max() > gt.min() else float(gt.min()) + 1.0)
    return [
        (mask.astype(np.uint8), plane_kwargs(meta, names["mask"], prov, colormap="gray", opacity=0.5,
                                              contrast_limits=(0, 1), visible=False), "image"),
        (zf, output_kwargs(meta, names["zero-filled"], prov, contrast_limits=lim, visible=False), "image"),
        (err, output_kwargs(meta, names["error"], prov, colormap="magma", visible=False,
                            contrast_limits=(0.0, max(float(err.max()), 1e-6))), "image"),
        (recon, output_kwargs(meta, names["reconstruction"], prov, contrast_limits=lim), "image"),
    ]


def holes_from_labels(labels: np.ndarray, label: int | None, image_shape) -> np.ndarray:
    """Boolean holes: pixels of `label` (any non-zero label when None), broadcast to the image."""
    lab = np.asarray(labels)
    holes = lab != 0 if label is None else lab == int(label)
    return _fit_holes(holes, image_shape)


def _fit_holes(holes: np.ndarray, image_shape) -> np.ndarray:
    shape = tuple(image_shape)
    if holes.shape == shape:
        return holes
    if holes.shape == shape[-holes.ndim:]:
        return np.broadcast_to(holes, shape)
    raise InputError(f"hole mask shape {holes.shape} does not match the image {shape}")


def inpaint_layer(data, layer_meta: dict, holes: np.ndarray, model=None, *, tile: int = 512,
                  device: str = "auto", cancel=None) -> Generator[Progress, None, list[tuple]]:
    """Fill `holes` (bool, image shape without the RGB axis); return the inpainted layer."""
    arr, meta = check_image(data, layer_meta)
    spatial = arr.shape[:-1] if meta["rgb"] else arr.shape
    holes = _fit_holes(np.asarray(holes, bool), spatial)
    if not holes.any():
        raise InputError("the hole mask is empty: draw shapes or paint labels over the region to fill")
    t0 = time.perf_counter()
    info = None
    if model is not None:
        tr = get_translator(model, device)
        if "mask" not in tr.model.inference_options:
            raise InputError(f"model {tr.name!r} ({tr.family}) does not take a hole mask; choose an inpaint model")
        info = model_info(tr)
        out = yield from stream(  # one call: one intensity window, a (Z, Y, X) mask goes per slice
            lambda progress: tr.translate(arr, rgb=meta["rgb"], tile=tile, batch_size=1, progress=progress,
                                          cancel=cancel, mask=np.ascontiguousarray(holes)), "inpainting", cancel)
        result = out["image"] if isinstance(out, dict) else out
        # known pixels stay bit-identical (the Translator does this too; kept as a guarantee here)
        result = np.where(holes[..., None] if meta["rgb"] else holes, result, arr)
        method = "model"
    else:
        from skimage.restoration import inpaint_biharmonic

        planes = arr.reshape(-1, *arr.shape[-3 if meta["rgb"] else -2:])
        hp = holes.reshape(-1, *holes.shape[-2:])
        result = np.empty(planes.shape, np.float32)
        for i, (p, h) in enumerate(zip(planes, hp)):
            check_cancel(cancel)
            result[i] = inpaint_biharmonic(p.astype(np.float32), np.array(h), channel_axis=-1 if meta["rgb"] else None) \
                if h.any() else p
            yield Progress(i + 1, len(planes), "biharmonic inpainting")
        result = result.reshape(arr.shape).astype(arr.dtype if arr.dtype.kind == "f" else np.float32)
        method = "biharmonic (no model)"
    seconds = time.perf_counter() - t0
    prov = provenance(WIDGET, info, {"holes": int(holes.sum())}, seconds, mode="inpaint", method=method)
    yield Progress(1, 1, f"done in {seconds:.1f} s")
    return [(result, output_kwargs(meta, f"{meta['name']} [inpainted]", prov, rgb=meta["rgb"]), "image")]


def super_resolve_layer(data, layer_meta: dict, model, *, tile: int = 512, device: str = "auto",
                        cancel=None) -> Generator[Progress, None, list[tuple]]:
    """Upsample with a super_resolution model; the output's scale is divided by the factor."""
    tr = get_translator(model, device)
    factor = int(getattr(tr.model, "scale_factor", 1) or 1)
    if tr.family != "super_resolution" and factor == 1:
        raise InputError(f"model {tr.name!r} is a {tr.family} model; choose a super_resolution model")
    layers = yield from translate_layer(data, layer_meta, tr, tile=tile, device=device, cancel=cancel)
    d, kw, t = layers[0]
    kw["name"] = f"{layer_meta.get('name', 'image')} [x{factor}]"
    kw["metadata"]["im2im"].update(widget=WIDGET, mode="super_resolution", factor=factor)
    return [(d, kw, t)]


def kspace_layer(path, model=None, *, data_consistency: bool = True, ensemble: bool = True, device: str = "auto",
                 cancel=None) -> Generator[Progress, None, list[tuple]]:
    """Measured single-coil k-space from a file (complex .npy, or .h5 with 'kspace' as fastMRI
    stores it): yield Progress per slice; return the zero-filled and the reconstructed magnitude
    layers (with no model, the zero-filled image is the reconstruction)."""
    from pathlib import Path

    from im2im_core.mri.fft import ifft2c_np
    from im2im_core.mri.kspace import check_kspace, kspace_pixel_size, read_kspace, reconstruct_kspace

    t0 = time.perf_counter()
    raw, mask = read_kspace(path)
    k, m = check_kspace(raw, mask)
    tr = get_translator(model, device) if model is not None else None
    info = model_info(tr) if tr is not None else None
    zf, recon = [], []
    for i in range(len(k)):
        check_cancel(cancel)
        mi = m[i % len(m)]
        zf.append(np.abs(ifft2c_np(np.where(mi, k[i], 0))).astype(np.float32))
        recon.append(reconstruct_kspace(tr, k[i], mi, data_consistency=data_consistency, ensemble=ensemble)
                     if tr is not None else zf[-1])
        yield Progress(i + 1, len(k), "reconstructing k-space")
    zf, recon = np.stack(zf), np.stack(recon)
    if len(k) == 1:
        zf, recon = zf[0], recon[0]
    name = Path(path).name
    prov = provenance(WIDGET, info, {"kspace": str(path), "data_consistency": data_consistency, "ensemble": ensemble,
                                     "sampled": float(m.mean())}, time.perf_counter() - t0, mode="kspace",
                      method="model" if tr is not None else "zero-filled (no model)")
    # fastMRI files give the pixel size (ISMRMRD header), so the output sits in mm beside other scans;
    # a .npy carries none: pixel units. Axes are named rather than napari's "-2, -1"
    labels = ("slice", "y", "x")[-recon.ndim:]
    size = kspace_pixel_size(path, recon.shape)
    geometry = {"scale": size, "units": ("mm",) * recon.ndim} if size else {}
    _, meta = check_image(recon, {"name": name, "rgb": False, "axis_labels": labels, **geometry})
    lim = (0.0, float(np.percentile(recon, 99.9)) or 1.0)
    return [(zf, output_kwargs(meta, f"{name} [zero-filled]", prov, contrast_limits=lim, visible=False), "image"),
            (recon, output_kwargs(meta, f"{name} [reconstruction]", prov, contrast_limits=lim), "image")]
