"""Exact inference on images too large for one pass: the network runs layer by layer, each layer
over full-width row strips of the whole image.

Tiling a network with instance norms is either wrong (per-tile statistics) or slow (a pass per
norm layer). Here the network is traced once (torch.fx) and its graph is run node by node over
the whole image instead: a convolution reads the strips of its input that its output strip
needs (a halo of kernel - 1 rows) and writes its output; a norm takes the statistics its input
gathered while it was written; pointwise layers (activations, norms with known statistics,
padding, up-sampling, pixel shuffle, additions, concatenations) are evaluated lazily on
the strips their consumer reads. Every convolution output row is computed once, so the cost is
close to one whole-image pass, and the result equals whole-image inference up to floating-point
order.

Conditional and multimodal networks stream too: a network may read the image's shape, device and
dtype (to make a code or label vector for it), concatenate a code map (`stream_pointwise`
functions such as nets/codemap.with_code), slice channels, hand AdaIN parameters to its layers
while tracing (recorded with the layer's node), and pool an activation globally (the whole image's
channel means, before any layer that uses the result).

Memory is bounded by the strip size and a RAM budget for stored activations; beyond the budget
they go to temporary files (read back with plain file I/O, so they do not count as resident
memory). Graphs with anything else (data-dependent shapes, unknown ops, dropout in training
mode) raise `Unsupported`, and the caller falls back to per-layer statistics passes.
"""
from __future__ import annotations

import math
import operator
import os
import tempfile
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from .errors import Cancelled
from .nets.norm import GlobalInstanceNorm2d
from .nets.packed import PackedConv2d, PackedConvTranspose2d

STRIP_BYTES = 16 << 20  # input + output bytes of one strip
RAM_BYTES = 256 << 20  # stored activations beyond this go to temporary files


class Unsupported(Exception):
    """The network has a part the streaming executor cannot run exactly."""


POINTWISE_MODULES = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Identity, nn.ELU, nn.GELU, nn.SiLU,
                     nn.Hardtanh, nn.PReLU, nn.Dropout, nn.BatchNorm2d)
PAD_MODULES = {nn.ReflectionPad2d: "reflect", nn.ReplicationPad2d: "replicate", nn.ZeroPad2d: "zeros"}
LEAVES = (GlobalInstanceNorm2d, nn.Conv2d, nn.ConvTranspose2d, nn.Upsample, nn.PixelShuffle, nn.ConstantPad2d,
          *PAD_MODULES, *POINTWISE_MODULES)
POINTWISE_FUNCTIONS = {operator.add, operator.sub, operator.mul, operator.truediv, operator.neg, torch.add,
                       torch.sub, torch.mul, torch.tanh, torch.sigmoid, torch.relu, F.relu, F.leaky_relu,
                       torch.clamp, torch.where, torch.lerp}
POINTWISE_METHODS = {"add", "sub", "mul", "div", "clamp", "tanh", "sigmoid", "relu", "float", "to", "type_as",
                     "contiguous", "neg", "abs", "__add__", "__mul__", "__sub__", "__rsub__", "__radd__"}


