"""Model families, registered by name: `list_models()`, `build(config)`, `family_class(name)`."""
from ._registry import build, config_from_dict, family_class, list_models, register
from .base import Im2ImModel, ModelConfig

__all__ = ["Im2ImModel", "ModelConfig", "build", "config_from_dict", "family_class", "list_models",
           "register"]
