"""Convolutions with weights kept in oneDNN's own layout, for CPU inference.

Eager `F.conv2d` / `F.conv_transpose2d` on CPU reorder the weight into oneDNN's blocked layout on
every call. For layers with many channels and small maps (a U-Net's inner levels) that reorder is
most of the time: a 1024 -> 512 4x4 transposed convolution on a 1x1 map takes ~15 ms eagerly and
~0.5 ms with the weight reordered once. `pack(module)` turns every Conv2d / ConvTranspose2d into
its packed subclass in place; results are those of the eager call (same oneDNN kernels, up to
the accumulation order of bf16), state dicts are unchanged, and anything the packed path does
not cover (CUDA, string padding, autocast to another dtype, a missing oneDNN op) takes the eager
path. Packed weights are rebuilt when the parameter changes (its version counter moves).
"""
from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F
from torch import nn

_PACKS: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()  # outside the module: deepcopy-safe


def available() -> bool:
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._convolution_pointwise
                    and torch.ops.mkldnn._convolution_transpose_pointwise)
    except (AttributeError, RuntimeError):
        return False


class _Packed:
    """Shared by both layer kinds: one packed weight per dtype, rebuilt when stale."""

    def _run_dtype(self, x: torch.Tensor) -> torch.dtype | None:
        """The dtype the eager call would compute in, if the packed path can reproduce it."""
        if x.device.type != "cpu" or x.dim() != 4 or self.weight.device.type != "cpu":
            return None
        if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
            return None  # the oneDNN ops have no backward
        if torch.is_autocast_enabled("cpu"):
            dt = torch.get_autocast_dtype("cpu")
            return dt if dt in (torch.bfloat16, torch.float32) else None
        return x.dtype if x.dtype == self.weight.dtype and x.dtype in (torch.bfloat16, torch.float32) else None

    def _packed(self, dtype: torch.dtype, shape, reorder):
        packs = _PACKS.setdefault(self, {})
        try:
            version = self.weight._version
        except RuntimeError:  # an inference tensor (made under inference_mode) keeps no counter
            version = None
        key = (version, self.weight.data_ptr())
        hit = packs.get(dtype)
        if hit is not None and hit[0] == key:
            return hit[1], hit[2]
        w = self.weight.detach().to(dtype)
        b = None if self.bias is None else self.bias.detach().to(dtype)
        packed = reorder(w, list(shape))
        packs[dtype] = (key, packed, b)
        return packed, b


class PackedConv2d(_Packed, nn.Conv2d):
    def forward(self, x: torch.Tensor, padding=None) -> torch.Tensor:
        """`padding` overrides the layer's own (the streaming executor pads strips itself)."""
        dtype = self._run_dtype(x)
        if dtype is None or isinstance(self.padding, str):
            if padding is None:
                return super().forward(x)
            return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)
        if padding is None:
            if self.padding_mode != "zeros":
                x = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
                padding = (0, 0)
            else:
                padding = self.padding
        args = (list(self.stride), list(self.dilation), self.groups)
        w, b = self._packed(dtype, x.shape, lambda w, shape: torch._C._nn.mkldnn_reorder_conv2d_weight(
            w.to_mkldnn(), list(padding), *args, shape))
        return torch.ops.mkldnn._convolution_pointwise(x.to(dtype), w, b, list(padding), *args, "none", [], "")


class PackedConvTranspose2d(_Packed, nn.ConvTranspose2d):
    def forward(self, x: torch.Tensor, output_size=None, padding=None, output_padding=None,
                bias: bool = True) -> torch.Tensor:
        """`padding`, `output_padding` and `bias=False` serve the streaming executor's strips."""
        dtype = self._run_dtype(x)
        padding = self.padding if padding is None else padding
        output_padding = self.output_padding if output_padding is None else output_padding
        if dtype is None or output_size is not None or self.padding_mode != "zeros":
            if output_size is None and (padding, output_padding, bias) == (self.padding, self.output_padding, True):
                return super().forward(x, output_size)
            return F.conv_transpose2d(x, self.weight, self.bias if bias else None, self.stride, padding,
                                      output_padding, self.groups, self.dilation)
        args = (list(padding), list(output_padding), list(self.stride), list(self.dilation), self.groups)
        w, b = self._packed(dtype, x.shape, lambda w, shape: torch.ops.mkldnn._reorder_convolution_transpose_weight(
            w, *args, shape))
        return torch.ops.mkldnn._convolution_transpose_pointwise(x.to(dtype), w, b if bias else None, *args,
                                                                  "none", [], "")


def pack(module: nn.Module) -> nn.Module:
    """Switch the module's CPU convolutions to packed weights, in place; a no-op without oneDNN."""
    if not available():
        return module
    for m in module.modules():
        cls = {nn.Conv2d: PackedConv2d, nn.ConvTranspose2d: PackedConvTranspose2d}.get(type(m))
        if cls is not None:
            m.__class__ = cls
    return module
