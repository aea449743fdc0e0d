"""`load()` and `Translator`: the one way the CLI, the napari plugin and scripts reach a model.

Arrays in, arrays out: 2D, RGB(A), (Z,Y,X) and (T,Z,Y,X) stacks, any size (padding, then tiling
with whole-image normalisation statistics), any of uint8/uint16/int16/float, returned in the
input's dtype and value range. Speed comes from inference mode and bf16 (bf16 weights for
conv-only families on CPU, autocast otherwise) where the hardware has it; `precision="fp32"`
keeps the exact path. Memory format, as measured for ResNet-9 on this project's 2-core AVX-512
CPU: channels_last for tiled images (1024^2: 5.9 s vs 6.5 s NCHW) and on CUDA, NCHW for images
that fit one tile (256^2: 0.27 s vs 0.30 s; instance norm copies channels_last back to NCHW).
"""
from __future__ import annotations

import contextlib
import copy
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .errors import CheckpointError, InputError, NonFiniteOutput, NotStreamable
from .layout import _per_slice, _restore_axes, _spatial_mask, axes_order, from_slices, to_slices, validate_image
from .intensity import Intensity, cast_like
from .device import bf16_supported, pin_malloc_for_large_images, release_memory, select_device  # noqa: F401
from .nets.packed import pack
from .resample import in_plane, resize, target_shape
from . import chunked, stream
from .tiling import (MIN_SIDE, min_side_for, n_tiles, pad_to_multiple, padded_side, run_padded, run_seamless,
                     run_streamed, used_norms)

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_TILE = 1024  # up to this side one whole-image pass (exact, fastest); larger images stream (stream.py)
DEFAULT_OVERLAP = 32
#: a model the executor cannot stream runs whole images up to this many tiles' pixels
WHOLE_PASS_TILES = 4


def shipped_models() -> dict[str, Path]:
    """Checkpoints that ship inside the package, by name."""
    return {p.stem: p for p in sorted(WEIGHTS_DIR.glob("*.safetensors"))}


def resolve_checkpoint(name_or_path) -> Path:
    """A path that exists, or the name of a shipped model."""
    p = Path(name_or_path).expanduser()
    if p.exists():
        if p.is_dir():
            raise CheckpointError(f"{p} is a folder, not a checkpoint file")
        if not p.is_file():
            raise CheckpointError(f"{p} is not a regular file (a pipe, device or socket); give a checkpoint file")
        return p
    shipped = shipped_models()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    names = ", ".join(shipped) or "none"
    raise CheckpointError(f"checkpoint {name_or_path} not found (not a file, nor a shipped model: {names})")


def checkpoint_name(path) -> str:
    """A checkpoint's display name: its stem, or its run folder's name for a run's export
    (every run writes `model.safetensors`, so "model" would name them all)."""
    path = Path(path)
    return path.parent.name if path.stem == "model" and path.parent.name else path.stem


def load(name_or_path, device: str = "auto", precision: str = "auto", **foreign_kw) -> "Translator":
    """Open one of our `.safetensors` checkpoints, a shipped model by name, or a foreign `.pth`."""
    from .checkpoint import load_model
    from .foreign import FOREIGN_SUFFIXES, load_foreign

    path = resolve_checkpoint(name_or_path)
    dev = select_device(device)
    if path.suffix.lower() in FOREIGN_SUFFIXES:
        model, meta = load_foreign(path, device=dev, **foreign_kw)
    elif path.suffix.lower() == ".safetensors":
        model, meta = load_model(path, device=dev)
    else:
        raise CheckpointError(f"{path.name}: unknown checkpoint type {path.suffix!r}; expected .safetensors "
                              f"or a PyTorch state_dict ({', '.join(FOREIGN_SUFFIXES)})")
    return Translator(model, meta, dev, precision=precision, name=checkpoint_name(path))


def _cancel_fn(cancel) -> Callable[[], bool] | None:
    if cancel is None:
        return None
    return cancel.is_set if hasattr(cancel, "is_set") else cancel


