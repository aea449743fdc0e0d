"""Real MRI slices of other subjects and scanners, shipped for testing (sources and licences:
data/real_mri/README.md).

Six subjects' skull-stripped axial T1 slices from ANTsPy (two "validation", four "test"), one
coronal T1 slice from DIPY and four 2 mm slices of a T1 head scan with skull from ITK. None is the
MNI152 template or Colin27, which is what the shipped reconstruction models train on. Other
contrasts of four more subjects (`contrast_slices`): T2*-weighted EPI (validation), b0 EPI,
proton density and FLAIR (test).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "real_mri"
VALIDATION = ("ants_r16slice", "ants_r27slice")


def _read(path: Path) -> np.ndarray:
    import imageio.v3 as iio

    img = np.asarray(iio.imread(path), np.float32)
    return img / max(float(img.max()), 1e-6)


def head_mask(img: np.ndarray) -> np.ndarray:
    """The head (the brain, for skull-stripped slices): above 5% of the maximum, closed, holes filled."""
    from scipy import ndimage

    fg = ndimage.binary_closing(img > 0.05 * img.max(), iterations=3)
    return ndimage.binary_fill_holes(fg)


def real_slices(split: str = "test") -> list[tuple[str, np.ndarray, np.ndarray]]:
    """[(name, image in [0, 1] scaled by its maximum, head mask)] of the "test" or "validation" split."""
    _check_split(split)
    files = sorted(p for p in DATA.iterdir() if p.suffix in (".jpg", ".png"))
    return _items([p for p in files if (p.stem in VALIDATION) == (split == "validation")])


def _check_split(split: str) -> None:
    if split not in ("test", "validation"):
        raise ValueError(f"split must be 'test' or 'validation', got {split!r}")


def _items(paths, prefix: str = "") -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name: the file's stem without `prefix`, image, head mask) of each image file."""
    return [(p.stem.removeprefix(prefix), img, head_mask(img)) for p in paths for img in [_read(p)]]


#: file prefix in real_mri/contrasts -> the contrast it shows
CONTRASTS = {"t2star_epi": "T2*w EPI", "b0_epi": "b0 EPI (T2w)", "pd_fse": "PD", "flair": "FLAIR"}


def contrast_slices(split: str = "test") -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Real non-T1 slices as `real_slices` gives them: [(name, image, head mask)] of the "test" or
    "validation" split; `contrast_of(name)` names each one's contrast."""
    _check_split(split)
    prefix = "val_" if split == "validation" else "test_"
    files = sorted(p for p in (DATA / "contrasts").iterdir() if p.suffix == ".png" and p.name.startswith(prefix))
    return _items(files, prefix)


def contrast_of(name: str) -> str:
    """The contrast of a `contrast_slices` item, from its name (e.g. "pd_fse_s07" -> "PD")."""
    return CONTRASTS[name.rsplit("_", 1)[0]]


def by_size(slices) -> dict[tuple[int, int], list]:
    """Group (name, image, mask) items by image shape, so each group runs as one batch."""
    groups: dict = {}
    for item in slices:
        groups.setdefault(item[1].shape, []).append(item)
    return groups
