"""Training datasets: every item is {"A": (C, H, W), "B": (C, H, W)} float32 in [-1, 1]; the
multi-domain datasets (StarGAN: N domains in one model) give {"image": (C, H, W), "label": int64}
instead, with `domains` naming the labels.

Kinds: unpaired folders, aligned pairs (matching names in two folders, or A|B side by side in one
image), NIfTI volumes sampled as 2D slices, in-memory numpy stacks (napari, benchmarks) and the
MNI152 synthetic-contrast data. Raw values are mapped to [-1, 1] with an `Intensity` window (per
image for files, per volume/stack for NIfTI and arrays, as the Translator does at inference);
the dataset keeps that `Intensity` so the trainer records it in the checkpoint.

Every problem a user can fix (missing or empty folder, mismatched pair names, unreadable file)
is raised as an `InputError`/`ConfigError` naming the path when the dataset is built, before
any training starts. Random choices use torch's global generator (reseeded per step by the
trainer), so a resumed run draws the same samples.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError, InputError
from ..intensity import Intensity
from ..io import NIFTI_SUFFIXES, list_files, probe_image, read_image
from .transforms import Augment

KINDS = ("unaligned", "aligned", "nifti", "mni", "lesions", "skull")


@dataclass
class DataConfig:
    """The `data:` section of a training config (see `build.build_dataset`)."""

    kind: str = "unaligned"  # unaligned | aligned | nifti | mni | lesions (data/lesions.py) | skull (data/skull.py)
    #: multi-domain families (StarGAN), kind unaligned: one image folder per domain, in label order
    dirs: tuple = ()
    #: junyanz layout: root/<phase>A + root/<phase>B (unaligned), root/<phase> with A|B images (aligned)
    root: str = ""
    phase: str = "train"
    dir_A: str = ""
    dir_B: str = ""
    dir_AB: str = ""  # aligned: one folder of side-by-side A|B images
    paired: bool = False  # nifti / mni: A and B slices correspond voxel for voxel
    axis: int = 2  # nifti / mni: slicing axis
    min_foreground: float = 0.01  # nifti: skip slices with less than this fraction above the window floor
    size: int = 0  # mni: 0 trains on native 1 mm crops (crop_size, default 128); > 0 on brain-box slices resized to this
    contrasts: tuple = ("T1w", "T2w")  # mni: contrasts of domains A and B (multi-domain families: any number)
    t1_source: str = "template"  # mni: T1w is the real MNI152 template ("template") or computed ("synthetic")
    orientations: tuple = (0, 1, 2)  # mni native: slicing axes the crops come from
    rotate: float = 10.0  # mni native: random rotation bound, degrees
    zoom: float = 0.1  # mni native: random zoom bound, fraction
    gamma: float = 0.1  # mni native: random intensity curve x**exp(u), u in [-gamma, gamma] (inputs only when paired)
    balance: bool = True  # mni native: crop centres drawn evenly over intensity (rare CSF as often as WM)
    load_size: int = 0  # resize to this square first (0 keeps the size)
    crop_size: int = 0  # random square crop (0 keeps the whole image)
    flip: bool = True
    intensity: Intensity = field(default_factory=Intensity)
    verify: bool = True  # open every file once up front so a broken one is named before training


# ---- reading and normalising -------------------------------------------------------------
def _is_nifti(p: Path) -> bool:
    """NIfTI files end in .nii or .nii.gz."""
    return p.name.lower().endswith(NIFTI_SUFFIXES)


def to_hwc(arr: np.ndarray, where: str) -> np.ndarray:
    """(H, W) or (H, W, C) view of a 2D image, accepting (C, H, W) TIFFs with C <= 4."""
    if arr.ndim == 2:
        return arr[..., None]
    if arr.ndim == 3 and arr.shape[-1] in (1, 2, 3, 4):
        return arr
    if arr.ndim == 3 and arr.shape[0] in (1, 2, 3, 4):
        return np.moveaxis(arr, 0, -1)
    raise InputError(f"{where}: expected a 2D grayscale or RGB(A) image, got shape {arr.shape}")


def match_channels(hwc: np.ndarray, channels: int, where: str) -> np.ndarray:
    """Float32 (H, W, channels): luminance for RGB->gray, repeat for gray->RGB, alpha dropped."""
    x = hwc.astype(np.float32, copy=False)
    c = x.shape[-1]
    if c in (2, 4):  # gray+alpha / RGBA: drop alpha
        x, c = x[..., : c - 1], c - 1
    if c == channels:
        return x
    if c == 3 and channels == 1:
        return (x @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    if c == 1:
        return np.repeat(x, channels, axis=-1)
    raise InputError(f"{where}: has {c} channels but the model expects {channels}")


def normalise_image(arr: np.ndarray, channels: int, intensity: Intensity, where: str) -> torch.Tensor:
    """Raw 2D image -> (C, H, W) float32 tensor in [-1, 1] with its own intensity window."""
    hwc = to_hwc(arr, where)
    lo, hi = intensity.window(hwc)
    x = Intensity.normalise(match_channels(hwc, channels, where), lo, hi)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def collate(items: list[dict]) -> dict:
    """Stack samples into a batch; differently sized images get a hint to set crop_size."""
    out = {}
    for key in items[0]:
        if isinstance(items[0][key], str):  # captions stay a list of strings
            out[key] = [it[key] for it in items]
            continue
        shapes = {tuple(it[key].shape) for it in items}
        if len(shapes) > 1:
            raise InputError(f"images of domain {key} differ in size {sorted(shapes)}; set data.crop_size "
                             "(and data.load_size) so every sample has one size, or use batch_size=1")
        out[key] = torch.stack([it[key] for it in items])
    return out


# ---- datasets ----------------------------------------------------------------------------------
class TranslationDataset(Dataset):
    """Common attributes: `paired`, `channels` (A, B), `intensity`, `description`, `augment`."""

    paired: bool = False

    def __init__(self, channels=(1, 1), intensity: Intensity | None = None, augment: Augment | None = None):
        self.channels = tuple(channels)
        self.intensity = intensity or Intensity()
        self.augment = augment or Augment()
        self.description = ""

    def _augment_each(self, a: torch.Tensor, b: torch.Tensor, names=()) -> dict:
        """Paired samples share one crop/flip; unpaired ones draw independently."""
        if self.paired:
            a, b = self.augment([a, b], names)
        else:
            (a,), (b,) = self.augment([a], names[:1]), self.augment([b], names[1:])
        return {"A": a, "B": b}


class _FileDataset(TranslationDataset):
    """Shared file loading for the folder datasets."""

    def _load(self, path: Path, channels: int) -> torch.Tensor:
        """Read and normalise one file (per-image window)."""
        return normalise_image(read_image(path).data, channels, self.intensity, str(path))

    @staticmethod
    def _verify(files) -> None:
        """Probe every file up front so a broken one is named before training."""
        for f in files:
            probe_image(f)


class UnalignedFolders(_FileDataset):
    """Unpaired domains: A in order, B drawn at random each time (as in CycleGAN)."""

    def __init__(self, dir_A, dir_B, channels=(1, 1), intensity=None, augment=None, verify=True):
        super().__init__(channels, intensity, augment)
        self.files_A = list_files(dir_A, "domain A")
        self.files_B = list_files(dir_B, "domain B")
        if verify:
            self._verify(self.files_A + self.files_B)
        self.description = (f"unaligned folders A={Path(dir_A)} ({len(self.files_A)} images), "
                            f"B={Path(dir_B)} ({len(self.files_B)} images)")

    def __len__(self):
        return max(len(self.files_A), len(self.files_B))

    def __getitem__(self, index):
        fa = self.files_A[index % len(self.files_A)]
        fb = self.files_B[int(torch.randint(len(self.files_B), ()).item())]
        return self._augment_each(self._load(fa, self.channels[0]), self._load(fb, self.channels[1]), (fa.name, fb.name))


class AlignedFolders(_FileDataset):
    """Pairs from two folders whose files share names (the extension may differ)."""

    paired = True

    def __init__(self, dir_A, dir_B, channels=(1, 1), intensity=None, augment=None, verify=True):
        super().__init__(channels, intensity, augment)
        fa, fb = list_files(dir_A, "domain A"), list_files(dir_B, "domain B")
        stems_a, stems_b = {_stem(f): f for f in fa}, {_stem(f): f for f in fb}
        if set(stems_a) != set(stems_b):
            only_a, only_b = sorted(set(stems_a) - set(stems_b)), sorted(set(stems_b) - set(stems_a))
            raise InputError(f"paired folders do not match: {len(only_a)} name(s) only in {dir_A} {only_a[:5]}, "
                             f"{len(only_b)} only in {dir_B} {only_b[:5]}")
        self.pairs = [(stems_a[s], stems_b[s]) for s in sorted(stems_a)]
        if verify:
            self._verify(fa + fb)
        self.description = f"aligned folders A={Path(dir_A)}, B={Path(dir_B)} ({len(self.pairs)} pairs)"

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, index):
        fa, fb = self.pairs[index]
        return self._augment_each(self._load(fa, self.channels[0]), self._load(fb, self.channels[1]), (fa.name, fb.name))


class AlignedCombined(_FileDataset):
    """Pairs stored side by side in one image, A on the left and B on the right (pix2pix layout)."""

    paired = True

    def __init__(self, dir_AB, channels=(1, 1), intensity=None, augment=None, verify=True):
        super().__init__(channels, intensity, augment)
        self.files = list_files(dir_AB, "A|B pairs")
        if verify:
            self._verify(self.files)
        self.description = f"aligned A|B images in {Path(dir_AB)} ({len(self.files)} pairs)"

    def __len__(self):
        return len(self.files)

    def __getitem__(self, index):
        f = self.files[index]
        hwc = to_hwc(read_image(f).data, str(f))
        w = hwc.shape[1]
        if w % 2:
            raise InputError(f"{f}: width {w} is odd; an A|B pair image needs two halves of equal width")
        lo, hi = self.intensity.window(hwc)  # one window for both halves: they share a dynamic range
        a, b = (torch.from_numpy(np.ascontiguousarray(
            Intensity.normalise(match_channels(half, c, str(f)), lo, hi).transpose(2, 0, 1)))
            for half, c in ((hwc[:, : w // 2], self.channels[0]), (hwc[:, w // 2:], self.channels[1])))
        return self._augment_each(a, b, (f.name, f.name))


def _stem(p: Path) -> str:
    """File name without its (possibly double, .nii.gz) extension."""
    name = p.name
    return name[:-7] if name.lower().endswith(".nii.gz") else p.stem


class _SliceDataset(TranslationDataset):
    """Items are 2D slices of normalised stacks; unpaired B slices are drawn at random."""

    def _setup(self, stacks_A: list[torch.Tensor], stacks_B: list[torch.Tensor], slices_A, slices_B):
        """Store the stacks and slice indices; empty or unequal (paired) sets are errors."""
        self.stacks_A, self.stacks_B = stacks_A, stacks_B
        self.slices_A, self.slices_B = slices_A, slices_B
        if not slices_A or not slices_B:
            empty = "A" if not slices_A else "B"
            raise InputError(f"domain {empty} has no usable 2D slices (all empty or below min_foreground)")
        if self.paired and len(slices_A) != len(slices_B):
            raise InputError(f"paired data needs as many A as B slices, got {len(slices_A)} and {len(slices_B)}")

    def __len__(self):
        return len(self.slices_A) if self.paired else max(len(self.slices_A), len(self.slices_B))

    def __getitem__(self, index):
        ka, sa = self.slices_A[index % len(self.slices_A)]
        kb, sb = self.slices_B[index] if self.paired else self.slices_B[int(torch.randint(len(self.slices_B), ()).item())]
        return self._augment_each(self.stacks_A[ka][sa], self.stacks_B[kb][sb])


class ArrayPairs(_SliceDataset):
    """In-memory numpy data for the napari Train widget and benchmarks.

    A and B are each an array or a list of arrays: (H, W), (H, W, C) with C == channels,
    (N, H, W) or (N, H, W, C). Each array is windowed as a whole (like a stack at inference).
    `paired=True` pairs the i-th A slice with the i-th B slice.
    """

    def __init__(self, A, B, paired: bool = False, channels=(1, 1), intensity=None, augment=None,
                 description: str = ""):
        super().__init__(channels, intensity, augment)
        self.paired = bool(paired)
        stacks_A = [self._stack(a, channels[0], f"A[{i}]") for i, a in enumerate(_as_list(A, "A"))]
        stacks_B = [self._stack(b, channels[1], f"B[{i}]") for i, b in enumerate(_as_list(B, "B"))]
        self._setup(stacks_A, stacks_B, _index(stacks_A), _index(stacks_B))
        self.description = description or (f"arrays: {len(self.slices_A)} A slices, {len(self.slices_B)} B slices"
                                            f"{' (paired)' if self.paired else ''}")

    def _stack(self, arr, channels: int, where: str) -> torch.Tensor:
        """(N, C, H, W) normalised tensor of one array, with one window for the whole array."""
        a = np.asarray(arr)
        if a.size == 0 or a.dtype.kind not in "uif":
            raise InputError(f"array {where} is empty or not numeric (shape {a.shape}, dtype {a.dtype})")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise InputError(f"array {where} contains NaN/Inf values")
        if a.ndim == 2 or (a.ndim == 3 and channels > 1 and a.shape[-1] in (channels, channels + 1)):
            a = a[None]
        if a.ndim == 3:
            a = a[..., None]
        if a.ndim != 4:
            raise InputError(f"array {where}: expected (H, W), (N, H, W) or (N, H, W, C), got shape {a.shape}")
        lo, hi = self.intensity.window(a)
        x = np.stack([Intensity.normalise(match_channels(s, channels, where), lo, hi) for s in a])
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _as_list(x, name: str) -> list:
    """An array, or a list/tuple of arrays, as a non-empty list."""
    items = list(x) if isinstance(x, (list, tuple)) else [x]
    if not items:
        raise InputError(f"no {name} data given")
    return items


def _index(stacks: list[torch.Tensor]) -> list[tuple[int, int]]:
    """(stack, slice) pairs covering every slice."""
    return [(k, s) for k, st in enumerate(stacks) for s in range(st.shape[0])]


class NiftiSlices(_SliceDataset):
    """2D slices along `axis` of NIfTI volumes; `paired` matches volumes by file name.

    Each volume is windowed as a whole; slices with less than `min_foreground` of their pixels
    above the window floor (empty background) are skipped (for pairs, judged on A).
    """

    def __init__(self, files_A, files_B, axis: int = 2, paired: bool = False, min_foreground: float = 0.01,
                 channels=(1, 1), intensity=None, augment=None):
        super().__init__(channels, intensity, augment)
        if axis not in (0, 1, 2):
            raise ConfigError(f"data.axis must be 0, 1 or 2, got {axis}")
        self.paired = bool(paired)
        files_A, files_B = list(files_A), list(files_B)
        if self.paired:
            names_A, names_B = [_stem(f) for f in files_A], [_stem(f) for f in files_B]
            if sorted(names_A) != sorted(names_B):
                raise InputError(f"paired NIfTI volumes do not match by name: A {sorted(names_A)[:5]}, B {sorted(names_B)[:5]}")
            files_B = [files_B[names_B.index(n)] for n in names_A]
        vols_A = [self._volume(f, axis, channels[0]) for f in files_A]
        vols_B = [self._volume(f, axis, channels[1]) for f in files_B]
        keep_A = [self._foreground(v, min_foreground) for v in vols_A]
        if self.paired:
            for fa, fb, va, vb in zip(files_A, files_B, vols_A, vols_B):
                if va.shape[0] != vb.shape[0] or va.shape[-2:] != vb.shape[-2:]:
                    raise InputError(f"paired volumes {fa.name} and {fb.name} differ in shape {tuple(va.shape)} vs {tuple(vb.shape)}")
            keep_B = keep_A
        else:
            keep_B = [self._foreground(v, min_foreground) for v in vols_B]
        self._setup(vols_A, vols_B, _kept(keep_A), _kept(keep_B))
        self.description = (f"NIfTI slices along axis {axis}: {len(files_A)} A volume(s), {len(files_B)} B volume(s), "
                            f"{len(self.slices_A)}/{len(self.slices_B)} slices{' (paired)' if self.paired else ''}")

    def _volume(self, path: Path, axis: int, channels: int) -> torch.Tensor:
        """(S, C, H, W) normalised slices of one volume."""
        import nibabel as nib

        try:
            vol = np.asarray(nib.load(str(path)).get_fdata(dtype=np.float32))
        except Exception as exc:
            raise InputError(f"cannot read NIfTI volume {path}: {exc}") from None
        if vol.ndim == 4 and vol.shape[-1] == 1:
            vol = vol[..., 0]
        if vol.ndim != 3:
            raise InputError(f"{path}: expected a 3D volume, got shape {vol.shape}")
        if not np.isfinite(vol).all():
            raise InputError(f"{path}: volume contains NaN/Inf values")
        lo, hi = self.intensity.window(vol)
        x = torch.from_numpy(Intensity.normalise(np.moveaxis(vol, axis, 0), lo, hi))[:, None]
        return x.expand(-1, channels, -1, -1).contiguous() if channels > 1 else x.contiguous()

    @staticmethod
    def _foreground(vol: torch.Tensor, min_fraction: float) -> torch.Tensor:
        """Boolean per slice: enough pixels above the window floor."""
        return (vol > -1.0 + 1e-3).flatten(1).float().mean(1) > min_fraction


def _kept(keeps: list[torch.Tensor]) -> list[tuple[int, int]]:
    """(volume, slice) pairs of the slices a mask keeps."""
    return [(k, int(s)) for k, keep in enumerate(keeps) for s in torch.nonzero(keep).flatten()]


# ---- captioned images (GAN-CLS, SisGAN) -----------------------------------------------------------
class CaptionedArrays(TranslationDataset):
    """Images with captions: `images` as in `ArrayPairs` (one window for the whole array),
    `captions[i]` one caption or a list of captions of image i. Items are {"A", "B"} (the same
    image, augmented once) and "text", one of the image's captions drawn at random.

    `relevant[i]` (optional): captions that are close to image i but do not match it, such as
    captions of edits of the same scene; items then also carry one of them as "relevant" (the
    text families' hard mismatching captions)."""

    captioned = True

    def __init__(self, images, captions, channels: int = 3, intensity=None, augment=None, description: str = "",
                 relevant=None):
        super().__init__((channels, channels), intensity, augment)
        self.stack = ArrayPairs._stack(self, images, channels, "images")
        self.captions = self._caption_lists(captions, "caption")
        self.relevant = None if relevant is None else self._caption_lists(relevant, "relevant caption")
        self.description = description or f"arrays: {len(self.stack)} captioned images"

    def _caption_lists(self, captions, what: str) -> list[list[str]]:
        lists = [[c] if isinstance(c, str) else list(c) for c in captions]
        if len(lists) != len(self.stack):
            raise InputError(f"{len(self.stack)} image(s) but {len(lists)} {what} list(s); give one per image")
        bad = [i for i, cs in enumerate(lists) if not cs or not all(isinstance(c, str) and c.strip() for c in cs)]
        if bad:
            raise InputError(f"image(s) {bad[:5]} have no {what} or an empty one")
        return lists

    def __len__(self):
        return len(self.stack)

    def __getitem__(self, index):
        (x,) = self.augment([self.stack[index]])
        caps = self.captions[index]
        item = {"A": x, "B": x, "text": caps[int(torch.randint(len(caps), ()))]}
        if self.relevant is not None:
            rel = self.relevant[index]
            item["relevant"] = rel[int(torch.randint(len(rel), ()))]
        return item


# ---- multi-domain (StarGAN) -----------------------------------------------------------------------
class MultiDomainDataset(TranslationDataset):
    """Base of the multi-domain datasets: items are {"image": (C, H, W), "label": int64 domain index}.

    `domains` names the labels (label i is domain i); `channels` is (C, C): every domain shares
    one channel count because one generator serves all of them. Items enumerate every image of
    every domain (domain 0 first), so the trainer's shuffled order mixes the domains.
    """

    multi_domain = True

    def __init__(self, domains, channels=(1, 1), intensity=None, augment=None):
        super().__init__(channels, intensity, augment)
        self.domains = tuple(str(d) for d in domains)
        if len(self.domains) < 2 or len(set(self.domains)) != len(self.domains):
            raise InputError(f"multi-domain data needs >= 2 distinct domain names, got {list(self.domains)}")
        self.items: list[tuple[int, object]] = []  # (label, locator)

    def __len__(self):
        return len(self.items)

    def _image(self, locator) -> torch.Tensor:
        raise NotImplementedError

    def __getitem__(self, index):
        label, loc = self.items[index]
        (x,) = self.augment([self._image(loc)])
        return {"image": x, "label": torch.tensor(label, dtype=torch.int64)}

    def pixels(self, domain: str, limit: int = 256) -> torch.Tensor:
        """The pixels of up to `limit` of a domain's images, un-augmented, on the model's scale
        (intensity priors)."""
        label = self.domains.index(str(domain))
        locs = [loc for lab, loc in self.items if lab == label][:limit]
        return torch.cat([self._image(loc).reshape(-1) for loc in locs]) if locs else torch.empty(0)

    def counts(self) -> dict[str, int]:
        """Images per domain."""
        out = dict.fromkeys(self.domains, 0)
        for label, _ in self.items:
            out[self.domains[label]] += 1
        return out


class MultiDomainArrays(MultiDomainDataset):
    """In-memory multi-domain data: `data` maps a domain name to an array or a list of arrays
    ((H, W), (N, H, W) or (N, H, W, C), each windowed as a whole, as in `ArrayPairs`)."""

    def __init__(self, data: dict, channels=(1, 1), intensity=None, augment=None, description: str = ""):
        if not isinstance(data, dict):
            raise InputError(f"multi-domain arrays must be a mapping domain name -> array(s), got {type(data).__name__}")
        super().__init__(list(data), channels, intensity, augment)
        stack = ArrayPairs._stack
        self.stacks = []
        for label, name in enumerate(self.domains):
            for i, arr in enumerate(_as_list(data[name], name)):
                st = stack(self, arr, self.channels[0], f"{name}[{i}]")
                self.items += [(label, (len(self.stacks), s)) for s in range(st.shape[0])]
                self.stacks.append(st)
        self.description = description or ("arrays: " + ", ".join(f"{n} {c}" for n, c in self.counts().items())
                                            + " slices (multi-domain)")

    def _image(self, loc) -> torch.Tensor:
        k, s = loc
        return self.stacks[k][s]


class MultiDomainFolders(MultiDomainDataset, _FileDataset):
    """One image folder per domain (`dirs[i]` holds domain `domains[i]`)."""

    def __init__(self, dirs, domains, channels=(1, 1), intensity=None, augment=None, verify=True):
        dirs, domains = list(dirs), list(domains)
        if len(dirs) != len(domains):
            raise ConfigError(f"config[data]: {len(dirs)} folder(s) in data.dirs but the model has {len(domains)} "
                              f"domains {domains}; give one folder per domain, in that order")
        super().__init__(domains, channels, intensity, augment)
        for label, (d, name) in enumerate(zip(dirs, self.domains)):
            files = list_files(d, f"domain {name}")
            if verify:
                self._verify(files)
            self.items += [(label, f) for f in files]
        self.description = "folders: " + ", ".join(f"{n}={Path(d)} ({c})" for (n, c), d in zip(self.counts().items(), dirs))

    def _image(self, path: Path) -> torch.Tensor:
        return self._load(path, self.channels[0])
