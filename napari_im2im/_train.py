"""Train a model from open layers or folders: the pure generator behind the Train widget.

Domain data become 2D samples (3D/4D stacks are sliced, near-empty slices skipped), the
library's Trainer runs on a helper thread, and every iteration comes back as a Progress event
with the losses (and, now and then, a preview of the model on one A slice). Stopping keeps the
last checkpoint: the Trainer saves before it returns, and the exported `.safetensors` loads in
the Translate widget.
"""
from __future__ import annotations

import dataclasses
import queue
import threading
import time
from pathlib import Path
from typing import Generator

import numpy as np

from im2im_core.errors import InputError
from im2im_core.inference import checkpoint_name

from ._layers import (Progress, avoid_llvm_clash, background_priority, check_image, file_hash, output_kwargs,
                      provenance)

WIDGET = "train"
CAPACITIES = ("tiny", "small", "full")
MAX_SLICES = 256


def trainable_families() -> list[str]:
    """Registered families that implement training from two image layers (not the inference-only
    'generator', the text-conditioned families, which learn from captioned images, nor inpainting,
    reconstruction and super-resolution, which learn from one set of clean images)."""
    from im2im_core.models import family_class, list_models
    from im2im_core.models.base import Im2ImModel

    return [n for n in list_models() if family_class(n).train_step is not Im2ImModel.train_step
            and not getattr(family_class(n), "captioned", False)  # captions come from Python, not layers
            and family_class(n).two_domains]  # restoration families make their inputs from one domain


def model_config(family: str, capacity: str = "tiny", image_size: int = 64, channels: int = 1,
                 domains=("A", "B")):
    """The config of a fresh `family` model, sized by the family's own `preset`, with domain names
    and channels."""
    from im2im_core.models import family_class

    base = family_class(family).Config()
    kw = {"domains": tuple(domains)} if "domains" in {f.name for f in dataclasses.fields(base)} else {}
    for name in ("in_channels", "out_channels"):
        if hasattr(base, name):
            kw[name] = channels
    return dataclasses.replace(base, **kw).preset(capacity, image_size)


def slices_of(data, meta: dict, limit: int = MAX_SLICES) -> np.ndarray:
    """(N, H, W[, C]) 2D samples of an image layer: every slice of a stack, near-empty ones skipped."""
    arr, meta = check_image(data, meta)
    rgb = meta["rgb"]
    planes = arr.reshape(-1, *arr.shape[-3:]) if rgb else arr.reshape(-1, *arr.shape[-2:])
    if len(planes) > 1:
        flat = planes.reshape(len(planes), -1).astype(np.float32)
        lo = np.percentile(flat, 1)
        keep = (flat > lo).mean(axis=1) > 0.05
        if keep.any():
            planes = planes[keep]
    if len(planes) > limit:
        planes = planes[np.linspace(0, len(planes) - 1, limit).round().astype(int)]
    return np.ascontiguousarray(planes)


def folder_images(folder) -> list[np.ndarray]:
    """Every 2D image of a folder (PNG/JPEG/TIFF), read by the library's dataset readers."""
    from im2im_core.io import list_files, read_image

    return [read_image(p).data for p in list_files(folder, f"folder {folder}")]


def _preview(model, direction: str, x: np.ndarray, intensity, device) -> np.ndarray:
    """The model's output on one raw 2D slice, in raw values (eval mode, then back to train)."""
    import torch

    from im2im_core.intensity import Intensity
    from im2im_core.tiling import run_padded

    lo, hi = intensity.window(x)
    t = torch.from_numpy(Intensity.normalise(x.astype(np.float32), lo, hi))
    t = t.permute(2, 0, 1)[None] if t.ndim == 3 else t[None, None]
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = run_padded(lambda v: model.inference_forward(v.to(device), direction), t, model.size_multiple())
    finally:
        model.train(was)
    y = out["image"].float().cpu().numpy()[0]
    y = np.moveaxis(y, 0, -1) if y.shape[0] > 1 else y[0]
    return Intensity.denormalise(y, lo, hi)


