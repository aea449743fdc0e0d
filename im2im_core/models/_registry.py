"""The registry: family names to classes. A family is one module in this package that decorates
its class with `@register(name)`; the first lookup imports every module here once."""
from __future__ import annotations

import importlib
import pkgutil
import sys
import warnings

from ..errors import ConfigError
from ._sizes import check_sizes

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


def config_from_dict(family: str, data: dict, warn_renamed: bool = True):
    """A family's typed config from a plain dict, its sizes checked. Renamed keys are read under
    their new names, with a DeprecationWarning unless `warn_renamed=False` (checkpoints written
    before the rename)."""
    from ..config import from_dict

    config_cls = family_class(family).Config
    data = renamed_keys(family, config_cls, data, warn_renamed)
    cfg = from_dict(config_cls, data, where=f"[{family}]")
    check_sizes(cfg, f"[{family}]")
    return cfg


def renamed_keys(family: str, config_cls, data, warn: bool = True):
    """`data` with the config's old key names (its RENAMED map) replaced by the current ones; a
    DeprecationWarning names each unless `warn=False`."""
    renamed = getattr(config_cls, "RENAMED", {})
    if not isinstance(data, dict) or not renamed.keys() & data.keys():
        return data
    data = dict(data)
    for old, new in renamed.items():
        if old in data:
            if new in data:
                raise ConfigError(f"[{family}] sets both {old!r} and {new!r}; {old!r} is the old name of {new!r}")
            data[new] = data.pop(old)
            if warn:
                warnings.warn(f"[{family}] {old!r} is now called {new!r}", DeprecationWarning, stacklevel=3)
    return data