class Tracer(fx.Tracer):
    """torch.nn layers (and subclasses of those the executor knows), instance norms and modules
    marked `stream_pointwise` are leaves."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, LEAVES) or getattr(m, "stream_pointwise", False):
            return True
        return super().is_leaf_module(m, qualname)

    def call_module(self, m, forward, args, kwargs):
        """A leaf whose attributes were set to traced values just before the call (the AdaIN
        parameters a decoder hands its layers, as in Council-GAN's official networks) records
        them, so the executor sets them to their values when it runs the layer."""
        out = super().call_module(m, forward, args, kwargs)
        attrs = {k: v.node for k, v in vars(m).items() if isinstance(v, fx.Proxy)}
        if attrs and isinstance(out, fx.Proxy) and self.is_leaf_module(m, self.path_of_module(m)):
            out.node.meta["stream_attrs"] = attrs
        return out


class _Call(nn.Module):
    """`fn(x)` as a module, so it can be traced."""

    def __init__(self, model: nn.Module, fn: Callable):
        super().__init__()
        self.model = model
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def trace(model: nn.Module, fn: Callable) -> fx.GraphModule:
    """The graph of `fn(x)` (which calls `model`), or Unsupported."""
    root = _Call(model, fn)
    try:
        return fx.GraphModule(root, Tracer().trace(root))
    except Exception as exc:  # noqa: BLE001 - anything fx cannot trace is simply not streamable
        raise Unsupported(f"not traceable: {type(exc).__name__}: {exc}") from None
    finally:  # attributes a forward set to traced values (recorded in the graph) are not kept
        for m in model.modules():
            for k, v in list(vars(m).items()):
                if isinstance(v, fx.Proxy):
                    setattr(m, k, None)


# ---- activations -----------------------------------------------------------------------------
class Act:
    """A (1, C, H, W) activation that can be read a band of rows at a time."""

    c: int
    h: int
    w: int
    dtype: torch.dtype
    _stats = None

    def read(self, r0: int, r1: int) -> torch.Tensor:
        raise NotImplementedError

    def stats(self, ctx: "Context") -> tuple[torch.Tensor, torch.Tensor, int]:
        """Per-channel (sum, sum of squares, count) in float64 over the whole activation."""
        if self._stats is None:
            acc = Moments(self.c)
            for r0, r1 in ctx.strips(self.h, self.row_bytes()):
                acc.add(self.read(r0, r1))
            self._stats = acc.value()
        return self._stats

    def row_bytes(self) -> int:
        return self.c * self.w * torch.tensor([], dtype=self.dtype).element_size()


class Moments:
    def __init__(self, c: int):
        self.s = torch.zeros(c, dtype=torch.float64)
        self.ss = torch.zeros(c, dtype=torch.float64)
        self.n = 0

    def add(self, t: torch.Tensor) -> None:
        """One strip: float32 mean and variance within it (batch norm's own statistics kernel, ~10x
        faster than two reductions on channels_last bf16), float64 sums across strips."""
        n = t.shape[0] * t.shape[2] * t.shape[3]
        if n > 1:
            mean = torch.zeros(t.shape[1], dtype=torch.float32, device=t.device)
            var = torch.ones_like(mean)
            F.batch_norm(t, mean, var, None, None, True, 1.0, 1e-5)  # running stats := this strip's
            mean, var = mean.double().cpu(), var.double().cpu() * (n - 1) / n
            self.s += mean * n
            self.ss += (var + mean * mean) * n
        else:
            self.s += t.sum(dim=(0, 2, 3), dtype=torch.float32).double().cpu()
            self.ss += torch.linalg.vector_norm(t, dim=(0, 2, 3), dtype=torch.float32).double().cpu() ** 2
        self.n += n

    def value(self):
        return self.s, self.ss, self.n


class Source(Act):
    """A tensor already in memory (the input), cast to `dtype` and moved to `device` a band at a
    time (so a float32 input does not need a second, converted copy)."""

    def __init__(self, t: torch.Tensor, dtype: torch.dtype | None = None, device=None,
                 memory_format=torch.contiguous_format):
        self.t = t
        _, self.c, self.h, self.w = t.shape
        self.dtype = t.dtype if dtype is None else dtype
        self.device, self.memory_format = device, memory_format

    def read(self, r0, r1):
        return self.t[:, :, r0:r1].to(self.device, self.dtype).contiguous(memory_format=self.memory_format)


class Stored(Act):
    """An activation written strip by strip, in RAM within the budget, else in a temporary file laid
    out (H, W, C) so a band of rows is contiguous and reads back as a channels_last tensor."""

    def __init__(self, ctx: "Context", c: int, h: int, w: int, dtype: torch.dtype, device: torch.device,
                 moments: bool = True):
        self.c, self.h, self.w, self.dtype, self.device = c, h, w, dtype, device
        self.ctx = ctx
        self.nbytes = h * self.row_bytes()
        self.moments = Moments(c) if moments else None
        self.t = self.path = None
        if ctx.ram_used + self.nbytes <= ctx.ram_bytes or device.type != "cpu":
            self.t = torch.empty((1, c, h, w), dtype=dtype, device=device, memory_format=torch.channels_last)
            ctx.ram_used += self.nbytes
        else:
            fd, self.path = tempfile.mkstemp(suffix=".act", dir=ctx.tmpdir())
            os.close(fd)
            self.file = open(self.path, "w+b")  # noqa: SIM115 - closed in free()
            self.file.truncate(self.nbytes)

    def write(self, r0: int, t: torch.Tensor) -> None:
        if self.moments is not None:
            self.moments.add(t)
        if self.t is not None:
            self.t[:, :, r0:r0 + t.shape[2]] = t
            return
        hwc = t[0].permute(1, 2, 0).contiguous().cpu()
        self.file.seek(r0 * self.row_bytes())
        self.file.write(memoryview(_bits(hwc).numpy()))  # no copy: the buffer itself

    def finish(self) -> None:
        if self.moments is not None:
            self._stats = self.moments.value()

    def read(self, r0, r1):
        if self.t is not None:
            return self.t[:, :, r0:r1]
        self.file.seek(r0 * self.row_bytes())
        n = (r1 - r0) * self.w * self.c
        bits = _bits(torch.empty(0, dtype=self.dtype))
        buf = np.fromfile(self.file, dtype=bits.numpy().dtype, count=n)
        hwc = torch.from_numpy(buf).view(self.dtype).view(r1 - r0, self.w, self.c)
        return hwc.permute(2, 0, 1).unsqueeze(0)

    def free(self) -> None:
        if self.t is not None:
            self.ctx.ram_used -= self.nbytes
            self.t = None
        elif self.path is not None:
            self.file.close()
            os.unlink(self.path)
            self.path = None

    def __del__(self):
        try:
            self.free()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The tensor's bytes as an integer tensor numpy can hold (numpy has no bfloat16)."""
    size = t.element_size()
    return t.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[size]) if t.is_floating_point() else t


