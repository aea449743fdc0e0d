"""Bounds on a config's layer widths, layer counts and downsamplings, checked when any config is
read (a checkpoint's config included), so that no file can make us build a network of terabytes."""
from __future__ import annotations

import dataclasses

from ..errors import ConfigError

#: config fields that are layer widths or counts of layers: a width must be >= 1, a count >= 0
WIDTHS = ("ngf", "ndf", "dim", "nf", "nef", "mlp_dim", "attention_ngf", "ndf_z", "ndf_content", "in_channels",
          "text_dim", "embed_nf", "ca_dim",
          "out_channels", "style_dim", "z_dim", "nz", "attr_dim", "cascade_width")
COUNTS = ("n_blocks", "n_layers", "n_res", "n_scales", "d_layers", "n_dec_res")
#: downsamplings (each halves the map and may double the width): 2**16 px is past any image
DOWNS = ("num_downs", "n_down", "n_downsample", "n_style_down", "n_attr_down")


def check_sizes(cfg, where: str) -> None:
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            check_sizes(v, f"{where}.{f.name}")
        elif isinstance(v, int) and not isinstance(v, bool):
            low, high = (1, 65536) if f.name in WIDTHS else (0, 1024) if f.name in COUNTS else \
                (0, 16) if f.name in DOWNS else (v, v)
            if not low <= v <= high:
                raise ConfigError(f"config{where}.{f.name} must be in [{low}, {high}], got {v}")
