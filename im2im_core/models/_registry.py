"""The registry: family names to classes. A family is one module in this package that decorates
its class with `@register(name)`; the first lookup imports every module here once."""
from __future__ import annotations

import importlib
import pkgutil
import sys

from ..errors import ConfigError

_REGISTRY: dict[str, type] = {}
_loaded = False


def register(name: str):
    """Class decorator: make a family buildable by name."""

    def deco(cls):
        cls.family = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _import_families() -> None:
    """Import every module of this package once, so a new family is just a new file here."""
    global _loaded
    if _loaded:
        return
    package = __name__.rpartition(".")[0]
    for info in pkgutil.iter_modules(sys.modules[package].__path__):
        if not info.name.startswith("_") and info.name != "base":
            importlib.import_module(f"{package}.{info.name}")
    _loaded = True


def family_class(name: str) -> type:
    _import_families()
    if name not in _REGISTRY:
        raise ConfigError(f"model family {name!r} unknown; registered: {sorted(_REGISTRY)}")
    return _REGISTRY[name]


def list_models() -> list[str]:
    """Names of every registered family."""
    _import_families()
    return sorted(_REGISTRY)


def build(config):
    """Instantiate the family whose config class `config` is."""
    _import_families()
    for cls in _REGISTRY.values():
        if type(config) is cls.Config:
            return cls(config)
    raise ConfigError(f"no registered family takes a {type(config).__name__}")


def config_from_dict(family: str, data: dict):
    """A family's typed config from a plain dict, its sizes checked."""
    from ..config import from_dict
    from .base import check_sizes

    cfg = from_dict(family_class(family).Config, data, where=f"[{family}]")
    check_sizes(cfg, f"[{family}]")
    return cfg
