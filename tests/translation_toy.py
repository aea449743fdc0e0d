"""A toy translation with a known answer that only an adversarial term can find.

Each image is a grey background with one disc and one square. In domain A the disc is white and
the square black; in domain B the colours are swapped. The right translation A -> B is -x.
Both domains have the same intensity histogram, so histogram matching is the identity, and the
identity satisfies every cycle and reconstruction loss. Only a discriminator, which sees that a
white disc never occurs in B, tells the generator to swap them.
"""
from __future__ import annotations

import torch
from skimage.exposure import match_histograms


def scenes(n: int, swapped: bool, g: torch.Generator, size: int = 32) -> torch.Tensor:
    """(n, 1, size, size) in [-1, 1]: background 0, a disc (+1 in A, -1 in B) and a square (the opposite)."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    out = torch.zeros(n, 1, size, size)
    for i in range(n):
        r = int(torch.randint(3, 6, (1,), generator=g))
        cy, cy2 = (int(torch.randint(r + 1, size - r - 1, (1,), generator=g)) for _ in range(2))
        cx, cx2 = (size // 4, 3 * size // 4) if torch.rand(1, generator=g) < 0.5 else (3 * size // 4, size // 4)
        out[i, 0][(yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2] = -1.0 if swapped else 1.0
        out[i, 0][((yy - cy2).abs() <= r) & ((xx - cx2).abs() <= r)] = 1.0 if swapped else -1.0
    return out


def batch(n: int, g: torch.Generator) -> dict:
    """Unpaired: independent scenes for A and B."""
    return {"A": scenes(n, False, g), "B": scenes(n, True, g)}


def heldout(n: int = 32) -> torch.Tensor:
    """Domain-A scenes drawn from a seed no training batch uses."""
    return scenes(n, False, torch.Generator().manual_seed(10_000))


def error(y: torch.Tensor, x: torch.Tensor) -> float:
    """Mean |y - truth| over the shapes and over the background, averaged (the shapes are ~10%)."""
    e = (y.float() - (-x)).abs()
    fg = x != 0
    return 0.5 * (e[fg].mean() + e[~fg].mean()).item()


def baselines(x: torch.Tensor) -> dict[str, float]:
    """The training-free answers: identity and histogram matching to domain B's pixels."""
    ref = scenes(64, True, torch.Generator().manual_seed(20_000)).numpy()
    hist = torch.from_numpy(match_histograms(x.numpy(), ref)).float()
    return {"identity": error(x, x), "histogram matching": error(hist, x)}


# ---- a second, easier toy: the shapes' brightness ------------------------------------------------
# In A the shapes are mid-grey (0) on black (-1), in B white (+1) on black. Histogram matching solves
# this one, so it is a weaker test than the swap: it shows that G(x) moves from A's levels to B's,
# which no cycle or reconstruction loss asks for (the identity satisfies them all). It is used for
# the families that do not learn the swap within a test's budget (see docs/testing.md).
def bright_scenes(n: int, bright: bool, g: torch.Generator, size: int = 32) -> torch.Tensor:
    """(n, 1, size, size): the disc and square of `scenes`, at +1 (`bright`) or 0, on -1."""
    shape = scenes(n, False, g, size) != 0
    out = torch.full(shape.shape, -1.0)
    out[shape] = 1.0 if bright else 0.0
    return out


def bright_batch(n: int, g: torch.Generator) -> dict:
    return {"A": bright_scenes(n, False, g), "B": bright_scenes(n, True, g)}


def bright_heldout(n: int = 32) -> torch.Tensor:
    return bright_scenes(n, False, torch.Generator().manual_seed(10_000))


def bright_error(y: torch.Tensor, x: torch.Tensor) -> float:
    """Distance of G(x)'s mean levels from B's: half |shape mean - 1| plus half |background mean + 1|.
    The identity scores 0.5, B's own images 0."""
    shape, y = x > -1, y.float()
    return 0.5 * (abs(y[shape].mean().item() - 1.0) + abs(y[~shape].mean().item() + 1.0))
