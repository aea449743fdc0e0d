"""Ha0Tang/AttentionGAN `latest_net_G_A.pth` / `_B.pth` files (junyanz-style state_dicts of
`ResnetGenerator_our`, netG "our") into our `generator` family with `arch="attentiongan"`.

ngf, n_blocks and the channels come from the shapes: 9 content images of input_nc channels and
10 attention maps (the last one weights the input). The export serves junyanz generators too.
"""
from __future__ import annotations

import re

from ..errors import CheckpointError
from .common import agree, build_checked, imported_meta, load_mapped, map_keys, read_config, shapes_of, state_dict_in

REPO = "Ha0Tang/AttentionGAN"
FAMILIES = ("generator",)
STALE = (r"norm(_\w+)?\.(running_mean|running_var|num_batches_tracked)$",)  # InstanceNorm buffers of old torch


def matches(obj, cfg=None) -> bool:
    return isinstance(obj, dict) and any(re.sub(r"^module\.", "", str(k)) == "deconv3_attention.weight" for k in obj)


def load(obj, path, config=None, device="cpu"):
    name = getattr(path, "name", str(path))
    given = read_config(config)
    if given.get("netG", "our") != "our":
        raise CheckpointError(f"{name}: holds AttentionGAN's ResnetGenerator_our, but the config says netG={given['netG']!r}")
    sd = state_dict_in(obj, None, name, "AttentionGAN netG")
    w0 = sd.get("conv1.weight")
    if w0 is None or "deconv3_content.weight" not in sd:
        raise CheckpointError(f"{name}: not a ResnetGenerator_our state_dict (missing conv1.weight or deconv3_content.weight)")
    ngf = agree(given, "ngf", int(w0.shape[0]), f"conv1.weight is {tuple(w0.shape)}", name)
    blocks = agree(given, "n_blocks", len({m.group(1) for k in sd if (m := re.match(r"resnet_blocks\.(\d+)\.", k))}),
                   "resnet_blocks.N", name)
    channels = agree(given, "input_nc", int(w0.shape[1]), f"conv1.weight is {tuple(w0.shape)}", name)
    agree(given, "output_nc", channels, "the blend adds input * attention", name)
    ours = {"in_channels": channels, "out_channels": channels,
            "generator": {"arch": "attentiongan", "ngf": ngf, "n_blocks": blocks}}
    model = build_checked("generator", ours, {k: tuple(v.shape) for k, v in sd.items()}, name)
    keymap = {k[len("netG."):]: k for k in model.state_dict()}
    model = load_mapped(model, map_keys(sd, keymap, shapes_of(model), name, "ResnetGenerator_our", ignore=STALE), name)
    official = {"netG": "our", "ngf": ngf, "n_blocks": blocks, "input_nc": channels, "output_nc": channels}
    return model.to(device), imported_meta(model, path, REPO, "attentiongan", official)


def export(model) -> dict:
    """The generator's state_dict under their names: AttentionGAN's ResnetGenerator_our, or, for
    our resnet / unet generators, a pytorch-CycleGAN-and-pix2pix `latest_net_G.pth` (same layout)."""
    return {k[len("netG."):]: v.detach().cpu().clone() for k, v in model.state_dict().items()}
