"""napari-im2im: dock widgets for translation, attention masks, reconstruction/inpainting and training.

The widgets are thin Qt shells over pure generator functions (`translate_layer`,
`attention_layers`, `reconstruct_layer`, `inpaint_layer`, `super_resolve_layer`, `train_job`)
that scripts and tests can call without Qt. Importing this package imports neither Qt nor torch.
"""
from im2im_core import __version__

from ._triton_guard import guard_triton

guard_triton()

__all__ = ["__version__"]
