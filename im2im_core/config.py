"""Typed dataclass configs that round-trip through JSON, so a checkpoint alone can rebuild its model."""
from __future__ import annotations

import dataclasses
import json
import math
import typing
from typing import Any

from .errors import ConfigError


def to_dict(cfg) -> dict:
    """Plain dict of a (nested) dataclass; tuples become lists for JSON."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


MAX_INT = 2**63 - 1  # torch sizes and seeds are int64: larger values overflow inside torch


def _coerce(tp, value, where: str):
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(value, dict):
        return from_dict(tp, value, where)
    if dataclasses.is_dataclass(tp) and not isinstance(value, tp):
        raise ConfigError(f"config{where}: expected a mapping of {tp.__name__} fields, got {value!r:.60}")
    if origin is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    if origin is tuple:
        raise ConfigError(f"config{where}: expected a list, got {value!r}")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if tp is tuple and isinstance(value, list):
        return tuple(value)
    if tp is tuple and not isinstance(value, tuple):
        raise ConfigError(f"config{where}: expected a list, got {value!r}")
    if tp in (bool, int, float, str) and (not isinstance(value, tp) or (tp is int and isinstance(value, bool))):
        raise ConfigError(f"config{where}: expected {tp.__name__}, got {value!r}")
    if tp is int and not -MAX_INT <= value <= MAX_INT:
        raise ConfigError(f"config{where}: {value} is out of range (|value| < 2**63)")
    if tp is float and not math.isfinite(value):
        raise ConfigError(f"config{where}: expected a finite number, got {value!r}")
    return value


def from_dict(cls, data: dict, where: str = ""):
    """Build dataclass `cls` from `data`; unknown keys are an error that names them."""
    if not isinstance(data, dict):
        raise ConfigError(f"config{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"config{where}: unknown key(s) {unknown} for {cls.__name__}; known: {sorted(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {k: _coerce(hints.get(k, Any), v, f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def parse_scalar(raw: str):
    """An override's value: a YAML scalar, and `key=` (nothing after =) is the empty string."""
    import yaml

    return yaml.safe_load(raw) if raw.strip() else ""
