"""Import of official PyTorch checkpoints (`.pth`/`.pt`/`.ckpt`), one module per official repository.

Only `torch.load(weights_only=True)` is used: a file that needs arbitrary unpickling is refused
before anything in it runs. Each module reads the official config, infers what the tensors'
shapes determine, and maps the official keys onto our family built in its official variant; no
official code lives here. A file is recognised by its keys; `config` is the official YAML (a path)
or a dict of the official option values.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import CheckpointError
from ..io import safe_torch_load
from . import attentiongan, bicycle_gan, council_gan, deepfill, drit, munit, stargan, unit
from .common import OFFICIAL_INTENSITY, read_config
from .junyanz import FLOAT_DTYPES, INT_DTYPES, JUNYANZ_INTENSITY, infer_generator, load_junyanz, real_tensors

FOREIGN_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")
#: format name -> module with matches(obj, cfg), load(obj, path, config, device) and export(model)
#: (or export_files(model, output) for formats of several files)
FORMATS = {"munit": munit, "stargan": stargan, "attentiongan": attentiongan,
           "bicycle_gan": bicycle_gan, "unit": unit, "drit": drit,
           "council_gan": council_gan, "deepfill": deepfill}


def detect(obj, cfg: dict) -> str:
    """The official format of a loaded file ('junyanz' when no other module claims it)."""
    for name, mod in FORMATS.items():
        if mod.matches(obj, cfg):
            return name
    return "junyanz"


def load_foreign(path, device="cpu", config=None, generator=None, dropout_at_test: bool = False):
    """(model, metadata) of an official checkpoint file; see the module docstring."""
    obj = safe_torch_load(path)
    fmt = detect(obj, read_config(config))
    if fmt == "junyanz":
        if config is not None:
            raise CheckpointError(f"{Path(path).name}: no official format takes this file with a config; its keys "
                                  "read as a pytorch-CycleGAN-and-pix2pix generator, which needs none")
        return load_junyanz(obj, path, device, generator=generator, dropout_at_test=dropout_at_test)
    return FORMATS[fmt].load(obj, Path(path), config, device)


def import_checkpoint(path, output, config=None) -> Path:
    """Convert an official checkpoint into one of ours (`im2im import`); returns the path written."""
    from ..checkpoint import save

    model, meta = load_foreign(path, config=config)
    return save(output, model, intensity=meta["intensity"], provenance=meta["provenance"])


def export_official(checkpoint, output) -> Path:
    """Write one of our checkpoints in its official format (the import's inverse); returns the path."""
    import torch

    from ..checkpoint import load_model
    from ..io import atomic_write

    model, meta = load_model(checkpoint)
    fmt = ((meta.get("provenance") or {}).get("official") or {}).get("format") or official_format(model)
    mod = FORMATS[fmt]
    files = mod.export_files(model, Path(output)) if hasattr(mod, "export_files") else [(output, mod.export(model))]
    for path, obj in files:
        atomic_write(path, lambda tmp, obj=obj: torch.save(obj, tmp))
    return Path(output)


def official_format(model) -> str:
    """The official format a model trained here can be written in, or a CheckpointError."""
    for name, mod in FORMATS.items():
        if model.family in getattr(mod, "FAMILIES", (name,)):
            return name
    raise CheckpointError(f"no official format takes a {model.family} model; official formats: {', '.join(FORMATS)}")


__all__ = ["FOREIGN_SUFFIXES", "FORMATS", "FLOAT_DTYPES", "INT_DTYPES", "JUNYANZ_INTENSITY", "OFFICIAL_INTENSITY",
           "detect", "export_official", "import_checkpoint", "infer_generator", "load_foreign", "real_tensors"]
