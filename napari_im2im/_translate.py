"""Translate one image layer with a model: the pure function behind the Translate widget.

2D, RGB, (Z,Y,X) and (T,Z,Y,X) are translated by one library call (one whole-volume intensity
window, tiled for large planes, one slice per batch so Cancel acts within a slice); progress
streams out as `Progress` events; the result is a new layer lying where the input lies.
"""
from __future__ import annotations

import time
from typing import Generator

from ._layers import Progress, check_image, output_kwargs, provenance, stream
from ._models import describe, get_translator, model_info

WIDGET = "translate"


def overlap_for(tile: int) -> int:
    """The library wants overlap < tile / 2; 32 px (or a quarter tile for small tiles)."""
    return min(32, max(0, tile // 4))


def _short(text: str, n: int = 40) -> str:
    return f"{text[:n]}{'…' if len(text) > n else ''}"


def value_range(image) -> tuple[float, float]:
    """(min, max) of an output, computed in the worker: otherwise napari scans the layer for its
    contrast limits on the GUI thread (training/benchmarks/gui_spikes.py, docs/performance.md)."""
    import numpy as np

    lo, hi = float(np.min(image)), float(np.max(image))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def output_name(source: str, label: str) -> str:
    return f"{source} [{label}]"


#: napari unit names -> millimetres (models record their training pixel size in mm)
MM_PER_UNIT = {"mm": 1.0, "millimeter": 1.0, "millimetre": 1.0, "cm": 10.0, "centimeter": 10.0, "m": 1000.0,
               "meter": 1000.0, "um": 1e-3, "µm": 1e-3, "micrometer": 1e-3, "micron": 1e-3, "nm": 1e-6,
               "nanometer": 1e-6}


def layer_spacing(meta: dict) -> tuple | None:
    """The layer's per-axis pixel size in mm when its units are physical lengths; None for pixels
    (or unknown units), so such images are never resampled."""
    factors = [MM_PER_UNIT.get(str(u).strip().lower()) for u in meta["units"][-2:]]
    if any(f is None for f in factors):
        return None
    return tuple(float(s) * f for s, f in zip(meta["scale"][-2:], factors))


def translate_layer(data, layer_meta: dict, model, direction: str | None = None, *, tile: int = 512,
                    device: str = "auto", options: dict | None = None,
                    cancel=None, config=None) -> Generator[Progress, None, list[tuple]]:
    """Yield Progress while translating; return [(data, kwargs, "image")].

    `model`: a Translator, a shipped name or a checkpoint path. `options`: family options
    (e.g. seed, n_samples, target) passed to `Translator.translate`. `config`: the official
    config of an official checkpoint (im2im_core.foreign).
    """
    arr, meta = check_image(data, layer_meta)
    options = dict(options or {})
    options.setdefault("spacing", layer_spacing(meta))
    yield Progress(0, 1, "loading model")
    tr = get_translator(model, device, config)
    info = describe(tr)
    direction = tr.model.resolve_direction(direction)
    t0 = time.perf_counter()
    out = yield from stream(
        lambda progress: tr.translate(arr, direction, rgb=meta["rgb"], tile=tile, overlap=overlap_for(tile), batch_size=1,
                                      progress=progress, cancel=cancel, **options),
        "translating", cancel)
    seconds = time.perf_counter() - t0
    image = out["image"] if isinstance(out, dict) else out
    label = info["direction_labels"].get(direction, direction)
    target = options.get("target")
    if isinstance(target, (list, tuple)):  # attribute vector (official StarGAN): named by the attributes on
        label = "-> " + ("+".join(str(d) for d, v in zip(tr.domains, target) if v) or "no attributes")
    elif target is not None:  # multi-domain: name the output by its target domain
        label = f"-> {target}"
    if isinstance(options.get("text"), str):  # a text-guided edit: named by its caption
        label = f"edited: {_short(options['text'])}"
    lead = 1 if "n_samples" in options else 0
    shown = {k: (f"reference image {getattr(v, 'shape', '')}" if k == "style_from" else v) for k, v in options.items()}
    prov = provenance(WIDGET, model_info(tr), {"direction": direction, "tile": tile, "device": str(tr.device),
                                                **shown}, seconds, input_shape=list(arr.shape))
    rgb = bool(image.ndim - lead > len(meta["scale"]) and image.shape[-1] in (3, 4))
    kw = output_kwargs(meta, output_name(meta["name"], label), prov, lead=lead, rgb=rgb,
                       **({} if rgb else {"contrast_limits": value_range(image)}))
    kw = _place_super_resolution(kw, info["scale_factor"], lead)
    yield Progress(1, 1, f"done in {seconds:.1f} s")
    return [(image, kw, "image")]


def _place_super_resolution(kw: dict, factor: int, lead: int = 0) -> dict:
    """Outputs `factor` times larger in Y and X keep overlaying the input in world space."""
    if factor == 1:
        return kw
    scale, trans = list(kw["scale"]), list(kw["translate"])
    for ax in (-2, -1):
        s = scale[ax]
        scale[ax] = s / factor
        trans[ax] = trans[ax] + s * (1.0 / factor - 1.0) / 2.0  # pixel centres tile the input pixel
    kw["scale"], kw["translate"] = tuple(scale), tuple(trans)
    return kw


def generate_layer(model, text: str, *, n_samples: int = 1, seed: int = 0, device: str = "auto",
                   cancel=None) -> Generator[Progress, None, list[tuple]]:
    """Yield Progress while a text-to-image model (gan_cls) draws `n_samples` images from `text`
    (sample k from seed + k); return [(stack, kwargs, "image")]."""
    import numpy as np

    from im2im_core.errors import Cancelled

    yield Progress(0, n_samples + 1, "loading model")
    tr = get_translator(model, device)
    t0 = time.perf_counter()
    images = []
    for k in range(n_samples):
        if cancel is not None and cancel.is_set():
            raise Cancelled("generation cancelled")
        images.append(tr.generate(text, 1, seed + k)[0])
        yield Progress(k + 1, n_samples + 1, f"sample {k + 1} of {n_samples}")
    seconds = time.perf_counter() - t0
    stack = np.stack(images)
    prov = provenance("generate", model_info(tr), {"text": text, "n_samples": n_samples, "seed": seed,
                                                   "device": str(tr.device)}, seconds)
    rgb = stack.ndim == 4 and stack.shape[-1] in (3, 4)
    kw = {"name": f"generated: {_short(text)}", "rgb": rgb, "metadata": {"im2im": prov},
          "axis_labels": ("sample", "y", "x")}
    yield Progress(n_samples + 1, n_samples + 1, f"done in {seconds:.1f} s")
    return [(stack, kw, "image")]
