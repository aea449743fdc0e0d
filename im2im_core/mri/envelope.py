"""What an mri_recon model was trained on (contrasts, mask geometry, sampled fraction, phase), read
from its config and provenance, and how a given sampling mask departs from it. A reconstruction
far outside its training runs, with a warning that names the difference."""
from __future__ import annotations

import warnings

import numpy as np

from ..errors import OutsideTraining

ONE_D = ("gaussian1d", "random_lines", "equispaced_lines")
#: a sampled fraction within this factor of the trained range's ends counts as seen (an acceleration
#: of 4 for a model trained at 3.3-5x, not 8x)
SLACK = 1.25


def _get(config, key, default=None):
    return config.get(key, default) if isinstance(config, dict) else getattr(config, key, default)


def trained_range(config) -> tuple[float, float]:
    lo = float(_get(config, "ratio", 0.0))
    return lo, max(lo, float(_get(config, "ratio_max", 0.0) or 0.0))


def mask_geometry(mask) -> tuple[str, float]:
    """("1D" for lines, constant along one axis, else "2D"; the sampled fraction) of an (H, W) mask."""
    m = np.asarray(mask).astype(bool).reshape(-1, *np.shape(mask)[-2:])[0]
    one_d = bool((m == m[:1]).all() or (m == m[:, :1]).all())
    return ("1D" if one_d else "2D"), float(m.mean())


def departures(config, mask) -> list[str]:
    """How a sampling mask differs from the model's training masks (empty: within them)."""
    kind = _get(config, "mask_kind", "")
    geo, frac = mask_geometry(mask)
    want = "1D" if kind in ONE_D else "2D"
    out = []
    if geo != want:
        out.append(f"a {geo} mask, but the model was trained on {want} masks ({kind})")
    lo, hi = trained_range(config)
    if not lo / SLACK <= frac <= hi * SLACK:
        out.append(f"{100 * frac:.0f}% of k-space sampled, but the model was trained on {100 * lo:.0f}"
                   + (f"-{100 * hi:.0f}%" if hi > lo else "%"))
    return out


def warn_outside(config, mask) -> None:
    diff = departures(config, mask)
    if diff:
        warnings.warn("outside this model's training: " + "; ".join(diff), OutsideTraining, stacklevel=3)


def describe(config, provenance: dict | None = None) -> str:
    """One line for `im2im info` and the Reconstruct widget."""
    prov = provenance or {}
    kind = _get(config, "mask_kind", "?")
    lo, hi = trained_range(config)
    sampled = f"{100 * lo:.0f}-{100 * hi:.0f}%" if hi > lo else f"{100 * lo:.0f}%"
    phase = _get(config, "phase", 0.0)
    contrasts = ", ".join(prov.get("contrasts", [])) or "not recorded"
    tested = "; ".join(k for k in prov.get("metrics", {})) or "not recorded"
    return (f"trained on {contrasts}; {'1D' if kind in ONE_D else '2D'} {kind} masks sampling {sampled}; "
            + (f"random smooth phase up to {phase:g} rad" if phase else "magnitude images (no phase)")
            + (", and real images as such" if phase and _get(config, "real_fraction", 0) else "")
            + f". Tested on: {tested}")
