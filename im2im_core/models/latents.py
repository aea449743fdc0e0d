"""Latent codes for the multimodal families (MUNIT, BicycleGAN, Augmented CycleGAN, DRIT):
seeded prior draws for `n_samples` / `seed`, and reference images for `style_from`."""
from __future__ import annotations

import torch

from ..errors import InputError
from .base import Im2ImModel


class MultimodalModel(Im2ImModel):
    """The families whose output also depends on a code (MUNIT, BicycleGAN, Augmented CycleGAN,
    DRIT): `n_samples` / `seed` draw codes from the prior, `style_from` encodes a reference image
    (raw; the Translator normalises it like the input)."""

    inference_options = frozenset({"n_samples", "seed", "style_from"})
    reference_options = ("style_from",)
    pure_bf16 = True
    unstreamable = "whole"  # a code enters every tile: per-tile statistics would not match the whole image


MAX_SAMPLES = 256  # samples per call: each is a whole output image
MAX_SEED = 2**63 - 1


def check_seed(seed) -> int:
    """A seed as torch.Generator takes it, or an InputError naming the range."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InputError(f"seed must be an integer in [0, 2**63 - 1], got {seed!r}")
    return seed


def draw_codes(opts: dict, dim: int, device) -> list[torch.Tensor] | None:
    """The K latent codes (1, dim) that `n_samples` / `seed` ask for, or None when neither is given.

    Drawn on CPU, so every device draws the same codes; one draw per sample, so sample k is the same
    whatever K (a batched draw of >= 16 normals takes a different code path in torch)."""
    n, seed = opts.get("n_samples"), opts.get("seed")
    if n is None and seed is None:
        return None
    if n is None:
        n = 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SAMPLES:
        raise InputError(f"n_samples must be an integer in [1, {MAX_SAMPLES}], got {n!r}")
    seed = check_seed(0 if seed is None else seed)
    g = torch.Generator().manual_seed(int(seed))
    return [torch.randn(1, dim, generator=g).to(device) for _ in range(n)]


def reference_tensor(opts: dict, key: str, channels: int) -> torch.Tensor | None:
    """The reference image option `key` as (1, C, H, W) (the Translator has normalised it to
    [-1, 1]); None when absent. Refuses it together with n_samples / seed."""
    ref = opts.get(key)
    if ref is None:
        return None
    if opts.get("n_samples") is not None or opts.get("seed") is not None:
        raise InputError(f"{key} takes the latent of the reference image; n_samples and seed draw random "
                         "codes: give one or the other")
    ref = torch.as_tensor(ref)
    if ref.ndim == 3:
        ref = ref[None]
    if ref.ndim != 4 or ref.shape[0] != 1 or ref.shape[1] != channels:
        raise InputError(f"{key} must be one reference image of the output domain with {channels} channel(s), "
                         f"got a tensor of shape {tuple(ref.shape)}")
    return ref.float()


__all__ = ["draw_codes", "reference_tensor"]