class Pointwise(Act):
    """f(strips of the inputs, constants as they are), evaluated when read."""

    def __init__(self, f: Callable, args: tuple, kwargs: dict, like: Act, dtype: torch.dtype | None = None,
                 channels: int | None = None):
        self.f, self.args, self.kwargs = f, args, kwargs
        self.c = like.c if channels is None else channels
        self.h, self.w = like.h, like.w
        self.dtype = like.dtype if dtype is None else dtype

    def read(self, r0, r1):
        def strip(a):
            return a.read(r0, r1) if isinstance(a, Act) else a
        args = tuple(_map(strip, a) for a in self.args)
        kwargs = {k: _map(strip, v) for k, v in self.kwargs.items()}
        return self.f(*args, **kwargs)


def _map(f, a):
    if isinstance(a, (list, tuple)):
        return type(a)(_map(f, v) for v in a)
    return f(a)


class Padded(Act):
    """Explicit padding of the input's borders (reflect, replicate or zeros)."""

    def __init__(self, src: Act, pad: tuple[int, int, int, int], mode: str):
        self.src, self.mode = src, mode
        self.left, self.right, self.top, self.bottom = pad
        self.c, self.dtype = src.c, src.dtype
        self.h, self.w = src.h + self.top + self.bottom, src.w + self.left + self.right
        if mode == "reflect" and (max(self.top, self.bottom) >= src.h or max(self.left, self.right) >= src.w):
            raise Unsupported("reflection padding wider than the image")

    def read(self, r0, r1):
        x = read_rows(self.src, r0 - self.top, r1 - self.top, self.mode)
        if self.left or self.right:
            mode = "constant" if self.mode == "zeros" else self.mode
            with _no_autocast(x):
                x = F.pad(x, (self.left, self.right, 0, 0), mode=mode)
        return x


def _no_autocast(x):
    return torch.autocast(x.device.type, enabled=False)


def read_rows(src: Act, r0: int, r1: int, mode: str) -> torch.Tensor:
    """Rows [r0, r1) of src, where rows outside [0, H) come from the border rule `mode`."""
    if 0 <= r0 and r1 <= src.h:
        return src.read(r0, r1)
    rows = torch.arange(r0, r1)
    h = src.h
    if mode == "reflect":
        idx = rows.abs()
        idx = torch.where(idx >= h, 2 * (h - 1) - idx, idx)
    elif mode == "replicate":
        idx = rows.clamp(0, h - 1)
    elif mode == "zeros":
        idx = rows.clamp(0, h - 1)
    else:
        raise Unsupported(f"padding mode {mode!r}")
    lo, hi = int(idx.min()), int(idx.max()) + 1
    band = src.read(lo, hi)
    out = band.index_select(2, (idx - lo).to(band.device))
    if mode == "zeros":
        keep = ((rows >= 0) & (rows < h)).to(out.dtype).to(out.device).view(1, 1, -1, 1)
        out = out * keep
    return out


