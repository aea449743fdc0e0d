"""Our checkpoint format: one `.safetensors` file whose metadata rebuilds the model.

Loading parses JSON and raw tensors only; nothing in the file can execute code. Saving is
atomic (temp file, fsync, rename), so an interrupted save never leaves a half-written file.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import CheckpointError
from .intensity import Intensity
from .io import atomic_write

FORMAT_VERSION = "1"
_JSON_KEYS = ("config", "domains", "intensity", "provenance")


def build_metadata(model, intensity: Intensity | None = None, provenance: dict | None = None,
                   spacing=None) -> dict[str, str]:
    """The string->string metadata block stored in the safetensors header. `spacing`: the (Y, X)
    pixel size the model was trained at (mm or any unit the user's data uses), or None."""
    from .config import to_dict

    prov = {"library_version": __version__, "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    prov.update(provenance or {})
    cfg = model.config
    return {
        "format": "napari-im2im",
        "format_version": FORMAT_VERSION,
        "family": model.family,
        "config": json.dumps(model.config_dict()),
        "domains": json.dumps(list(cfg.domains)),
        "in_channels": str(cfg.in_channels),
        "out_channels": str(cfg.out_channels),
        "intensity": json.dumps(to_dict(intensity or Intensity())),
        "provenance": json.dumps(prov),
        "spacing": json.dumps(None if spacing is None else [float(v) for v in spacing]),
    }


def inference_state(model) -> dict:
    """The tensors inference needs: the generator modules and any the family lists in
    `inference_modules` (a text encoder), not the discriminators."""
    names = tuple(model.generator_names) + tuple(getattr(model, "inference_modules", ()))
    sd = model.state_dict()
    return {k: v for k, v in sd.items() if not names or k.split(".", 1)[0] in names}


def save(path, model, intensity: Intensity | None = None, provenance: dict | None = None,
         dtype=None, spacing=None) -> Path:
    """Write an inference checkpoint for `model` atomically; returns the path.

    Only the generators are stored; tensors shared between modules (UNIT's shared layers) are
    stored once and re-linked on load. `dtype=torch.float16` halves the file for shipping.
    """
    import torch
    from safetensors.torch import save_file

    meta = build_metadata(model, intensity, provenance, spacing)
    tensors, aliases, seen = {}, {}, {}
    for name, t in inference_state(model).items():
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.dtype)
        if key in seen:
            aliases[name] = seen[key]
            continue
        seen[key] = name
        t = t.detach().cpu()
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        tensors[name] = t.contiguous().clone()
    meta["aliases"] = json.dumps(aliases)
    meta["storage_dtype"] = str(dtype or torch.float32).replace("torch.", "")
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def read_metadata(path) -> dict[str, Any]:
    """Parsed metadata of one of our checkpoints (no tensors are read)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = fh.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise CheckpointError(f"{path} is not a readable .safetensors file ({exc})") from None
    if raw.get("format") != "napari-im2im" or "family" not in raw:
        raise CheckpointError(f"{path} is a safetensors file but not a napari-im2im checkpoint (no family in its metadata)")
    if raw.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format {raw.get('format_version')!r}; this version reads {FORMAT_VERSION!r}")
    meta = dict(raw)
    try:
        for key in _JSON_KEYS:
            meta[key] = json.loads(raw[key])
    except (KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: metadata entry {exc} is missing or not valid JSON") from None
    except RecursionError:  # "[[[[...]]]]" nested beyond the parser's depth
        raise CheckpointError(f"{path}: metadata is nested too deeply to be a checkpoint's") from None
    meta["spacing"] = _spacing(raw.get("spacing"), path)
    domains = meta.get("domains", [])
    if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
        raise CheckpointError(f"{path}: metadata 'domains' must be a list of names, got {str(domains)[:60]!r}")
    return meta


def _spacing(raw, path):
    """The training pixel size from the metadata: None (older files, unknown) or two positive floats."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        value = raw
    if value is None:
        return None
    ok = (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)
          and all(0 < v < 1e6 for v in value))
    if not ok:
        raise CheckpointError(f"{path}: metadata 'spacing' must be two positive numbers or null, got {str(raw)[:60]!r}")
    return tuple(float(v) for v in value)


class _TooBig(Exception):
    pass


def _check_size_before_building(path, cfg, n_aliases: int) -> None:
    """Refuse a `.safetensors` whose config asks for far more weights than the file holds."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        shapes = {k: fh.get_slice(k).get_shape() for k in fh.keys()}
    check_buildable(cfg, shapes, n_aliases, str(path))


def check_buildable(cfg, shapes: dict, n_extra: int, where: str) -> None:
    """Build the config on the meta device (no memory) and refuse it when it asks for far more
    tensors or values than the file holds (`shapes`: name -> shape of what the file stores):
    a 3 KB file must not make us allocate terabytes."""
    import torch

    from .models import build

    # only the generators are stored: discriminators and encoders used in training come on top,
    # so allow 10x the file (and a floor for tiny files); what matters is that it is bounded
    limit_n = 10 * (len(shapes) + n_extra) + 1000
    limit_elems = 10 * sum(math.prod(s) for s in shapes.values()) + 20_000_000
    seen = [0, 0]

    def hook(module, name, param):
        seen[0] += 1
        seen[1] += param.numel() if param is not None else 0
        if seen[0] > limit_n or seen[1] > limit_elems:
            raise _TooBig

    handle = torch.nn.modules.module.register_module_parameter_registration_hook(hook)
    try:
        with torch.device("meta"):
            build(cfg)
    except _TooBig:
        raise CheckpointError(f"{where}: its config asks for far more weights than the file holds ({len(shapes)} "
                              f"tensors); refusing to build it") from None
    finally:
        handle.remove()


def load_model(path, device="cpu"):
    """Rebuild the model from the file alone; returns (model in eval mode, metadata)."""
    import torch
    from safetensors.torch import load_file

    from .config import from_dict
    from .errors import ConfigError
    from .models import build, config_from_dict

    meta = read_metadata(path)
    try:
        aliases = json.loads(meta.get("aliases", "{}"))
        if not isinstance(aliases, dict) or not all(isinstance(v, str) for v in aliases.values()):
            raise ValueError("not a mapping of names")
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path}: metadata 'aliases' is not valid ({exc})") from None
    try:
        # files written before a loss weight's rename read silently
        cfg = config_from_dict(meta["family"], meta["config"], warn_renamed=False)
        intensity = from_dict(Intensity, meta["intensity"])
        _check_size_before_building(path, cfg, len(aliases))
        model = build(cfg)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    tensors = load_file(str(path))
    bad = [k for k, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise CheckpointError(f"{path}: weights {bad[:3]} contain NaN/Inf; the file is broken")
    for name, target in aliases.items():
        if target in tensors:
            tensors[name] = tensors[target]
    expected = inference_state(model)
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(model.state_dict()))
    wrong = [k for k in expected if k in tensors and tensors[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(f"{path}: weights do not match the {meta['family']} config "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {wrong[:3]})")
    model.load_state_dict(tensors, strict=False)
    meta["intensity"] = intensity
    return model.to(device).eval(), meta