class Translator:
    """A loaded model plus the pre/post-processing that makes it safe on real arrays."""

    def __init__(self, model, meta: dict, device: torch.device, precision: str = "auto", name: str = "model"):
        self.model = model.eval()
        self.meta = meta
        self.device = device
        self.name = name
        self.intensity: Intensity = meta.get("intensity") or Intensity()
        if precision not in PRECISIONS:
            raise InputError(f"precision {precision!r} unknown; use auto, bf16, fp16 or fp32")
        self.precision = precision
        self.model.to(device=device, memory_format=torch.channels_last)
        self._bf16_model = None
        self._packed = False

    def _runner(self, dtype):
        """(module, input dtype, context): bf16 weights for conv-only families on CPU, else autocast."""
        if dtype is torch.bfloat16 and self.device.type == "cpu" and self.model.pure_bf16:
            if self._bf16_model is None:
                self._bf16_model = pack(copy.deepcopy(self.model).to(torch.bfloat16, memory_format=torch.channels_last).eval())
            return self._bf16_model, torch.bfloat16, contextlib.nullcontext()
        ctx = torch.autocast(self.device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
        if self.device.type == "cpu" and not self._packed:  # weights in oneDNN's layout (nets/packed.py)
            pack(self.model)
            self._packed = True
        return self.model, torch.float32, ctx

    # ---- description -----------------------------------------------------------------
    @property
    def family(self) -> str:
        return self.model.family

    @property
    def domains(self) -> list[str]:
        return list(self.model.config.domains)

    def directions(self) -> list[str]:
        return self.model.directions()

    def _dtype(self, precision: str | None) -> torch.dtype | None:
        p = precision or self.precision
        if p == "auto":
            return torch.bfloat16 if bf16_supported(self.device) else None
        if p == "bf16":
            return torch.bfloat16
        if p == "fp16":
            if self.device.type != "cuda":
                raise InputError("precision 'fp16' needs a CUDA device; use bf16 or fp32 on CPU")
            return torch.float16
        return None

    # ---- the forward on normalised tensors ---------------------------------------------------
    def forward_tensor(self, x: torch.Tensor, direction: str | None = None, *, tile: int = DEFAULT_TILE,
                       overlap: int = DEFAULT_OVERLAP, precision: str | None = None, norm_stats: str = "exact",
                       batch_size: int = 4, progress=None, cancel=None, **opts) -> list[dict[str, torch.Tensor]]:
        """x: (N, C, H, W) float in [-1, 1]. Returns one dict of outputs per sample."""
        direction = self.model.resolve_direction(direction)
        self.model.check_options(opts)
        if tile < 16 or overlap < 0 or overlap >= tile // 2:
            raise InputError(f"tile must be >= 16 and 0 <= overlap < tile/2; got tile={tile}, overlap={overlap}")
        cancel = _cancel_fn(cancel)
        dtype = self._dtype(precision)
        mult = self.model.size_multiple()
        samples = self.model.resolve_samples(direction, opts, self.device)
        n, _, h, w = x.shape
        big = (h > tile or w > tile) and self.model.tileable
        if (precision or self.precision) == "auto" and narrow(min(h, w, tile) if big else min(h, w), mult):
            dtype = None  # bf16 kernels on tiny feature maps: not reproducible from run to run (see narrow)
        fmt = torch.channels_last
        units = len(samples) * -(-n // batch_size)
        model, in_dtype, autocast = self._runner(dtype)
        graphs = {}
        if big:
            passes = 1
            if norm_stats == "exact":  # one streamed pass where the graph allows, else a pass per norm
                try:
                    for j, sopts in enumerate(samples):
                        graphs[j] = stream.trace(model, lambda t, s=sopts: model.inference_forward(
                            t, direction, **_batch_opts(s, slice(0, 1), n)))
                    units = len(samples) * n * stream.n_steps(graphs[0])
                except stream.Unsupported as exc:
                    graphs, why = {}, str(exc)
                if not graphs and h * w <= WHOLE_PASS_TILES * tile * tile:
                    # not streamable: while the image is a few tiles, one whole-image pass per image
                    # beats a tiled pass per norm (StarGAN at 2048²: 10x)
                    big, batch_size = False, 1
                    units = len(samples) * n
                elif not graphs:
                    big = self._not_streamable(why)
                    batch_size = batch_size if big else 1
                    units = len(samples) * n
                if big and not graphs:
                    with torch.inference_mode():
                        probe = x[:1].to(self.device).contiguous(memory_format=fmt)
                        passes += len(used_norms(lambda t: self.model.inference_forward(t, direction, **samples[0]),
                                                 probe, self.model, mult))
            if big and not graphs:
                units = len(samples) * n * n_tiles(h, w, tile, overlap, mult) * passes
            if self.device.type == "cpu":
                pin_malloc_for_large_images()
        done = [0]

        def tick():
            done[0] += 1
            if progress is not None:
                progress(done[0], units)

        results = []
        with torch.inference_mode(), autocast:
            for j, sopts in enumerate(samples):
                def fn(t, sopts=sopts):
                    t = t.to(self.device, dtype=in_dtype, non_blocking=True).contiguous(memory_format=fmt)
                    return model.inference_forward(t, direction, **_batch_opts(sopts, sl[0], n))

                sl = [slice(0, n)]

                parts: list[dict[str, torch.Tensor]] = []
                if big:
                    for i in range(n):
                        sl[0] = slice(i, i + 1)
                        if j in graphs:  # traced again per slice: options may differ between slices
                            gm = graphs[j] if n == 1 else stream.trace(model, lambda t, o=_batch_opts(sopts, sl[0], n):
                                                                       model.inference_forward(t, direction, **o))
                            # cast band by band as the first layer reads it: no converted copy of the image
                            src = stream.Source(pad_to_multiple(x[i:i + 1], mult, MIN_SIDE), in_dtype, self.device, fmt)
                            try:
                                parts.append(run_streamed(gm, src, tuple(x.shape[-2:]), on_tile=tick, cancel=cancel))
                                continue
                            except stream.Unsupported as exc:  # a layer the tracer passed but the executor lacks
                                graphs.clear()
                                if not self._not_streamable(str(exc)):
                                    out = run_padded(fn, x[i:i + 1], mult)
                                    parts.append({k: v.float().cpu() for k, v in out.items()})
                                    tick()
                                    continue
                        parts.append(run_seamless(fn, x[i:i + 1], model, tile=tile, overlap=overlap,
                                                  multiple=mult, norm_stats=norm_stats, on_tile=tick, cancel=cancel))
                else:
                    for i in range(0, n, batch_size):
                        if cancel is not None and cancel():
                            from .errors import Cancelled
                            raise Cancelled("cancelled")
                        sl[0] = slice(i, i + batch_size)
                        out = run_padded(fn, x[i:i + batch_size], mult)
                        parts.append({k: v.float().cpu() for k, v in out.items()})
                        tick()
                results.append({k: torch.cat([p[k] for p in parts]) for k in parts[0]})
        if self.device.type == "cpu":
            release_memory()  # buffers of a new size would otherwise stay in the heap (issue 40)
        return results

    def _not_streamable(self, why: str) -> bool:
        """Warn that a large image does not stream; True: tile it (a pass per norm layer), False: run
        it whole (the family's `unstreamable` rule)."""
        tiles = self.model.unstreamable == "tiles"
        what = ("tiles with a statistics pass per norm layer instead (close to, not equal to, the whole-image "
                "result)" if tiles else "one whole-image pass instead (tiles of this family would differ from it)")
        warnings.warn(f"{self.family}: this network cannot be streamed over a large image ({why}); {what}",
                      NotStreamable, stacklevel=4)
        return tiles

    def _reference_images(self, opts: dict, channels: int, rgb: bool | None) -> dict:
        """Options that are reference images of the output domain (MUNIT's `style_from`): a raw
        array is normalised like a translated image, with this checkpoint's Intensity window
        computed on the reference itself, into a (1, C, H, W) tensor in [-1, 1]."""
        names = getattr(self.model, "reference_options", ())
        out = dict(opts)
        for key in names:
            value = out.get(key)
            if value is None or isinstance(value, torch.Tensor):
                continue
            ref = validate_image(value)
            try:
                ref_slices, _ = to_slices(ref, channels, rgb)
            except InputError as exc:
                raise InputError(f"{key}: {exc}") from None
            if ref_slices.shape[0] != 1:
                raise InputError(f"{key} must be one 2D reference image (Y, X) or (Y, X, C), got shape {ref.shape} "
                                 f"({ref_slices.shape[0]} slices)")
            lo, hi = self._window(ref_slices, ref.dtype)
            out[key] = torch.from_numpy(Intensity.normalise(ref_slices, lo, hi))
        return out

    def _window(self, slices: np.ndarray, dtype) -> tuple[float, float]:
        """The intensity window of float32 `slices` made from an image of `dtype` (a "dtype" window
        reads the image's own dtype, not the float copy's)."""
        return self.intensity.window(np.empty(0, dtype) if self.intensity.mode == "dtype" else slices)

    @property
    def spacing(self) -> tuple[float, float] | None:
        """The (Y, X) pixel size the model was trained at, or None when the checkpoint does not say."""
        return self.meta.get("spacing")

    def model_grid(self, size: tuple[int, int], spacing, ndim_spatial: int = 2) -> tuple[int, int] | None:
        """The (H, W) a slice of `size` at `spacing` takes on the model's grid; None: no resampling
        (spacings agree or unknown, or the family needs its input grid: masks, k-space)."""
        if spacing is None or not self.model.tileable:
            return None
        return target_shape(size, in_plane(spacing, ndim_spatial), self.spacing)

    # ---- arrays in, arrays out --------------------------------------------------------------
    def generate(self, text, n_samples: int = 1, seed: int = 0, precision: str | None = None) -> np.ndarray:
        """Images drawn from a caption (families that make images from text alone, such as gan_cls):
        float32 (K, H, W, C), or (K, H, W) for one channel, on the training data's value scale
        ([0, 1] unless the model was trained with a fixed window). Reproducible from `seed`."""
        if not getattr(self.model, "generative", False):
            raise InputError(f"{self.family} translates images; generate() needs a text-to-image family such as gan_cls")
        lo, hi = (self.intensity.low, self.intensity.high) if self.intensity.mode == "fixed" else (0.0, 1.0)
        dtype = self._dtype(precision)
        ctx = torch.autocast(self.device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
        with torch.no_grad(), ctx:
            y = self.model.generate(text, n_samples, seed).float()
        if not torch.isfinite(y).all():
            raise NonFiniteOutput(f"{self.name}: the model produced NaN/Inf; check the checkpoint's weights")
        out = Intensity.denormalise(y.cpu().numpy().transpose(0, 2, 3, 1), lo, hi)
        return out[..., 0] if out.shape[-1] == 1 else out

    def translate(self, image, direction: str | None = None, *, rgb: bool | None = None,
                  out_dtype=None, tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP,
                  precision: str | None = None, norm_stats: str = "exact", batch_size: int = 4,
                  progress: Callable[[int, int], Any] | None = None, cancel=None, spacing=None,
                  resample: bool = True, axes: str | None = None, window: str = "stack", **opts):
        """Translate a numpy image or stack.

        `window`: "stack" (default) normalises the whole input with one intensity window; "slice"
        gives each 2D slice its own, as if it were translated alone (a batch of separate images).

        `axes` names the input's axes when the default rule (the last two axes are Y, X, plus a
        last colour axis of 3 or 4 entries; anything before is a stack) is not what you mean:
        letters from T, Z, C, Y, X, e.g. "YXC", "CYX" or "ZYX". The output keeps that order.

        `spacing`: the input's pixel size (a number, (Y, X), or one value per axis such as a
        napari layer's scale). When the checkpoint records the spacing it was trained at
        (`self.spacing`) and they differ, each slice is resampled to the model's grid, translated
        there and resampled back (`resample=False` turns this off).

        Returns an array shaped like the input (with the model's output channels, and scaled
        sides for super-resolution), in the input's dtype and value range unless
        `out_dtype="float32"`. With `n_samples=K` (multimodal families) a leading axis of K
        samples is added. When the family returns extra maps (e.g. `return_attention=True`) the
        result is a dict with "image" and those maps (float32 in [0, 1]).
        """
        check_call_args(direction=direction, tile=tile, overlap=overlap, precision=precision, norm_stats=norm_stats,
                        batch_size=batch_size, progress=progress, cancel=cancel, out_dtype=out_dtype)
        if chunked.is_dask(image) or chunked.is_zarr(image):  # lazy: one task per 2D slice
            if progress is not None or cancel is not None:
                raise InputError("dask/zarr input: progress= and cancel= do not apply (dask schedules the work); "
                                 "use dask's own progress bar")
            if chunked.is_zarr(image):
                import dask.array as da
                image = da.from_zarr(image)
            return chunked.translate_dask(self, image, direction, rgb=rgb, out_dtype=out_dtype, tile=tile,
                                          overlap=overlap, precision=precision, norm_stats=norm_stats,
                                          batch_size=batch_size, spacing=spacing, resample=resample, axes=axes, **opts)
        arr = validate_image(image)
        perm = None
        if axes is not None:
            perm, rgb = axes_order(axes, arr.shape)
            arr = np.transpose(arr, perm)
        elif rgb is None and arr.ndim >= 3 and arr.shape[-1] == 2 and arr.shape[-2] > 4:
            raise InputError(f"image shape {arr.shape}: is the last axis (2 entries) channels or X? Say which "
                             "with axes=, e.g. axes='YXC' (a 2-channel image) or axes='ZYX' (a stack)")
        direction = self.model.resolve_direction(direction)
        cin, cout = self.model.channels(direction)
        slices, layout = to_slices(arr, cin, rgb)
        opts = self._reference_images(opts, cout, rgb)
        opts = {k: _per_slice(v, layout["lead"]) for k, v in opts.items()}
        if window not in ("stack", "slice"):
            raise InputError(f"window must be 'stack' or 'slice', got {window!r}")
        wins = [self._window(s, arr.dtype) for s in slices] if window == "slice" else None
        if wins is None:
            lo, hi = self._window(slices, arr.dtype)
            x = torch.from_numpy(Intensity.normalise(slices, lo, hi))
        else:
            (lo, _), (_, hi) = min(wins), max(wins, key=lambda w: w[1])  # for messages
            x = torch.from_numpy(np.stack([Intensity.normalise(s, *w) for s, w in zip(slices, wins)]))
        del slices  # large images: one float copy of the input at a time
        size = tuple(x.shape[-2:])
        grid = self.model_grid(size, spacing, len(layout["lead"]) + 2) if resample else None
        if grid is not None:
            x = resize(x, grid).clamp_(-1.0, 1.0)
        results = self.forward_tensor(x, direction, tile=tile, overlap=overlap, precision=precision,
                                      norm_stats=norm_stats, batch_size=batch_size, progress=progress,
                                      cancel=cancel, **opts)
        dtype = np.dtype(out_dtype) if out_dtype is not None else arr.dtype
        images, extras = [], {}
        keep = self.model.unchanged_pixels(opts)
        if grid is not None:  # back to the input's grid (scaled sides for super-resolution)
            back = tuple(n * self.model.scale_factor for n in size)
            results = [{k: resize(v, back) for k, v in res.items()} for res in results]
        for res in results:
            if not torch.isfinite(res["image"]).all():
                raise NonFiniteOutput(f"{self.name}: the model produced NaN/Inf for this input (intensity window "
                                      f"{lo:g}..{hi:g}); check the input's values and the checkpoint's weights")
            y = res.pop("image").numpy()  # the float output is freed once denormalised
            y = Intensity.denormalise(y, lo, hi) if wins is None else np.stack(
                [Intensity.denormalise(v, *w) for v, w in zip(y, wins)])
            img_out = from_slices(cast_like(y, dtype), layout)
            if keep is not None and img_out.shape == arr.shape:  # known pixels come back bit-identical
                img_out = np.where(_spatial_mask(keep, layout, arr), arr.astype(img_out.dtype), img_out)
            images.append(img_out)
            for k, v in res.items():
                if k != "image":
                    extras.setdefault(k, []).append(from_slices(v.numpy(), layout, alpha=False))
        many = len(results) > 1 or "n_samples" in opts
        image_out = _restore_axes(np.stack(images) if many else images[0], perm, int(many))
        if not extras:
            return image_out
        out = {"image": image_out}
        out.update({k: _restore_axes(np.stack(v) if many else v[0], perm, int(many)) for k, v in extras.items()})
        return out


def _batch_opts(opts: dict, sl: slice, n: int) -> dict:
    """Slice per-slice options (arrays with a leading axis of length n > 1, lists of n captions) to the current batch."""
    out = {}
    for k, v in opts.items():
        if n > 1 and isinstance(v, (np.ndarray, torch.Tensor)) and v.ndim == 3 and v.shape[0] == n:
            v = v[sl]
        elif n > 1 and isinstance(v, (list, tuple)) and len(v) == n:  # one caption per slice
            v = list(v[sl])
        out[k] = v
    return out


PRECISIONS = ("auto", "bf16", "fp16", "fp32")
#: with precision "auto", images (or tiles) whose shorter padded side is under NARROW_FACTOR times
#: the network's size multiple (at least NARROW_MIN pixels) run in fp32
NARROW_FACTOR, NARROW_MIN = 4, 64


def narrow(side: int, multiple: int) -> bool:
    """True when the deepest feature maps of an image with this shorter side would be a few pixels
    wide. There oneDNN's bf16 channels_last convolutions were seen to differ from run to run (by up
    to 1.6 against fp32 for a (1, 256, 6, 2) input, issue 40) and to give NaN; fp32 costs little at
    these sizes."""
    return padded_side(side, multiple, min_side_for(multiple)) < max(NARROW_FACTOR * multiple, NARROW_MIN)


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


MAX_SIDE = 16384  # tile and overlap, pixels
MAX_BATCH = 256  # tiles per forward pass


def check_call_args(*, direction, tile, overlap, precision, norm_stats, batch_size, progress, cancel,
                    out_dtype) -> None:
    """One clear InputError per bad argument of `translate`, before any work is done."""
    from .tiling import NORM_STATS

    if direction is not None and not isinstance(direction, str):
        raise InputError(f"direction must be a string such as 'AtoB' or 'T1w->T2w', got {direction!r}")
    for name, v, low, high in (("tile", tile, 16, MAX_SIDE), ("overlap", overlap, 0, MAX_SIDE),
                               ("batch_size", batch_size, 1, MAX_BATCH)):
        if not _is_int(v) or not low <= v <= high:
            raise InputError(f"{name} must be an integer in [{low}, {high}], got {v!r}")
    if precision is not None and precision not in PRECISIONS:
        raise InputError(f"precision must be 'auto', 'bf16', 'fp16' or 'fp32', got {precision!r}")
    if norm_stats not in NORM_STATS:
        raise InputError(f"norm_stats must be one of {NORM_STATS}, got {norm_stats!r}")
    if progress is not None and not callable(progress):
        raise InputError(f"progress must be a callable(done, total) or None, got {type(progress).__name__}")
    if cancel is not None and not (callable(cancel) or hasattr(cancel, "is_set")):
        raise InputError(f"cancel must be a callable returning bool, a threading.Event or None, got "
                         f"{type(cancel).__name__}")
    if out_dtype is not None:
        try:
            kind = np.dtype(out_dtype).kind
        except TypeError:
            kind = None
        if kind not in ("u", "i", "f"):
            raise InputError(f"out_dtype must be a numeric dtype such as 'float32' or 'uint16', got {out_dtype!r}")
