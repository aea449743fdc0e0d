"""Large images: padding, streamed exact inference, and the tiled fallbacks.

Instance-norm generators normalise with statistics of the whole image, so cutting an image into
tiles changes the result unless every tile shares those statistics.

- `norm_stats="exact"` (default): the network is traced and run layer by layer over row strips
  of the whole image (`run_streamed`, im2im_core.stream): one pass, equal to whole-image
  inference up to floating-point order. Networks that cannot be streamed fall back (with a
  NotStreamable warning) to tiles with one statistics pass per norm layer (each stopping at its
  layer): close to whole-image inference for plain instance-norm generators, not equal to it, and
  several passes. Families whose codes, labels or AdaIN parameters enter every tile
  (`Im2ImModel.unstreamable == "whole"`) run one whole-image pass instead (inference.Translator).
- `norm_stats="thumbnail"`: tiles share statistics from one pass over the image downsampled to a
  tile (Thumbnail Instance Normalization, Chen et al., CVPR 2022). Approximate; kept for networks
  that cannot be traced, where it is one pass instead of one per norm layer.

Tiles overlap and are blended smoothly; memory stays bounded by the tile or strip size.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from .errors import Cancelled
from .nets.norm import GlobalInstanceNorm2d, StopPass

Fn = Callable[[torch.Tensor], "torch.Tensor | dict[str, torch.Tensor]"]


def plan_axis(length: int, max_tile: int, overlap: int, multiple: int) -> tuple[int, list[int]]:
    """Balanced tiles along one axis: (tile size, start offsets). Few tiles, overlap >= `overlap`.

    `length` must be a multiple of `multiple`; sizes and offsets are too, because strided
    networks are only shift-equivariant for shifts that are multiples of their total stride.
    """
    if length <= max_tile:
        return length, [0]
    n = math.ceil((length - overlap) / max(1, max_tile - overlap))
    tile = math.ceil((length + (n - 1) * overlap) / n)
    tile = min(length, math.ceil(tile / multiple) * multiple)
    span = (length - tile) // multiple
    return tile, sorted({round(i * span / (n - 1)) * multiple for i in range(n)})


def _owned(starts: list[int], tile: int, length: int) -> list[tuple[int, int]]:
    """A partition of [0, length): each tile owns the part nearest to its centre."""
    cuts = [0] + [(starts[i + 1] + starts[i] + tile) // 2 for i in range(len(starts) - 1)] + [length]
    return list(zip(cuts[:-1], cuts[1:]))


def _ramp(size: int, start: int, length: int, overlap: int) -> torch.Tensor:
    """1 inside, tapering linearly towards tile edges that are not image borders."""
    t = torch.arange(size, dtype=torch.float32) + 0.5
    w = torch.ones(size)
    ramp = max(1, overlap)
    if start > 0:
        w = torch.minimum(w, t / ramp)
    if start + size < length:
        w = torch.minimum(w, (size - t) / ramp)
    return w.clamp_min(1e-3)


#: whole-image passes pad smaller sides up to this (larger images are left exactly as they are):
#: reflection padding and instance norm deep in a strided network need more than one pixel (a 4 x 4
#: image, or the thumbnail of a 32 x 4000 one)
MIN_SIDE = 16


def min_side_for(multiple: int) -> int:
    """The smallest side a whole-image pass pads to: MIN_SIDE, except for models that pad
    internally (size multiple 1), whose masks must match the image exactly."""
    return MIN_SIDE if multiple > 1 else 0


def padded_side(n: int, multiple: int, min_side: int = 0) -> int:
    """A side of n pixels padded to a multiple of `multiple` and to at least `min_side`."""
    low = min_side + (-min_side) % multiple
    return max(n + (-n) % multiple, low)


def pad_to_multiple(x: torch.Tensor, multiple: int, min_side: int = 0) -> torch.Tensor:
    """Pad bottom/right (reflect where possible) so H and W are multiples of `multiple`, and at
    least `min_side`."""
    h, w = x.shape[-2:]
    ph, pw = padded_side(h, multiple, min_side) - h, padded_side(w, multiple, min_side) - w
    if not ph and not pw:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _as_dict(y) -> dict[str, torch.Tensor]:
    return y if isinstance(y, dict) else {"image": y}


def run_padded(fn: Fn, x: torch.Tensor, multiple: int) -> dict[str, torch.Tensor]:
    """fn on x padded to the network's multiple, cropped back (outputs may be scaled, e.g. SR)."""
    h, w = x.shape[-2:]
    xp = pad_to_multiple(x, multiple, min_side_for(multiple))
    out = _as_dict(fn(xp))
    res = {}
    for k, v in out.items():
        s = v.shape[-1] // xp.shape[-1]
        res[k] = v[..., : h * s, : w * s]
    return res


def run_streamed(gm, src, size: tuple[int, int], on_tile=None, cancel=None) -> dict[str, torch.Tensor]:
    """One image through a traced graph, layer by layer over row strips (im2im_core.stream): exact
    whole-image statistics in one pass. `src` is the padded input (a stream.Act), `size` its
    unpadded (H, W); outputs come back as float32 CPU tensors cropped like run_padded's."""
    from .stream import stream

    h, w = size
    res = {}
    for k, v in stream(gm, src, tick=on_tile, cancel=cancel).items():
        s = v.shape[-1] // src.w
        res[k] = v[..., : h * s, : w * s]
    return res


def instance_norms(module: torch.nn.Module) -> list[GlobalInstanceNorm2d]:
    return [m for m in module.modules() if isinstance(m, GlobalInstanceNorm2d)]


