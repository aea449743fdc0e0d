"""napari-im2im core library: GAN image-to-image translation, MRI reconstruction and inpainting.

Never imports napari or Qt. Heavy modules (torch) load on first use, so the CLI starts fast.
"""
from ._version import __version__

__all__ = ["__version__", "load", "Translator", "list_models"]


def __getattr__(name):
    if name in ("load", "Translator"):
        from . import inference

        return getattr(inference, name)
    if name == "list_models":
        from .models import list_models

        return list_models
    raise AttributeError(f"module 'im2im_core' has no attribute {name!r}")
