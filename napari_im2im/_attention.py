"""Attention masks of attention-capable models (AttentionGAN-style): the Attention widget's core.

The model returns its attention-blended translation y = a*G(x) + (1-a)*x and the attention a in
[0, 1]; we show a as an overlay and split y into foreground a*G(x) (what the model changed) and
background (1-a)*x (what it kept). A threshold zeroes weak attention in the composition.
"""
from __future__ import annotations

import time
from typing import Generator

import numpy as np

from im2im_core.errors import InputError

from ._layers import Progress, check_image, output_kwargs, provenance, stream
from ._models import describe, get_translator, model_info
from ._translate import overlap_for

WIDGET = "attention"


def is_attention_model(translator) -> bool:
    return "return_attention" in translator.model.inference_options


def attention_families() -> set[str]:
    """Registered families whose models return masks (attention CycleGAN, Council-GAN, ACL-GAN)."""
    from im2im_core.models import family_class, list_models

    return {f for f in list_models() if "return_attention" in family_class(f).inference_options}


def compose(x: np.ndarray, y: np.ndarray, a: np.ndarray, threshold: float = 0.0, rgb: bool = False):
    """(foreground a*G(x), background (1-a)*x) in float32 from the input x, the model's blended
    output y = a*G(x) + (1-a)*x and the attention a; attention below `threshold` counts as 0.

    The window that maps raw values to the network's range is affine, so the blend holds in raw
    values too and a*G(x) = y - (1-a)*x needs no division by a.
    """
    a = np.asarray(a, np.float32)
    y = np.asarray(y, np.float32)
    x = np.asarray(x, np.float32)
    if rgb:
        a = a[..., None]
    if x.shape != y.shape:  # a grayscale input given to an RGB model
        x = np.broadcast_to(x[..., None], y.shape)
    bg = (1.0 - a) * x
    fg = y - bg
    if threshold > 0:
        keep = a >= threshold
        fg = np.where(keep, fg, 0.0).astype(np.float32)
        bg = np.where(keep, bg, x).astype(np.float32)
    return fg, bg


def signal(x: np.ndarray, rgb: bool = False) -> np.ndarray:
    """Where the input holds more than air: above its minimum by 2% of its range (per pixel, any channel)."""
    x = np.asarray(x, np.float32)
    lo, hi = float(x.min()), float(x.max())
    keep = x > lo + 0.02 * (hi - lo)
    return keep.any(-1) if rgb else keep


def _limits(x: np.ndarray) -> tuple[float, float]:
    """The input's value range, so the compositions' zeros show as the input's black, not mid-gray."""
    lo, hi = float(np.min(x)), float(np.max(x))
    return (min(lo, 0.0), hi if hi > min(lo, 0.0) else min(lo, 0.0) + 1.0)


def overlay_limits(threshold: float) -> tuple[float, float]:
    """Contrast limits that hide attention below the threshold in the additive overlay."""
    return (min(max(float(threshold), 0.0), 0.99), 1.0)


def layer_names(source: str) -> dict[str, str]:
    return {k: f"{source} [{k}]" for k in ("translated", "attention", "foreground", "background")}


def auto_threshold(a: np.ndarray) -> float:
    """Otsu's threshold of the attention values: it splits the attended region from the rest
    whatever the model's range (a fixed 0.1 tinted most of the slice for masks that never reach 0.5)."""
    from skimage.filters import threshold_otsu

    a = np.asarray(a, np.float32)
    return float(threshold_otsu(a)) if float(a.max()) > float(a.min()) else 0.0


def attention_layers(data, layer_meta: dict, model, direction: str | None = None, *, tile: int = 512,
                     device: str = "auto", threshold: float | None = 0.0,
                     cancel=None) -> Generator[Progress, None, list[tuple]]:
    """Yield Progress; return the translation, the attention overlay, foreground and background.
    `threshold=None` picks Otsu's threshold of this attention map (stored in the provenance)."""
    arr, meta = check_image(data, layer_meta)
    yield Progress(0, 1, "loading model")
    tr = get_translator(model, device)
    if not is_attention_model(tr):
        raise InputError(f"model {tr.name!r} (family {tr.family}) has no attention masks; "
                         f"choose a model of {', '.join(sorted(attention_families()))}")
    direction = tr.model.resolve_direction(direction)
    t0 = time.perf_counter()
    out = yield from stream(
        lambda progress: tr.translate(arr, direction, rgb=meta["rgb"], tile=tile, overlap=overlap_for(tile),
                                      batch_size=1, out_dtype="float32", progress=progress, cancel=cancel,
                                      return_attention=True), "translating", cancel)
    seconds = time.perf_counter() - t0
    g, a = out["image"], np.clip(np.asarray(out["attention"], np.float32), 0, 1)
    rgb_out = g.ndim > a.ndim
    if threshold is None:
        threshold = auto_threshold(a)
    fg, bg = compose(arr, g, a, threshold, rgb_out)
    shown = np.where(signal(arr, meta["rgb"]), a, 0.0).astype(np.float32)  # air carries nothing to attend to
    prov = provenance(WIDGET, model_info(tr), {"direction": direction, "tile": tile, "threshold": threshold},
                      seconds, overlay="attention where the input has signal (air, at the input's minimum, shows 0)")
    names = layer_names(meta["name"])
    label = describe(tr)["direction_labels"].get(direction, direction)
    prov_t = dict(prov, direction_label=label)
    yield Progress(1, 1, f"done in {seconds:.1f} s")
    return [
        (g, output_kwargs(meta, names["translated"], prov_t, rgb=rgb_out), "image"),
        (fg, output_kwargs(meta, names["foreground"], prov, rgb=rgb_out, visible=False,
                           **({} if rgb_out else {"contrast_limits": _limits(arr)})), "image"),
        (bg, output_kwargs(meta, names["background"], prov, rgb=rgb_out, visible=False,
                           **({} if rgb_out else {"contrast_limits": _limits(arr)})), "image"),
        (shown, output_kwargs(meta, names["attention"], prov, colormap="inferno", opacity=0.6, blending="additive",
                              contrast_limits=overlay_limits(threshold)), "image"),
    ]
