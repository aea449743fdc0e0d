"""Model families, registered by name: `list_models()`, `build(config)`, `family_class(name)`."""
from .base import (Im2ImModel, ModelConfig, build, config_from_dict, family_class, list_models,
                   register)

_loaded = False


def _import_families() -> None:
    """Import every module in this package once, so a new family is just a new file here."""
    global _loaded
    if _loaded:
        return
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_") and info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")
    _loaded = True


__all__ = ["Im2ImModel", "ModelConfig", "build", "config_from_dict", "family_class", "list_models",
           "register"]
