"""Images that live on disk or on a cluster: OME-Zarr in and out with bounded memory, and dask
arrays translated slice by slice wherever dask runs them (a `dask.distributed` cluster included).

- `translate_zarr(translator, "in.zarr", "out.zarr")`: each 2D plane of the input is read a band of
  chunk rows at a time, run through the streamed network (im2im_core.stream) and written to the
  output a band of chunk rows at a time, so memory depends on the width, not the area. The
  output is a single-scale OME-Zarr with the input's axes, units and scale; it is written under
  a temporary name and renamed when complete.
- `translate_dask(translator, array)`: a lazy dask array of the translations, one task per 2D
  slice, all with the intensity window of the whole array (so it equals `translate` on the
  computed array). With a `dask.distributed.Client` active, `.compute()` runs on the cluster.
"""
from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from . import stream
from .errors import InputError, NonFiniteOutput
from .intensity import Intensity, cast_like, sample_step
from .tiling import MIN_SIDE

SPATIAL = ("y", "x")


def is_dask(obj) -> bool:
    return type(obj).__module__.startswith("dask.") and hasattr(obj, "chunks")


def is_zarr(obj) -> bool:
    return type(obj).__module__.startswith("zarr.") and hasattr(obj, "chunks") and hasattr(obj, "shape")


# ---- OME-Zarr metadata ------------------------------------------------------------------------
def _multiscales(attrs: dict) -> dict:
    ms = (attrs.get("ome") or {}).get("multiscales") or attrs.get("multiscales")
    if not ms:
        raise InputError("not an OME-Zarr image: the group has no 'multiscales' metadata")
    return ms[0]


def read_ome_zarr(path) -> tuple:
    """(full-resolution zarr array, axes as dicts, scale per axis) of an OME-Zarr image group."""
    import zarr

    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as exc:  # noqa: BLE001 - any store or format error is the user's file
        raise InputError(f"{path}: cannot open as a zarr group ({type(exc).__name__}: {exc})") from None
    ms = _multiscales(dict(group.attrs))
    ds = ms["datasets"][0]
    arr = group[ds["path"]]
    axes = ms.get("axes") or [{"name": n} for n in "tczyx"[-arr.ndim:]]
    axes = [a if isinstance(a, dict) else {"name": a} for a in axes]
    scale = [1.0] * arr.ndim
    for t in ds.get("coordinateTransformations", []):
        if t.get("type") == "scale":
            scale = [float(v) for v in t["scale"]]
    if len(axes) != arr.ndim or [a["name"] for a in axes[-2:]] != list(SPATIAL):
        raise InputError(f"{path}: axes {[a['name'] for a in axes]} do not end in y, x")
    return arr, axes, scale


def create_ome_zarr(path, shape, dtype, chunks, axes, scale, name: str = "im2im"):
    """A new single-scale OME-Zarr image group (format of the installed ome-zarr) and its array."""
    import zarr
    from ome_zarr.writer import write_multiscales_metadata

    group = zarr.open_group(str(path), mode="w")
    arr = group.create_array("0", shape=tuple(shape), chunks=tuple(chunks), dtype=dtype)
    write_multiscales_metadata(group, [{"path": "0", "coordinateTransformations": [
        {"type": "scale", "scale": [float(s) for s in scale]}]}], axes=axes, name=name)
    return arr


# ---- intensity ----------------------------------------------------------------------------------
def window(intensity: Intensity, arr, band_rows: int) -> tuple[float, float]:
    """`intensity.window` of the whole array, reading it a band of rows (axis -2) at a time. For a
    percentile window the sample is the same strided one `Intensity.window` takes in memory."""
    if intensity.mode != "percentile":
        return intensity.window(np.empty(0, dtype=arr.dtype))
    step = sample_step(int(np.prod(arr.shape)))
    parts, offset = [], 0
    for idx in np.ndindex(*arr.shape[:-2]):  # C order, as ravel
        for r0 in range(0, arr.shape[-2], band_rows):
            band = np.asarray(arr[idx + (slice(r0, r0 + band_rows),)]).ravel()
            parts.append(band[(-offset) % step::step])
            offset += band.size
    return intensity.window(np.concatenate(parts))