def _finish_collect(norms: list[GlobalInstanceNorm2d]) -> None:
    for m in norms:
        s, ss, n = m.collector
        mean = s / n
        var = (ss / n - mean * mean).clamp_min(0)
        m.fixed_stats = (mean.float(), var.float())
        m.collector = None
        m.owned = None


def clear_stats(norms) -> None:
    for m in norms:
        m.fixed_stats, m.collector, m.owned = None, None, None


def run_tiled(fn: Fn, x: torch.Tensor, *, tile: int, overlap: int, multiple: int,
              on_tile: Callable[[], None] | None = None, cancel: Callable[[], bool] | None = None,
              norms: list[GlobalInstanceNorm2d] | None = None, collect_only: bool = False):
    """Apply fn tile by tile to x (N, C, H, W) and blend; returns a dict of outputs on CPU."""
    h0, w0 = x.shape[-2:]
    x = pad_to_multiple(x, multiple)
    h, w = x.shape[-2:]
    th, ys = plan_axis(h, tile, overlap, multiple)
    tw, xs = plan_axis(w, tile, overlap, multiple)
    own_y, own_x = _owned(ys, th, h), _owned(xs, tw, w)
    acc: dict[str, torch.Tensor] = {}
    wsum = None
    scale = None
    for iy, y0 in enumerate(ys):
        for ix, x0 in enumerate(xs):
            if cancel is not None and cancel():
                raise Cancelled("cancelled")
            patch = x[..., y0:y0 + th, x0:x0 + tw]
            if norms:  # collect statistics only from the part of the image this tile owns
                (oy0, oy1), (ox0, ox1) = own_y[iy], own_x[ix]
                oy1, ox1 = min(oy1, h0), min(ox1, w0)  # never from the padding
                frac = ((oy0 - y0) / th, (oy1 - y0) / th, (ox0 - x0) / tw, (ox1 - x0) / tw)
                for m in norms:
                    m.owned = frac
            try:
                out = _as_dict(fn(patch))
            except StopPass:
                out = None
            if on_tile is not None:
                on_tile()
            if collect_only:
                continue
            if scale is None:
                scale = out["image"].shape[-1] // tw
                wsum = torch.zeros(h * scale, w * scale)
            wy = _ramp(th * scale, y0 * scale, h * scale, overlap * scale)
            wx = _ramp(tw * scale, x0 * scale, w * scale, overlap * scale)
            win = wy[:, None] * wx[None, :]
            sy, sx = slice(y0 * scale, (y0 + th) * scale), slice(x0 * scale, (x0 + tw) * scale)
            for k, v in out.items():
                if k not in acc:
                    acc[k] = torch.zeros(*v.shape[:-2], h * scale, w * scale)
                acc[k][..., sy, sx] += v.float().cpu() * win
            wsum[sy, sx] += win
    if collect_only:
        return {}
    return {k: (v / wsum)[..., : h0 * scale, : w0 * scale] for k, v in acc.items()}


def n_tiles(h: int, w: int, tile: int, overlap: int, multiple: int) -> int:
    up = lambda n: n + (-n) % multiple  # noqa: E731
    return len(plan_axis(up(h), tile, overlap, multiple)[1]) * len(plan_axis(up(w), tile, overlap, multiple)[1])


NORM_STATS = ("thumbnail", "exact")


def used_norms(fn: Fn, x: torch.Tensor, module: torch.nn.Module, multiple: int) -> list[GlobalInstanceNorm2d]:
    """The instance-norm layers `fn` actually runs (a direction uses only some nets), in order."""
    norms = instance_norms(module)
    order: list = []
    for m in norms:
        m.call_log = order
    try:
        run_padded(fn, x[:1, :, : 2 * multiple, : 2 * multiple], multiple)  # small, but >1 pixel deep inside
    finally:
        for m in norms:
            m.call_log = None
    return list(dict.fromkeys(order))


def run_seamless(fn: Fn, x: torch.Tensor, module: torch.nn.Module, *, tile: int, overlap: int, multiple: int,
                 norm_stats: str = "thumbnail", on_tile=None, cancel=None):
    """Tiled inference of one image (N=1) with whole-image instance-norm statistics."""
    if norm_stats not in NORM_STATS:
        from .errors import InputError

        raise InputError(f"norm_stats {norm_stats!r} unknown; use one of {NORM_STATS}")
    norms = used_norms(fn, x, module, multiple)
    kw = dict(tile=tile, overlap=overlap, multiple=multiple, cancel=cancel)
    if not norms:
        return run_tiled(fn, x, on_tile=on_tile, **kw)
    try:
        clear_stats(norms)
        # thumbnail: the whole image, downsampled to one tile, gives every layer's statistics
        h, w = x.shape[-2:]
        f = tile / max(h, w)
        small = F.interpolate(x, size=(max(multiple, round(h * f)), max(multiple, round(w * f))),
                              mode="area") if f < 1 else x
        for m in norms:
            m.collector = []
        run_padded(fn, small, multiple)
        _finish_collect(norms)
        if norm_stats == "exact":  # layer by layer in execution order, each pass stops at its layer
            for m in norms:
                m.collector, m.stop_after_collect = [], True
                try:
                    run_tiled(fn, x, norms=[m], collect_only=True, on_tile=on_tile, **kw)
                finally:
                    m.stop_after_collect = False
                _finish_collect([m])
        return run_tiled(fn, x, on_tile=on_tile, **kw)
    finally:
        clear_stats(norms)
