"""`build_dataset`: the dataset a config's `data:` section describes.

Apart from the dataset classes (`datasets.py`, `volume_crops.py`) so that those import nothing
back from here."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..intensity import Intensity
from ..io import NIFTI_SUFFIXES, list_files
from .datasets import (KINDS, AlignedCombined, AlignedFolders, ArrayPairs, DataConfig, MultiDomainArrays,
                       MultiDomainDataset, MultiDomainFolders, NiftiSlices, TranslationDataset, UnalignedFolders)
from .transforms import Augment
from .volume_crops import MultiDomainVolumeCrops, VolumeCrops


def _need(value: str, key: str, kind: str) -> str:
    """A required data path, or a ConfigError naming the key."""
    if not value:
        raise ConfigError(f"config[data]: data.{key} is required for kind {kind!r} (or give data.root)")
    return value


def build_dataset(cfg: DataConfig, channels=(1, 1), domains=None) -> TranslationDataset:
    """The dataset a `data:` config describes, with its `intensity` and `description`.

    `domains` (the model's domain names) asks for a multi-domain dataset (StarGAN): kind
    unaligned with one folder per domain in `data.dirs`, or kind mni with those contrasts."""
    if cfg.kind not in KINDS:
        raise ConfigError(f"config[data]: kind {cfg.kind!r} unknown; use one of {KINDS}")
    for key in ("load_size", "crop_size"):
        if getattr(cfg, key) < 0:
            raise ConfigError(f"config[data]: {key} must be >= 0, got {getattr(cfg, key)}")
    if cfg.load_size and cfg.crop_size > cfg.load_size:
        raise ConfigError(f"config[data]: crop_size {cfg.crop_size} is larger than load_size {cfg.load_size}")
    aug = Augment(cfg.load_size, cfg.crop_size, cfg.flip)
    kw = dict(channels=channels, intensity=cfg.intensity, augment=aug)
    root = Path(cfg.root).expanduser() if cfg.root else None
    if domains is not None:
        return _multi_domain_dataset(cfg, tuple(domains), kw)
    if cfg.dirs:
        raise ConfigError("config[data]: data.dirs (one folder per domain) is for multi-domain families such as "
                          "stargan; two-domain families take dir_A and dir_B")
    if cfg.kind == "unaligned":
        dir_A = cfg.dir_A or (str(root / f"{cfg.phase}A") if root else "")
        dir_B = cfg.dir_B or (str(root / f"{cfg.phase}B") if root else "")
        return UnalignedFolders(_need(dir_A, "dir_A", cfg.kind), _need(dir_B, "dir_B", cfg.kind), verify=cfg.verify, **kw)
    if cfg.kind == "aligned":
        if cfg.dir_A or cfg.dir_B:
            return AlignedFolders(_need(cfg.dir_A, "dir_A", cfg.kind), _need(cfg.dir_B, "dir_B", cfg.kind),
                                  verify=cfg.verify, **kw)
        dir_AB = cfg.dir_AB or (str(root / cfg.phase) if root else "")
        return AlignedCombined(_need(dir_AB, "dir_AB", cfg.kind), verify=cfg.verify, **kw)
    if cfg.kind == "nifti":
        dir_A = cfg.dir_A or (str(root / f"{cfg.phase}A") if root else "")
        dir_B = cfg.dir_B or (str(root / f"{cfg.phase}B") if root else "")
        files_A = list_files(_need(dir_A, "dir_A", cfg.kind), "domain A", NIFTI_SUFFIXES)
        files_B = list_files(_need(dir_B, "dir_B", cfg.kind), "domain B", NIFTI_SUFFIXES)
        return NiftiSlices(files_A, files_B, cfg.axis, cfg.paired, cfg.min_foreground, **kw)
    if cfg.kind == "lesions":
        return lesion_dataset(kw)
    if cfg.kind == "skull":
        return skull_dataset(cfg.paired, kw)
    return mni_dataset(cfg, **kw)


def lesion_dataset(kw: dict) -> ArrayPairs:
    """2 mm MNI152 T1 slices with synthetic lesions (A) and disjoint lesion-free slices (B)."""
    from .lesions import lesion_data

    d = lesion_data()
    ds = ArrayPairs(d["A"], d["B"], description=f"MNI152 T1 2 mm axial: {len(d['A'])} slices with synthetic lesions "
                    f"(A), {len(d['B'])} lesion-free (B)", **kw)
    ds.spacing = d["spacing"]
    return ds


def skull_dataset(paired: bool, kw: dict) -> ArrayPairs:
    """Colin27 with skull (A) and brain-only slices (B); `paired` pairs each A slice with its ch2bet."""
    from .skull import augmented, skull_data

    d = skull_data()
    A, B = d["pairs"] if paired else (d["A"], d["B"])
    A, B = augmented(A, B, paired)
    ds = ArrayPairs(A, B, paired=paired, description=f"Colin27 axial 1 mm: {len(A)} slices with skull (A), "
                    f"{sum(len(b) for b in B)} brain-only{' (paired)' if paired else ''} (B)", **kw)
    ds.spacing = (1.0, 1.0)
    return ds


def _multi_domain_dataset(cfg: DataConfig, domains: tuple, kw: dict) -> MultiDomainDataset:
    """Multi-domain data from folders (kind unaligned, data.dirs) or MNI152 contrasts (kind mni)."""
    if cfg.kind == "unaligned":
        if not cfg.dirs:
            raise ConfigError(f"config[data]: a multi-domain model needs data.dirs, one folder per domain {list(domains)}")
        return MultiDomainFolders(cfg.dirs, domains, verify=cfg.verify, **kw)
    if cfg.kind == "mni":
        from . import mni

        bad = [d for d in domains if d not in mni.SEQUENCE_DEFAULTS]
        if bad:
            raise ConfigError(f"config[data]: kind mni makes contrasts {sorted(mni.SEQUENCE_DEFAULTS)}; the model's "
                              f"domains {bad} are not among them (set model.domains to contrasts)")
        if not cfg.size:
            return mni_native_multi(cfg, domains, kw)
        data = mni.multi_contrast_slices(domains, axis=cfg.axis, size=cfg.size)
        desc = (f"MNI152 synthetic {', '.join(domains)}, axis {cfg.axis}, {cfg.size}px, disjoint unpaired slices "
                f"({', '.join(str(len(v)) for v in data.values())})")
        return MultiDomainArrays(data, description=desc, **kw)
    raise ConfigError(f"config[data]: kind {cfg.kind!r} does not provide multi-domain data; use 'unaligned' "
                      "with data.dirs or 'mni'")


def mni_dataset(cfg: DataConfig, channels=(1, 1), intensity=None, augment=None) -> TranslationDataset:
    """MNI152 contrasts. Native (size 0): random 1 mm crops, in every orientation, of the volume with
    the held-out validation and test slabs (and their guards) cut out, A and B drawn independently
    (or at one place when paired). size > 0: brain-box slices resized to size x size (the older
    thumbnail data), unpaired disjoint A/B slices or both contrasts of every training slice."""
    from . import mni

    contrasts = tuple(cfg.contrasts)
    if len(contrasts) != 2 or any(c not in mni.SEQUENCE_DEFAULTS for c in contrasts):
        raise ConfigError(f"config[data]: contrasts must be two of {sorted(mni.SEQUENCE_DEFAULTS)}, got {list(contrasts)}")
    if cfg.axis not in (0, 1, 2) or (cfg.size and not 8 <= cfg.size <= 1024):
        raise ConfigError(f"config[data]: mni needs axis in 0..2 and size 0 (native) or 8..1024, got axis={cfg.axis}, "
                          f"size={cfg.size}")
    if cfg.t1_source not in ("template", "synthetic"):
        raise ConfigError(f"config[data]: t1_source must be 'template' or 'synthetic', got {cfg.t1_source!r}")
    tis = mni.load_mni_tissues()
    if not cfg.size:
        return mni_native_crops(cfg, tis, channels, intensity)
    vols = [mni.contrast_volume(tis, c, cfg.t1_source) for c in contrasts]
    idx = mni.split_slices(tis["brain"], axis=cfg.axis)
    if cfg.paired:
        train = np.sort(np.concatenate([idx["A"], idx["B"]]))
        a, b = (mni._slices(v, tis["brain"], cfg.axis, train, cfg.size) for v in vols)
    else:
        a, b = (mni._slices(v, tis["brain"], cfg.axis, idx[k], cfg.size) for v, k in zip(vols, "AB"))
    desc = (f"MNI152 {contrasts[0]}->{contrasts[1]} (T1w {cfg.t1_source}), axis {cfg.axis}, {cfg.size}px, "
            f"{len(a)}/{len(b)} train slices{' (paired)' if cfg.paired else ' (unpaired)'}")
    return ArrayPairs(a, b, paired=cfg.paired, channels=channels, intensity=intensity, augment=augment, description=desc)


def _native_parts(cfg: DataConfig, tis: dict, contrasts, intensity: Intensity) -> list[list[np.ndarray]]:
    """Per contrast: the training sub-volumes at 1 mm, normalised with one window per whole volume
    (as the Translator windows a whole stack)."""
    from . import mni

    split = mni.native_split(tis["brain"], axis=cfg.axis)
    parts = []
    for c in contrasts:
        vol = mni.contrast_volume(tis, c, cfg.t1_source)
        lo, hi = intensity.window(vol)
        parts.append(mni.training_subvolumes(Intensity.normalise(vol, lo, hi), split, cfg.axis))
    return parts


def mni_native_multi(cfg: DataConfig, domains: tuple, kw: dict):
    """Multi-domain native 1 mm crops (StarGAN): one volume per contrast, held-out slabs cut out."""
    from . import mni

    tis = mni.load_mni_tissues()
    intensity = kw.get("intensity") or Intensity()
    vols = dict(zip(domains, _native_parts(cfg, tis, domains, intensity)))
    crop = cfg.crop_size or 128
    desc = (f"MNI152 1 mm {', '.join(domains)} (T1w {cfg.t1_source}): {crop}px crops along axes "
            f"{tuple(cfg.orientations)}, held-out val/test slabs cut out, domains drawn independently")
    return MultiDomainVolumeCrops(vols, crop=crop, channels=kw.get("channels", (1, 1)), intensity=intensity,
                                  description=desc, spacing=tis["voxel_size"][:2], axes=tuple(cfg.orientations),
                                  rotate=cfg.rotate, zoom=cfg.zoom, gamma=cfg.gamma, flip=cfg.flip,
                                  balance=cfg.balance)


def mni_native_crops(cfg: DataConfig, tis: dict, channels=(1, 1), intensity=None):
    """`VolumeCrops` of the MNI152 contrasts at 1 mm (see `mni_dataset`); records the 1 mm spacing."""
    from . import mni

    intensity = intensity or Intensity()
    split = mni.native_split(tis["brain"], axis=cfg.axis)
    parts = _native_parts(cfg, tis, cfg.contrasts, intensity)
    crop = cfg.crop_size or 128
    spacing = tis["voxel_size"][:2]
    desc = (f"MNI152 1 mm {cfg.contrasts[0]} (T1w {cfg.t1_source}) / {cfg.contrasts[1]}: {crop}px crops along axes "
            f"{tuple(cfg.orientations)} of {len(split['train'])} sub-volumes (held-out val/test slabs along axis "
            f"{cfg.axis} cut out){', paired' if cfg.paired else ', A and B drawn independently'}"
            f"{', intensity-balanced centres' if cfg.balance else ''}")
    return VolumeCrops(parts[0], parts[1], crop=crop, paired=cfg.paired, axes=tuple(cfg.orientations),
                       rotate=cfg.rotate, zoom=cfg.zoom, gamma=cfg.gamma, flip=cfg.flip, channels=channels,
                       intensity=intensity, description=desc, spacing=spacing, balance=cfg.balance)