class Shuffled(Act):
    """Pixel shuffle by an integer factor: (C*s*s, H, W) -> (C, H*s, W*s)."""

    def __init__(self, src: Act, s: int):
        if src.c % (s * s):
            raise Unsupported("pixel shuffle of channels not divisible by the factor squared")
        self.src, self.s = src, s
        self.c, self.dtype, self.h, self.w = src.c // (s * s), src.dtype, src.h * s, src.w * s

    def read(self, r0, r1):
        s = self.s
        lo = r0 // s
        x = F.pixel_shuffle(self.src.read(lo, (r1 - 1) // s + 1), s)
        return x[:, :, r0 - lo * s: r1 - lo * s]


class Interpolated(Act):
    """F.interpolate by an integer factor (nearest, bilinear or bicubic, align_corners=False): a
    band of input rows with a 2-row halo, clamped at the borders as the kernel clamps, gives the
    same output rows as the whole image."""

    def __init__(self, src: Act, s: int, mode: str):
        self.src, self.s, self.mode = src, s, mode
        self.halo = 0 if mode == "nearest" else 2
        self.c, self.dtype, self.h, self.w = src.c, src.dtype, src.h * s, src.w * s

    def read(self, r0, r1):
        s = self.s
        lo = r0 // s - self.halo
        x = read_rows(self.src, lo, (r1 - 1) // s + 1 + self.halo, "replicate")
        y = F.interpolate(x, scale_factor=s, mode=self.mode, align_corners=None if self.mode == "nearest" else False)
        return y[:, :, r0 - lo * s: r1 - lo * s]


def _interpolated(src, size=None, scale_factor=None, mode="nearest", align_corners=None,
                  recompute_scale_factor=None, antialias=False) -> Interpolated:
    s = scale_factor
    if (size is not None or s is None or isinstance(s, (tuple, list)) or float(s) != int(s) or s < 1 or antialias
            or align_corners or mode not in ("nearest", "bilinear", "bicubic")):
        raise Unsupported("interpolation other than by an integer factor (nearest, bilinear, bicubic)")
    return Interpolated(src, int(s), mode)


# ---- the executor -----------------------------------------------------------------------------
class Context:
    def __init__(self, strip_bytes: int, ram_bytes: int, tick: Callable[[], None] | None,
                 cancel: Callable[[], bool] | None):
        self.strip_bytes, self.ram_bytes = strip_bytes, ram_bytes
        self.ram_used = 0
        self.tick, self.cancel = tick, cancel
        self._tmp: tempfile.TemporaryDirectory | None = None

    def tmpdir(self) -> str:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="im2im-stream-")
        return self._tmp.name

    def strips(self, h: int, row_bytes: int):
        rows = max(1, min(h, self.strip_bytes // max(1, row_bytes)))
        for r0 in range(0, h, rows):
            if self.cancel is not None and self.cancel():
                raise Cancelled("cancelled")
            yield r0, min(h, r0 + rows)

    def close(self):
        if self._tmp is not None:
            self._tmp.cleanup()


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d(ctx: Context, m: nn.Conv2d, src: Act, moments: bool = True) -> Stored:
    (kh, kw), (sh, sw), (dh, dw) = m.kernel_size, _pair(m.stride), _pair(m.dilation)
    if isinstance(m.padding, str):
        raise Unsupported("string conv padding")
    ph, pw = _pair(m.padding)
    mode = {"zeros": "zeros", "reflect": "reflect", "replicate": "replicate"}.get(m.padding_mode)
    if mode is None:
        raise Unsupported(f"conv padding_mode {m.padding_mode!r}")
    ho = (src.h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (src.w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    dtype = _out_dtype(src, m.weight)
    out = Stored(ctx, m.out_channels, ho, wo, dtype, m.weight.device, moments)
    row_in = src.row_bytes() * sh
    for o0, o1 in ctx.strips(ho, out.row_bytes() + row_in):
        i0 = o0 * sh - ph
        i1 = (o1 - 1) * sh - ph + dh * (kh - 1) + 1
        x = read_rows(src, i0, i1, mode)
        if pw:
            with _no_autocast(x):
                x = F.pad(x, (pw, pw, 0, 0), mode="constant" if mode == "zeros" else mode)
        if isinstance(m, PackedConv2d):
            out.write(o0, m(x, padding=(0, 0)))
        else:
            out.write(o0, F.conv2d(x, m.weight, m.bias, (sh, sw), 0, (dh, dw), m.groups))
    out.finish()
    return out


def conv_transpose2d(ctx: Context, m: nn.ConvTranspose2d, src: Act, moments: bool = True) -> Stored:
    (kh, kw), (sh, sw), (dh, dw) = m.kernel_size, _pair(m.stride), _pair(m.dilation)
    (ph, pw), (oph, opw) = _pair(m.padding), _pair(m.output_padding)
    if m.padding_mode != "zeros":
        raise Unsupported("transposed conv padding_mode")
    ho = (src.h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    wo = (src.w - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    dtype = _out_dtype(src, m.weight)
    out = Stored(ctx, m.out_channels, ho, wo, dtype, m.weight.device, moments)
    reach = dh * (kh - 1)
    for o0, o1 in ctx.strips(ho, out.row_bytes() + src.row_bytes() // sh):
        u0, u1 = o0 + ph, o1 + ph  # rows of the unpadded (padding=0) output
        i0 = max(0, math.ceil((u0 - reach) / sh))
        i1 = min(src.h, (u1 - 1) // sh + 1)
        band = None
        if i0 < i1:
            x = src.read(i0, i1)
            if isinstance(m, PackedConvTranspose2d):
                y = m(x, padding=(0, pw), output_padding=(0, opw), bias=False)
            else:
                y = F.conv_transpose2d(x, m.weight, None, (sh, sw), (0, pw), (0, opw), m.groups, (dh, dw))
            band = torch.zeros(y.shape[0], y.shape[1], u1 - u0, y.shape[3], dtype=y.dtype, device=y.device)
            a, b = max(u0, i0 * sh), min(u1, i0 * sh + y.shape[2])
            if a < b:
                band[:, :, a - u0: b - u0] = y[:, :, a - i0 * sh: b - i0 * sh]
        else:
            band = torch.zeros(1, m.out_channels, u1 - u0, wo, dtype=dtype, device=out.device)
        if m.bias is not None:
            band = band + m.bias.to(band.dtype).view(1, -1, 1, 1)
        out.write(o0, band.to(dtype))
    out.finish()
    return out


def _out_dtype(src: Act, weight: torch.Tensor) -> torch.dtype:
    if torch.is_autocast_enabled(weight.device.type):
        return torch.get_autocast_dtype(weight.device.type)
    return torch.promote_types(src.dtype, weight.dtype)


def _stats(ctx: Context, src: Act) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (mean, variance) of the whole activation, float32."""
    s, ss, n = src.stats(ctx)
    mean = s / n
    return mean.float(), (ss / n - mean * mean).clamp_min(0).float()


def norm(ctx: Context, m: GlobalInstanceNorm2d, src: Act, attrs: dict | None = None) -> Pointwise:
    """The layer's own forward with the whole activation's statistics (and `attrs` set on it)."""
    return Pointwise(_with_attrs(m, {**(attrs or {}), "fixed_stats": _stats(ctx, src)}), (src,), {}, src)


class _Rows(Act):
    """A tensor of the image's size already in memory, read a band of rows at a time."""

    def __init__(self, t: torch.Tensor):
        self.t = t
        _, self.c, self.h, self.w = t.shape
        self.dtype = t.dtype

    def read(self, r0, r1):
        return self.t[:, :, r0:r1]


def _is_map(t, like: Act) -> bool:
    return isinstance(t, torch.Tensor) and t.dim() == 4 and t.shape[0] == 1 and tuple(t.shape[2:]) == (like.h, like.w)


def _map_maps(v, like: Act):
    if isinstance(v, (list, tuple)):
        return type(v)(_map_maps(x, like) for x in v)
    return _Rows(v) if _is_map(v, like) else v


def _stand_in(a: Act) -> torch.Tensor:
    """A tensor with the activation's shape, dtype and device and no memory of its own."""
    return torch.zeros((), dtype=a.dtype, device=_attribute(a, "device")).expand(1, a.c, a.h, a.w)


def _map_acts(f, v):
    if isinstance(v, (list, tuple)):
        return type(v)(_map_acts(f, x) for x in v)
    return f(v) if isinstance(v, Act) else v


def _with_attrs(m: nn.Module, attrs: dict) -> Callable:
    """m(x) with `attrs` set on m for the call (tensors moved to x's device), then restored."""
    def apply(x):
        saved = {k: getattr(m, k) for k in attrs}
        for k, v in attrs.items():
            setattr(m, k, tuple(t.to(x.device) for t in v) if isinstance(v, tuple) else
                    v.to(x.device) if isinstance(v, torch.Tensor) else v)
        try:
            return m(x)
        finally:
            for k, v in saved.items():
                setattr(m, k, v)
    return apply


def _acts(v) -> list[Act]:
    if isinstance(v, Act):
        return [v]
    if isinstance(v, (list, tuple)):
        return [a for x in v for a in _acts(x)]
    if isinstance(v, dict):
        return [a for x in v.values() for a in _acts(x)]
    return []


def _pointwise_call(f, args, kwargs, probe: bool = False) -> Pointwise:
    """f on bands of its image arguments; `probe`: f may change the channel count, read it off one row."""
    acts = _acts(args) + _acts(kwargs)
    like = acts[0]
    if any((a.h, a.w) != (like.h, like.w) for a in acts):
        raise Unsupported("pointwise op on activations of different sizes")
    # a constant map of the image's size (a reference image resized to it) is read in bands too
    args, kwargs = _map_maps(args, like), {k: _map_maps(v, like) for k, v in kwargs.items()}
    out = Pointwise(f, args, kwargs, like)
    if probe:
        t = out.read(0, 1)
        if t.dim() != 4 or t.shape[0] != 1 or t.shape[2] != 1 or t.shape[3] != like.w:
            raise Unsupported(f"{getattr(f, '__name__', f)} does not keep the image's rows and columns")
        out.c, out.dtype = t.shape[1], t.dtype
    return out


def _channels(idx, c: int) -> int | None:
    """How many channels x[idx] keeps when idx selects a range of channels only (x[:, a:b]), else None."""
    idx = idx if isinstance(idx, tuple) else (idx,)
    if not 1 <= len(idx) <= 4 or any(not isinstance(i, slice) for i in idx):
        return None
    if idx[0] != slice(None) or any(i != slice(None) for i in idx[2:]):
        return None
    return c if len(idx) == 1 else len(range(c)[idx[1]])


#: what a network may ask of the whole image without reading it: its shape, device and dtype
#: (a code or label vector made for the image's batch and device, not for a band of it)
ACT_ATTRIBUTES = ("shape", "device", "dtype", "ndim")


def _attribute(a: Act, name: str):
    if name == "shape":
        return torch.Size((1, a.c, a.h, a.w))
    if name == "ndim":
        return 4
    if name == "dtype":
        return a.dtype
    device = getattr(a, "device", None)
    return device if device is not None else a.read(0, 1).device


def run_node(ctx: Context, gm: fx.GraphModule, node: fx.Node, args, kwargs, env_attrs: dict | None = None):
    """The value of one graph node: an Act when it depends on the image, else computed eagerly.
    `env_attrs`: the values computed so far, for attributes a leaf had set while tracing."""
    if node.op == "call_function" and node.target is getattr and isinstance(args[0], Act):
        if len(args) == 2 and args[1] in ACT_ATTRIBUTES:
            return _attribute(args[0], args[1])
        raise Unsupported(f"attribute {args[1:]} of an image activation")
    if node.op == "call_method" and node.target in ("size", "dim") and isinstance(args[0], Act):
        shape = _attribute(args[0], "shape")
        if node.target == "dim":
            return 4
        return shape if len(args) == 1 and not kwargs else shape[args[1] if len(args) > 1 else kwargs["dim"]]
    if not _acts(args) and not _acts(kwargs):
        if node.op == "call_module":
            return gm.get_submodule(node.target)(*args, **kwargs)
        if node.op == "call_function":
            return node.target(*args, **kwargs)
        return getattr(args[0], node.target)(*args[1:], **kwargs)
    if node.op == "call_module":
        m = gm.get_submodule(node.target)
        attrs = {k: env_attrs[n] for k, n in node.meta.get("stream_attrs", {}).items()} if env_attrs else {}
        src = args[0]
        if len(args) != 1 or kwargs or not isinstance(src, Act):
            raise Unsupported(f"module {node.target} called with extra arguments")
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):  # statistics only for a norm that reads it
            moments = any(u.op == "call_module" and isinstance(gm.get_submodule(u.target),
                                                               (GlobalInstanceNorm2d, nn.AdaptiveAvgPool2d))
                          for u in node.users)
            return (conv2d if isinstance(m, nn.Conv2d) else conv_transpose2d)(ctx, m, src, moments)
        if getattr(m, "stream_reduction", False):  # a vector of the whole image's channel means
            return _with_attrs(m, {**attrs, "fixed_stats": _stats(ctx, src)})(src.read(0, 1))
        if isinstance(m, nn.AdaptiveAvgPool2d) and _pair(m.output_size) == (1, 1):
            return _stats(ctx, src)[0].to(src.read(0, 1).dtype).view(1, -1, 1, 1)
        if isinstance(m, GlobalInstanceNorm2d):
            return norm(ctx, m, src, attrs)
        if attrs:
            raise Unsupported(f"module {node.target} with attributes set while tracing")
        for cls, mode in PAD_MODULES.items():
            if isinstance(m, cls):
                return Padded(src, tuple(m.padding), mode)
        if isinstance(m, nn.ConstantPad2d) and m.value == 0:
            return Padded(src, tuple(m.padding), "zeros")
        if isinstance(m, nn.Upsample):
            return _interpolated(src, m.size, m.scale_factor, m.mode, m.align_corners)
        if isinstance(m, nn.PixelShuffle):
            return Shuffled(src, m.upscale_factor)
        if isinstance(m, nn.Dropout) and m.training:
            raise Unsupported("dropout in training mode")
        if isinstance(m, nn.BatchNorm2d) and (m.training or not m.track_running_stats):
            raise Unsupported("batch norm with batch statistics")
        if isinstance(m, POINTWISE_MODULES) or getattr(m, "stream_pointwise", False):
            if getattr(m, "inplace", False):
                return Pointwise(lambda x, m=m: m(x.clone()), (src,), {}, src)
            return Pointwise(m, (src,), {}, src)
        raise Unsupported(f"module {type(m).__name__}")
    if node.op == "call_function":
        f = node.target
        if f in (torch.cat, torch.concat):
            dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
            parts = list(args[0])
            like = _acts(parts)[0]
            if dim not in (1, -3) or not all(isinstance(p, Act) or _is_map(p, like) for p in parts):
                raise Unsupported("concatenation other than along channels")
            out = _pointwise_call(lambda ps: torch.cat(ps, 1), (parts,), {})
            parts = out.args[0]
            out.c = sum(p.c for p in parts)
            return out
        if getattr(f, "stream_shape_only", False):  # reads only the image's shape, dtype and device
            return f(*_map_acts(_stand_in, args), **{k: _map_acts(_stand_in, v) for k, v in kwargs.items()})
        if f is F.interpolate and isinstance(args[0], Act):
            return _interpolated(*args, **kwargs)
        if f is operator.getitem and isinstance(args[0], Act) and len(args) == 2:
            c = _channels(args[1], args[0].c)
            if not c:
                raise Unsupported("indexing an image other than by a range of channels")
            out = _pointwise_call(operator.getitem, args, kwargs)
            out.c = c
            return out
        if f in POINTWISE_FUNCTIONS:
            return _pointwise_call(f, args, kwargs)
        if getattr(f, "stream_pointwise", False):
            return _pointwise_call(f, args, kwargs, probe=True)
        raise Unsupported(f"function {getattr(f, '__name__', f)}")
    if node.op == "call_method" and node.target in ("mean", "sum", "amax", "amin") and len(args) >= 1:
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        keep = kwargs.get("keepdim", args[2] if len(args) > 2 else False)
        if dim in (1, -3, (1,), [1]) and keep and isinstance(args[0], Act):  # across channels: per pixel
            out = _pointwise_call(lambda x, *a, _m=node.target, **k: getattr(x, _m)(*a, **k), args, kwargs)
            out.c = 1
            return out
        raise Unsupported(f"{node.target} over the image")
    if node.op == "call_method" and node.target in POINTWISE_METHODS:
        out = _pointwise_call(lambda x, *a, _m=node.target, **k: getattr(x, _m)(*a, **k), args, kwargs)
        if node.target in ("float", "to", "type_as"):
            out.dtype = _probe_dtype(out)
        return out
    raise Unsupported(f"{node.op} {node.target}")


def _probe_dtype(a: Act) -> torch.dtype:
    return a.read(0, 1).dtype


def _materialize(ctx: Context, a: Act, moments: bool) -> Stored:
    out = None
    for r0, r1 in ctx.strips(a.h, a.row_bytes() * 2):
        t = a.read(r0, r1)
        if out is None:
            out = Stored(ctx, t.shape[1], a.h, t.shape[3], t.dtype, t.device, moments)
        out.write(r0, t)
    out.finish()
    return out


def n_steps(gm: fx.GraphModule) -> int:
    """Progress units: the convolutions the graph runs."""
    return sum(1 for n in gm.graph.nodes if n.op == "call_module"
               and isinstance(gm.get_submodule(n.target), (nn.Conv2d, nn.ConvTranspose2d)))


def stream(gm: fx.GraphModule, x: "torch.Tensor | Act", *, strip_bytes: int = STRIP_BYTES, ram_bytes: int = RAM_BYTES,
           tick: Callable[[], None] | None = None, cancel: Callable[[], bool] | None = None,
           sink: Callable[[str, int, torch.Tensor], None] | None = None) -> dict[str, torch.Tensor]:
    """Run the traced graph on x (1, C, H, W), a tensor or an Act that reads its rows on demand.
    Returns {"image": ..., other outputs} as float32 CPU tensors, or, with `sink(name, row, strip)`,
    hands each output over a band of rows at a time and returns {}."""
    if isinstance(x, torch.Tensor) and x.shape[0] != 1:
        raise Unsupported("one image at a time")
    ctx = Context(strip_bytes, ram_bytes, tick, cancel)
    nodes = list(gm.graph.nodes)
    last_use = {}
    for i, n in enumerate(nodes):
        for a in [*n.all_input_nodes, *n.meta.get("stream_attrs", {}).values()]:
            last_use[a] = i
    env: dict[fx.Node, object] = {}
    try:
        for i, node in enumerate(nodes):
            if node.op == "placeholder":
                env[node] = x if isinstance(x, Act) else Source(x)
            elif node.op == "get_attr":
                obj = gm
                for part in node.target.split("."):
                    obj = getattr(obj, part)
                env[node] = obj
            elif node.op == "output":
                return _emit(ctx, fx.node.map_arg(node.args[0], env.__getitem__), sink)
            else:
                args = fx.node.map_arg(node.args, env.__getitem__)
                kwargs = fx.node.map_arg(node.kwargs, env.__getitem__)
                val = run_node(ctx, gm, node, args, kwargs, env)
                if isinstance(val, Stored) and tick is not None:
                    tick()
                elif isinstance(val, Act) and not isinstance(val, (Stored, Source)) and len(node.users) > 1:
                    val = _materialize(ctx, val, moments=False)  # read by several consumers: compute it once
                env[node] = val
            for a in [*node.all_input_nodes, *node.meta.get("stream_attrs", {}).values()]:
                if last_use.get(a) == i:  # a stored activation is freed when its last lazy reader goes
                    env.pop(a, None)
        raise Unsupported("graph without output")
    finally:
        env.clear()
        ctx.close()


def _emit(ctx: Context, out, sink) -> dict[str, torch.Tensor]:
    outs = out if isinstance(out, dict) else {"image": out}
    if not all(isinstance(v, Act) for v in outs.values()):
        raise Unsupported("an output that is not an image")
    res = {}
    for k, a in outs.items():
        buf = None
        for r0, r1 in ctx.strips(a.h, a.row_bytes() * 4):
            t = a.read(r0, r1).float()
            if sink is not None:
                sink(k, r0, t.cpu())
                continue
            if buf is None:
                buf = torch.empty(1, t.shape[1], a.h, t.shape[3])
            buf[:, :, r0:r1] = t.cpu()
        if buf is not None:
            res[k] = buf
    return res
