"""napari-im2im core library: GAN image-to-image translation, MRI reconstruction and inpainting.

Never imports napari or Qt. Heavy modules (torch) load on first use, so the CLI starts fast.
"""
import os as _os

from ._version import __version__

# oneDNN keeps up to 1024 compiled primitives by default, and every new image shape compiles new
# ones: a session of mixed sizes grew by hundreds of MB (issue 40, training/benchmarks/memory.py).
# Read when oneDNN first runs, so it is set here, before any torch work; a user's own value wins.
_os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "64")

__all__ = ["__version__", "load", "Translator", "list_models"]


def __getattr__(name):
    if name in ("load", "Translator"):
        from . import inference

        return getattr(inference, name)
    if name == "list_models":
        from .models import list_models

        return list_models
    raise AttributeError(f"module 'im2im_core' has no attribute {name!r}")