def train_job(domain_a, domain_b, *, family: str = "cycle_gan", image_size: int = 64, iterations: int = 200,
              out_dir, capacity: str = "tiny", paired: bool = False, device: str = "auto",
              domains=("A", "B"), meta_a: dict | None = None, meta_b: dict | None = None, preview_every: int = 25,
              seed: int = 0, cancel=None) -> Generator[Progress, None, list[tuple]]:
    """Train and yield Progress(step, iterations, extra={"losses", "preview"?}).

    `domain_a`/`domain_b`: an array (2D image or stack), a list of 2D arrays, or a folder path.
    Returns [(preview, kwargs, "image")]: the final preview on the first A slice, whose
    metadata["im2im"]["checkpoint_path"] is the exported inference checkpoint.
    """
    from im2im_core.config import to_dict
    from im2im_core.data.datasets import ArrayPairs
    from im2im_core.data.transforms import Augment
    from im2im_core.engine.factory import build_trainer
    from im2im_core.models import family_class

    avoid_llvm_clash()
    meta_a = dict(meta_a or {"name": "A"})
    a_list, rgb = _samples(domain_a, meta_a)
    b_list, rgb_b = _samples(domain_b, {"name": "B", "rgb": meta_a.get("rgb", False)})
    if rgb != rgb_b:
        raise InputError("domain A and domain B must both be grayscale or both RGB")
    channels = 3 if rgb else 1
    if image_size < 16 or image_size % 4:
        raise InputError(f"image size must be a multiple of 4 and >= 16, got {image_size}")
    yield Progress(0, iterations, "building model")
    # keep the pixel size: random crops when every sample is large enough, else resize up to it
    small = min(min(x.shape[-3:-1] if rgb else x.shape[-2:]) for x in a_list + b_list) < image_size
    augment = Augment(load_size=image_size if small else 0, crop_size=image_size, flip=True)
    desc = f"napari layers: {meta_a.get('name')} -> {domains[1]}"
    if getattr(family_class(family), "multi_domain", False):  # StarGAN: the two layers are two labelled domains
        from im2im_core.data.datasets import MultiDomainArrays

        data = MultiDomainArrays({str(domains[0]): a_list, str(domains[1]): b_list}, channels=(channels, channels),
                                 augment=augment, description=desc)
    else:
        data = ArrayPairs(a_list, b_list, paired=paired, channels=(channels, channels), augment=augment,
                          description=desc)
    if not small:  # crops keep the pixel size: the checkpoint records it, so translation resamples to it
        data.spacing = training_spacing(meta_a, meta_b)
    out_dir = Path(out_dir).expanduser()
    # the run is configured as a YAML run is (the data are the layers above, not a data section)
    run = {"model": {"family": family, **to_dict(model_config(family, capacity, image_size, channels, domains))},
           "train": {"iterations": int(iterations), "device": device, "out_dir": str(out_dir), "seed": int(seed),
                     "log_every": max(1, min(10, iterations)), "sample_every": 0, "save_every": 0,
                     "tensorboard": False, "progress": False}}
    q: queue.SimpleQueue = queue.SimpleQueue()
    box: dict = {}
    first = a_list[0]
    sample = first[len(first) // 2] if first.ndim == (3 if rgb else 2) + 1 else first  # one 2D plane

    previews = {"on": bool(preview_every)}

    def safe_preview():
        """None for families whose forward needs extra inputs (e.g. an inpainting mask)."""
        if not previews["on"]:
            return None
        try:
            return _preview(model, "AtoB", sample, data.intensity, trainer.device)
        except Exception:  # noqa: BLE001 - a preview is a nicety, never a reason to stop training
            previews["on"] = False
            return None

    def callback(step, losses):
        extra = {"losses": {k: float(v) for k, v in losses.items()}}
        if preview_every and (step % preview_every == 0 or step == iterations):
            p = safe_preview()
            if p is not None:
                extra["preview"] = p
        q.put(Progress(step, iterations, "training", extra))

    stop = (lambda: cancel.is_set()) if hasattr(cancel, "is_set") else (cancel or (lambda: False))
    trainer = build_trainer(run, dataset=data, callback=callback, should_stop=stop)
    model = trainer.model

    def target():
        background_priority()
        try:
            box["result"] = trainer.fit()
        except BaseException as exc:  # noqa: BLE001 - handed back to the generator's caller
            box["error"] = exc
        finally:
            q.put(None)

    t0 = time.perf_counter()
    th = threading.Thread(target=target, name="im2im-train", daemon=True)
    th.start()
    while (ev := q.get()) is not None:
        yield ev
    th.join()
    if "error" in box:
        raise box["error"]
    res = box["result"]
    seconds = time.perf_counter() - t0
    export = Path(res["export"])
    previews["on"] = True
    preview = safe_preview()
    if preview is None:  # show the A slice itself so the checkpoint still has a layer to carry it
        preview = np.asarray(sample, np.float32)
    prov = provenance(WIDGET, {"name": checkpoint_name(export), "path": str(export), "family": family,
                               "sha256": file_hash(export)},
                      {"family": family, "capacity": capacity, "image_size": image_size, "iterations": iterations,
                       "paired": paired}, seconds, status=res["status"], iterations_done=res["iterations"],
                      losses=res.get("losses", {}), checkpoint_path=str(export))
    yield Progress(res["iterations"], iterations, f"{res['status']} after {res['iterations']} iterations")
    return [preview_layer(preview, meta_a, prov)]


def training_spacing(meta_a: dict, meta_b: dict | None) -> tuple | None:
    """Domain A's pixel size in mm when its units are lengths, unless domain B is a layer whose
    pixel size is unknown or differs by over 1% (a folder of images carries none)."""
    from ._translate import layer_spacing

    if not meta_a.get("units") or (spacing := layer_spacing(meta_a)) is None:
        return None
    if meta_b and meta_b.get("units"):
        other = layer_spacing(meta_b)
        if other is None or not np.allclose(other, spacing, rtol=0.01):
            return None
    return spacing


def preview_layer(preview: np.ndarray, meta_a: dict, prov: dict | None = None) -> tuple:
    """(data, kwargs, "image") of the training preview, lying on domain A's last two axes."""
    rgb = preview.ndim == 3
    pmeta = {k: tuple(meta_a.get(k) or ())[-2:] for k in ("scale", "translate", "axis_labels", "units")}
    _, pmeta = check_image(preview, dict(pmeta, name=meta_a.get("name", "A"), kind="image", rgb=rgb))
    name = f"{meta_a.get('name', 'A')} [training preview]"
    return preview.astype(np.float32), output_kwargs(pmeta, name, prov, rgb=rgb), "image"


def _samples(source, meta: dict) -> tuple[list[np.ndarray], bool]:
    """(list of 2D images or (N, H, W[, C]) stacks, rgb) from an array, a list of 2D arrays or a folder."""
    if isinstance(source, (str, Path)):
        items = folder_images(source)
    elif isinstance(source, (list, tuple)):
        items = [np.asarray(s) for s in source]
    else:
        return [slices_of(source, meta)], bool(meta.get("rgb", False))
    if not items:
        raise InputError(f"no images for domain {meta.get('name')}")
    rgb = items[0].ndim == 3 and items[0].shape[-1] in (3, 4)
    return items, rgb
