"""Model choices for the widgets: shipped names, user files, a small load cache, family facts.

Loading goes through `im2im_core.load`, so our `.safetensors` and foreign `.pth` both work and
nothing is ever downloaded: shipped weights live inside the package.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Generator

from ._layers import Progress, avoid_llvm_clash, file_hash

#: file-picker filter for checkpoints the library can open
CHECKPOINT_FILTER = "Checkpoints (*.safetensors *.pth *.pt *.ckpt *.bin)"
DEVICES = ("auto", "cpu", "cuda")
#: families the Translate widget cannot run (they need a mask or k-space: the Reconstruct widget's)
NOT_TRANSLATABLE = frozenset({"mri_recon", "inpaint"})
#: the Translate widget's first choice: UNIT, among the best T1w -> T2w models at 1 mm (docs/benchmarks.md)
DEFAULT_TRANSLATE_MODEL = "unit_t1w_t2w"

_CACHE: dict[tuple, object] = {}
_LOCK = threading.Lock()


def translatable_families() -> set[str]:
    """Registered families the Translate widget can run."""
    from im2im_core.models import list_models

    return set(list_models()) - NOT_TRANSLATABLE


def shipped(families=None) -> dict[str, Path]:
    """Shipped checkpoints by name, optionally only those of the given families (header read only)."""
    from im2im_core.checkpoint import read_metadata
    from im2im_core.errors import CheckpointError
    from im2im_core.inference import shipped_models

    models = shipped_models()
    if families is None:
        return models
    out = {}
    for name, path in models.items():
        try:
            if read_metadata(path)["family"] in families:
                out[name] = path
        except CheckpointError:
            continue
    return out


def get_translator(spec, device: str = "auto", config=None):
    """A loaded Translator for a shipped name or a path (cached per file version, device and the
    official `config` an official checkpoint may need)."""
    from im2im_core.inference import Translator, load, resolve_checkpoint

    avoid_llvm_clash()
    if isinstance(spec, Translator):
        return spec
    path = resolve_checkpoint(spec)
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime, st.st_size, device, repr(config))
    with _LOCK:
        if key not in _CACHE:
            if len(_CACHE) >= 4:  # keep memory bounded: forget the oldest
                _CACHE.pop(next(iter(_CACHE)))
            tr = load(path, device=device, **({"config": config} if config is not None else {}))
            tr.source_path = str(path)
            _CACHE[key] = tr
        return _CACHE[key]


def model_info(translator) -> dict:
    """Name, path, sha256 and family of a Translator, for provenance."""
    path = getattr(translator, "source_path", None)
    return {"name": translator.name, "path": path, "sha256": file_hash(path) if path else None,
            "family": translator.family}


def describe(translator) -> dict:
    """What the widgets adapt to: family, domains, directions (with readable labels), options."""
    doms = translator.domains
    dirs = translator.directions()
    labels = {}
    for d in dirs:
        if d == "AtoB" and len(doms) >= 2:
            labels[d] = f"{doms[0]} -> {doms[1]}"
        elif d == "BtoA" and len(doms) >= 2:
            labels[d] = f"{doms[1]} -> {doms[0]}"
        else:
            labels[d] = d
    return {"family": translator.family, "domains": doms, "directions": dirs,
            "direction_labels": labels, "options": set(translator.model.inference_options),
            "scale_factor": int(getattr(translator.model, "scale_factor", 1) or 1),
            "name": translator.name}


def load_job(spec, device: str = "auto", config=None) -> Generator[Progress, None, object]:
    """Generator form of `get_translator` so the widgets load models off the GUI thread."""
    yield Progress(0, 1, f"loading {Path(str(spec)).name}")
    tr = get_translator(spec, device, config)
    yield Progress(1, 1, f"loaded {tr.name} ({tr.family})")
    return tr


def supports(translator, option: str) -> bool:
    return option in translator.model.inference_options
