"""What every official-format module shares: reading the official config, checking a config
value against what the weights' shapes say, renaming keys with errors that name them, building
the family safely, and the metadata an import carries."""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..checkpoint import check_buildable
from ..errors import CheckpointError, ConfigError
from ..intensity import Intensity

#: every official repo here feeds Normalize(0.5, 0.5) of ToTensor: [0, 255] -> [-1, 1]
OFFICIAL_INTENSITY = Intensity(mode="fixed", low=0.0, high=255.0)


def read_config(config) -> dict:
    """The official config as a dict: None, a dict, or a path to its YAML/JSON file."""
    if config is None:
        return {}
    if isinstance(config, dict):
        return dict(config)
    path = Path(config).expanduser()
    if not path.is_file():
        raise ConfigError(f"config {config} is not a file (give the official YAML or a dict of option values)")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:
        raise ConfigError(f"config {path.name} is not valid YAML/JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config {path.name} holds {type(data).__name__}, not a mapping of options")
    return data


def agree(given: dict, key: str, inferred, evidence: str, name: str):
    """The inferred value, after checking that the config, where it sets `key`, says the same."""
    if key in given and given[key] is not None and given[key] != inferred:
        raise CheckpointError(f"{name}: the config says {key}={given[key]!r} but the weights say {inferred!r} "
                              f"({evidence}); the config does not match this file")
    return inferred


def unwrap_module(sd: dict) -> dict:
    """A state_dict without DataParallel's `module.` prefixes."""
    return {re.sub(r"^module\.", "", k): v for k, v in sd.items()}


def state_dict_in(obj, key: str | None, name: str, what: str) -> dict:
    """obj[key] (or obj) as a dict of tensors, checked to hold real values."""
    import torch

    from .junyanz import real_tensors

    sd = obj.get(key) if key is not None and isinstance(obj, dict) else obj
    if not isinstance(sd, dict) or not sd:
        raise CheckpointError(f"{name}: no {what} state_dict{f' under {key!r}' if key else ''}")
    bad = [k for k, v in sd.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{name}: the {what} state_dict holds entries that are not named tensors: {bad[:3]}")
    sd = real_tensors(unwrap_module(sd), name)
    bad = [k for k, v in sd.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{name}: weights {bad[:3]} contain NaN/Inf; the file is broken")
    return sd


def two_domain_gens(obj, config, name: str, what: str, infer, first_key: str):
    """The shared head of the {'a': ..., 'b': ...} formats (NVlabs MUNIT, UNIT): both state_dicts,
    the widths inferred from 'a' (and checked on 'b' and against the YAML's `gen` block), the two
    domains' channels, and the YAML's activ and pad_type (defaults relu, reflect)."""
    cfg = read_config(config)
    given = dict(cfg.get("gen", cfg))
    sds = {d: state_dict_in(obj, d, name, f"{what} gen_{d}") for d in ("a", "b")}
    g = infer(sds["a"], given, name)
    gb = infer(sds["b"], {k: v for k, v in g.items() if k != "input_dim"}, name + " ['b']")
    cin = agree(cfg, "input_dim_a", g["input_dim"], f"{first_key} of 'a'", name)
    cout = agree(cfg, "input_dim_b", gb["input_dim"], f"{first_key} of 'b'", name)
    return sds, g, cin, cout, given.get("activ", "relu"), given.get("pad_type", "reflect")


def require_official(model, repo: str) -> None:
    """Only models built with arch='official' run in the official code."""
    if getattr(model.config, "arch", "ours") != "official":
        raise CheckpointError(f"this {model.family} model uses our networks (arch={model.config.arch!r}); only "
                              f"arch='official' models run in {repo}'s code")


def stale_norm_buffer(key: str, sd: dict) -> bool:
    """Running statistics of an affine-free InstanceNorm2d, which PyTorch 0.3 saved (0.4 renamed the
    behaviour to track_running_stats and stopped saving them): no forward reads them."""
    return bool(re.search(r"\.(running_mean|running_var|num_batches_tracked)$", key)) and \
        key.rsplit(".", 1)[0] + ".weight" not in sd


def map_keys(sd: dict, keymap: dict, shapes: dict, name: str, what: str, ignore=(), optional=()) -> dict:
    """{our key: tensor} from an official state_dict through `keymap` (official -> ours); errors
    name the missing, unexpected and mis-shaped official keys. `ignore`: regexes of official keys
    that carry nothing the forward pass uses; keys mapped to None are such dummies too (optional).
    `optional`: regexes of mapped keys a file may lack (buffers older PyTorch did not save)."""
    missing = [k for k, o in keymap.items() if o is not None and k not in sd and not any(re.search(p, k) for p in optional)]
    unexpected = [k for k in sd if k not in keymap and not any(re.search(p, k) for p in ignore) and not stale_norm_buffer(k, sd)]
    wrong = [f"{k} {tuple(sd[k].shape)} (expected {tuple(shapes[o])})" for k, o in keymap.items()
             if o is not None and k in sd and tuple(sd[k].shape) != tuple(shapes[o])]
    if missing or unexpected or wrong:
        parts = [f"{label} {keys[:4]}{' ...' if len(keys) > 4 else ''}"
                 for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys]
        raise CheckpointError(f"{name}: keys do not match the {what} ({'; '.join(parts)})")
    return {o: sd[k] for k, o in keymap.items() if o is not None and k in sd}


def build_checked(family: str, cfg_dict: dict, shapes: dict, name: str):
    """Our model for `cfg_dict`, after the size checks that keep a small file from building a huge net."""
    from ..models import build, config_from_dict

    try:
        cfg = config_from_dict(family, cfg_dict, warn_renamed=False)
    except ConfigError as exc:
        raise CheckpointError(f"{name}: {exc}") from None
    check_buildable(cfg, shapes, 0, name)
    return build(cfg)


def load_mapped(model, tensors: dict, name: str, optional=()):
    """Copy `tensors` (our keys) into `model`, every key present but `optional` regexes; returns the
    model in eval mode."""
    _, unexpected = model.load_state_dict(tensors, strict=False)
    expected = {k for k in _inference_keys(model)}
    gaps = sorted(k for k in expected - set(tensors) if not any(re.search(p, k) for p in optional))
    if gaps or unexpected:
        raise CheckpointError(f"{name}: internal key map incomplete (missing {gaps[:3]}, unexpected {unexpected[:3]})")
    return model.eval()


def _inference_keys(model):
    from ..checkpoint import inference_state

    return inference_state(model).keys()


def imported_meta(model, path, repo: str, fmt: str, official: dict) -> dict:
    """Metadata of an imported model: family, domains, our config, and the official config and
    origin in `provenance` (what `export --format official` reads back)."""
    prov = {"imported_from": Path(path).name, "source": repo,
            "official": {"repo": repo, "format": fmt, "config": official}}
    return {"family": model.family, "domains": list(model.config.domains), "config": model.config_dict(),
            "intensity": OFFICIAL_INTENSITY, "provenance": prov}


def shapes_of(model) -> dict:
    """name -> shape of every tensor in the model's state_dict."""
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}