class ArraySource(stream.Act):
    """Rows of one 2D plane (C, Y, X) of an on-disk array, normalised to [-1, 1] when read; the
    last band of chunk rows is kept, so consecutive strips decode each chunk once."""

    def __init__(self, arr, index: tuple, channel_axis: int | None, c: int, lo: float, hi: float,
                 dtype: torch.dtype, device: torch.device, band_rows: int):
        self.arr, self.index, self.channel_axis = arr, index, channel_axis
        self.c, self.h, self.w = c, arr.shape[-2], arr.shape[-1]
        self.lo, self.hi, self.dtype, self.device = lo, hi, dtype, device
        self.band_rows = band_rows
        self._band: tuple[int, torch.Tensor] | None = None

    def _rows(self, b0: int) -> torch.Tensor:
        if self._band is None or self._band[0] != b0:
            raw = np.asarray(self.arr[self.index + (slice(b0, b0 + self.band_rows),)])
            if raw.dtype.kind == "f" and not np.isfinite(raw).all():
                raise InputError(f"the image has NaN/Inf values in rows {b0}..{b0 + raw.shape[-2] - 1}; fix or mask them")
            if self.channel_axis is None:
                raw = raw[None]
            t = torch.from_numpy(Intensity.normalise(raw, self.lo, self.hi)).to(self.device, self.dtype)
            self._band = (b0, t.unsqueeze(0).contiguous(memory_format=torch.channels_last))
        return self._band[1]

    def read(self, r0, r1):
        out, r = [], r0
        while r < r1:
            b0 = r // self.band_rows * self.band_rows
            band = self._rows(b0)
            take = min(r1, b0 + self.band_rows) - r
            out.append(band[:, :, r - b0: r - b0 + take])
            r += take
        return out[0] if len(out) == 1 else torch.cat(out, 2)


class BandWriter:
    """Collects output rows of one plane and writes whole bands of chunk rows."""

    def __init__(self, dst, index: tuple, channel_axis: int | None, h: int, band_rows: int):
        self.dst, self.index, self.channel_axis, self.h, self.band_rows = dst, index, channel_axis, h, band_rows
        self.buf: np.ndarray | None = None
        self.start = 0
        self.filled = 0

    def write(self, r0: int, rows: np.ndarray) -> None:
        """rows: (C, r, W) in the output dtype, r0 in plane rows; rows arrive in order."""
        while rows.shape[1]:
            if self.buf is None:
                self.buf = np.empty((rows.shape[0], min(self.band_rows, self.h - self.start), rows.shape[2]),
                                    rows.dtype)
            take = min(rows.shape[1], self.buf.shape[1] - self.filled)
            self.buf[:, self.filled:self.filled + take] = rows[:, :take]
            self.filled += take
            rows = rows[:, take:]
            if self.filled == self.buf.shape[1]:
                band = self.buf if self.channel_axis is not None else self.buf[0]
                sl = self.index + (slice(self.start, self.start + self.buf.shape[1]),)
                self.dst[sl] = band
                self.start += self.buf.shape[1]
                self.buf, self.filled = None, 0


def _plane_indices(shape: tuple, channel_axis: int | None):
    """Index tuples of the leading axes (all but y, x), with the channel axis kept whole."""
    lead = [range(n) if i != channel_axis else [slice(None)] for i, n in enumerate(shape[:-2])]
    if not lead:
        yield ()
        return
    for idx in np.ndindex(*[len(r) for r in lead]):
        yield tuple(lead[i][j] for i, j in enumerate(idx))


