"""A latent code or label vector repeated over an image's pixels and concatenated to it.

`with_code(x, code)` is pixel by pixel: it reads nothing but the pixel itself and the code, so the
streaming executor (im2im_core.stream) runs it as one pointwise step on bands of rows, and the
code never becomes a map of the whole image's size. Modules that call it must `torch.fx.wrap` the
name at their top level (as below), so that tracing records one call instead of its inside.
"""
from __future__ import annotations

import torch


def code_map(code: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(N, D) code as a spatially constant (N, D, H, W) map on `like`'s dtype and device."""
    return code.to(device=like.device, dtype=like.dtype)[:, :, None, None].expand(-1, -1, *like.shape[-2:])


def with_code(x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """[x, code repeated over x's pixels] along channels."""
    return torch.cat([x, code_map(code, x)], 1)


with_code.stream_pointwise = True
torch.fx.wrap("with_code")

__all__ = ["code_map", "with_code"]