def translate_zarr(translator, src, dst, direction: str | None = None, *, precision: str | None = None,
                   progress=None, cancel=None, overwrite: bool = False) -> Path:
    """Translate an OME-Zarr image into a new OME-Zarr image, plane by plane, band by band.
    `translator`: a loaded model (`im2im_core.load(path, device=...)`)."""
    tr = translator
    if isinstance(tr, (str, os.PathLike)) or not hasattr(tr, "model"):
        raise InputError(f"translate_zarr takes a loaded model, not {type(tr).__name__}: use im2im_core.load(path) first")
    dst = Path(dst)
    if dst.exists() and not overwrite:
        raise InputError(f"{dst} exists; choose another output or pass overwrite=True")
    arr, axes, scale = read_ome_zarr(src)
    direction = tr.model.resolve_direction(direction)
    if not tr.model.tileable:
        raise InputError(f"{tr.name}: {tr.family} models see the whole image; OME-Zarr streaming needs a tileable model")
    cin, cout = tr.model.channels(direction)
    names = [a["name"] for a in axes]
    channel_axis = names.index("c") if "c" in names else None
    if cin > 1:
        if channel_axis is None or arr.shape[channel_axis] != cin:
            raise InputError(f"{tr.name} needs a 'c' axis of {cin} channels; this image has axes {names}, shape {arr.shape}")
    else:
        channel_axis = None  # a 1-channel model translates every channel as its own plane
    if cin != cout and cin == 1:
        raise InputError(f"{tr.name} turns 1 channel into {cout}; OME-Zarr output keeps the channel axis")
    s = tr.model.scale_factor
    out_shape = list(arr.shape)
    out_shape[-2:] = [arr.shape[-2] * s, arr.shape[-1] * s]
    if channel_axis is not None:
        out_shape[channel_axis] = cout
    out_scale = list(scale[:-2]) + [v / s for v in scale[-2:]]
    chunks = list(arr.chunks)
    band_rows = chunks[-2]
    lo, hi = window(tr.intensity, arr, band_rows)
    tmp = dst.with_name(dst.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    out = create_ome_zarr(tmp, out_shape, arr.dtype, [min(c, n) for c, n in zip(chunks, out_shape)], axes, out_scale)
    try:
        planes = list(_plane_indices(arr.shape, channel_axis))
        for k, index in enumerate(planes):
            _translate_plane(tr, arr, out, index, channel_axis, cin, direction, lo, hi, precision, band_rows,
                             progress=None if progress is None else (lambda d, t, k=k: progress(k * t + d, len(planes) * t)),
                             cancel=cancel)
        if dst.exists():
            shutil.rmtree(dst)
        os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dst


def _translate_plane(tr, arr, out, index, channel_axis, cin, direction, lo, hi, precision, band_rows, *,
                     progress, cancel):
    model, in_dtype, autocast = tr._runner(tr._dtype(precision))
    h, w = arr.shape[-2:]
    mult = tr.model.size_multiple()
    writer = BandWriter(out, index, channel_axis, h * tr.model.scale_factor, out.chunks[-2])
    dtype = np.dtype(out.dtype)
    with torch.inference_mode(), autocast:
        try:
            gm = stream.trace(model, lambda t: model.inference_forward(t, direction))
        except stream.Unsupported:
            gm = None
        if gm is None:  # the plane in memory, through the Translator's usual path
            plane = np.asarray(arr[index])
            fixed = copy.copy(tr)
            fixed.intensity = Intensity("fixed", lo, hi)
            y = fixed.translate(plane if channel_axis is None else np.moveaxis(plane, 0, -1), direction,
                                resample=False, precision=precision, progress=progress, cancel=cancel,
                                rgb=None if channel_axis is None else True)
            writer.write(0, y[None] if channel_axis is None else np.moveaxis(y, -1, 0))
            return
        src = ArraySource(arr, index, channel_axis, cin, lo, hi, in_dtype, tr.device, band_rows)
        ph, pw = (-h) % mult, (-w) % mult
        if h < MIN_SIDE or w < MIN_SIDE:
            raise InputError(f"image plane {h}x{w} is too small for streaming; translate it in memory")
        if ph or pw:
            src = stream.Padded(src, (0, pw, 0, ph), "reflect" if ph < h and pw < w else "replicate")
        total, done = stream.n_steps(gm), [0]

        def tick():
            done[0] += 1
            if progress is not None:
                progress(done[0], total)

        s = tr.model.scale_factor

        def sink(name, r0, strip):
            if name != "image" or r0 >= h * s:
                return
            rows = strip[0, :, : h * s - r0, : w * s].numpy()
            if not np.isfinite(rows).all():
                raise NonFiniteOutput(f"{tr.name}: the model produced NaN/Inf (intensity window {lo:g}..{hi:g})")
            writer.write(r0, cast_like(Intensity.denormalise(rows, lo, hi), dtype))

        stream.stream(gm, src, tick=tick, cancel=cancel, sink=sink)


# ---- dask -----------------------------------------------------------------------------------------
def translate_dask(tr, arr, direction: str | None = None, **kw):
    """A lazy dask array: `tr.translate` on each 2D slice (Y, X) of `arr`, all with the window of
    the whole array. Grayscale arrays (..., Y, X) whose model keeps one channel and the size."""
    direction = tr.model.resolve_direction(direction)
    cin, cout = tr.model.channels(direction)
    if (cin, cout) != (1, 1) or tr.model.scale_factor != 1:
        raise InputError(f"dask input: only 1-channel, same-size models are supported ({tr.name}: {cin} -> {cout} "
                         f"channels, x{tr.model.scale_factor}); compute the array and translate it in memory")
    for key in ("n_samples", "return_attention", "axes", "rgb"):
        if kw.get(key):
            raise InputError(f"dask input: {key}= is not supported; compute the array and translate it in memory")
    _check_dask(arr)
    arr = arr.rechunk({-1: -1, -2: -1, **{i: 1 for i in range(arr.ndim - 2)}})
    lo, hi = _dask_window(tr.intensity, arr)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InputError("dask input: the array has NaN/Inf values; fix or mask them first")
    fixed = copy.copy(tr)
    fixed.intensity = Intensity("fixed", lo, hi)
    fixed._bf16_model = None
    out_dtype = np.dtype(kw.pop("out_dtype", None) or arr.dtype)

    def block(b):
        y = fixed.translate(b.reshape(b.shape[-2:]), direction, out_dtype=out_dtype, **kw)
        return y.reshape(b.shape)

    return arr.map_blocks(block, dtype=out_dtype)


def _check_dask(arr) -> None:
    """The checks the in-memory path makes (validate_image, to_slices), on the array's metadata."""
    if any(isinstance(n, float) and np.isnan(n) for n in arr.shape):
        raise InputError(f"dask input: the shape {arr.shape} has unknown sizes; call compute_chunk_sizes() first")
    if arr.size == 0:
        raise InputError(f"dask input: the array is empty (shape {arr.shape})")
    if np.dtype(arr.dtype).kind not in "uif":
        raise InputError(f"dask input: dtype {arr.dtype} is not supported; use uint8, uint16, int16 or float")
    if arr.ndim < 2 or arr.ndim > 4:
        raise InputError(f"dask input: shape {arr.shape}: supported are (Y, X), (Z, Y, X) and (T, Z, Y, X)")
    if arr.ndim >= 3 and arr.shape[-1] in (3, 4) and arr.shape[-2] > 4:
        raise InputError(f"dask input: shape {arr.shape} looks like a colour image, and the model is grayscale")


def _dask_window(intensity: Intensity, arr) -> tuple[float, float]:
    """The window `Intensity.window` gives the computed array (the same strided sample)."""
    if intensity.mode != "percentile":
        return intensity.window(np.empty(0, dtype=arr.dtype))
    return intensity.window(np.asarray(arr.ravel()[:: sample_step(int(np.prod(arr.shape)))].compute()))
