"""junyanz/BicycleGAN `*_net_G.pth` (G_Unet_add_all) plus `*_net_E.pth` (E_ResNet, vaeLike) into
our `bicycle_gan` family built with `arch="official"`.

The encoder file is the config's `encoder` (relative to the generator's folder), else the
generator's sibling `*_net_E.pth`. nz, ngf, nef, the U-Net depth (unet_256: 8 levels, unet_128:
7), the encoder depth (resnet_256: 5 blocks, resnet_128: 4) and the channels come from the shapes;
the config's where_add must be "all", upsample "basic" and norm "instance" (their defaults).
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import CheckpointError
from ..io import safe_torch_load
from .common import (agree, build_checked, imported_meta, load_mapped, map_keys, read_config, require_official,
                     shapes_of, state_dict_in)

REPO = "junyanz/BicycleGAN"
LEVELS = {"unet_256": 8, "unet_128": 7}
E_BLOCKS = {"resnet_256": 5, "resnet_128": 4}
SUPPORTED = {"where_add": "all", "upsample": "basic", "norm": "instance"}


def matches(obj, cfg=None) -> bool:
    return isinstance(obj, dict) and any(re.sub(r"^module\.", "", str(k)) == "model.submodule.down.1.weight"
                                         for k in obj)


def encoder_path(path: Path, given: dict) -> Path:
    if given.get("encoder"):
        p = Path(given["encoder"]).expanduser()
        return p if p.is_absolute() else path.parent / p
    sibling = path.with_name(path.name.replace("_net_G", "_net_E"))
    if sibling == path or not sibling.is_file():
        raise CheckpointError(f"{path.name}: BicycleGAN needs its encoder too: pass config={{'encoder': "
                              f"'latest_net_E.pth'}} (or --set encoder=... to im2im import)")
    return sibling


def e_keymap(blocks: int) -> dict:
    """official E_ResNet key -> ours, in their order (their heads are registered before the convs)."""
    km = {}
    for off, ours in (("fc.0", "fc_mu"), ("fcVar.0", "fc_logvar")):
        for p in ("weight", "bias"):
            km[f"{off}.{p}"] = f"netE.{ours}.{p}"
    km.update({"conv.0.weight": "netE.features.0.weight", "conv.0.bias": "netE.features.0.bias"})
    for k in range(1, blocks):
        for off, ours in (("conv.2", "body.2"), ("conv.5.0", "body.5"), ("shortcut.1", "skip.1")):
            for p in ("weight", "bias"):
                km[f"conv.{k}.{off}.{p}"] = f"netE.features.{k}.{ours}.{p}"
    return km


def infer(gsd: dict, esd: dict, given: dict, name: str) -> dict:
    for key, want in SUPPORTED.items():
        if given.get(key, want) != want:
            raise CheckpointError(f"{name}: {key}={given[key]!r} is not supported; the import takes BicycleGAN's "
                                  f"default {key}={want!r}")
    if "conv.0.weight" not in esd or "fcVar.0.weight" not in esd:
        raise CheckpointError(f"{name}: the encoder file is not an E_ResNet with a variance head (conv.0.weight, fcVar.0.weight)")
    w0, w1 = gsd["model.down.0.weight"], gsd["model.submodule.down.1.weight"]
    ngf = int(w0.shape[0])
    nz = int(w1.shape[1]) - ngf
    levels = 1 + max(k.count("submodule") for k in gsd)
    e_blocks = 1 + len({m.group(1) for k in esd if (m := re.match(r"conv\.(\d+)\.conv\.", k))})
    if given.get("netG") and LEVELS.get(given["netG"]) != levels:
        raise CheckpointError(f"{name}: the config says netG={given['netG']!r} but the weights have {levels} U-Net levels")
    if given.get("netE") and E_BLOCKS.get(given["netE"]) != e_blocks:
        raise CheckpointError(f"{name}: the config says netE={given['netE']!r} but the encoder has {e_blocks} blocks")
    return {"nz": agree(given, "nz", nz, f"model.submodule.down.1.weight is {tuple(w1.shape)}", name),
            "ngf": agree(given, "ngf", ngf, f"model.down.0.weight is {tuple(w0.shape)}", name),
            "nef": agree(given, "nef", int(esd["conv.0.weight"].shape[0]), "the encoder's conv.0.weight", name),
            "input_nc": agree(given, "input_nc", int(w0.shape[1]) - nz, "model.down.0.weight", name),
            "output_nc": agree(given, "output_nc", int(gsd["model.up.1.weight"].shape[1]), "model.up.1.weight", name),
            "num_downs": levels, "e_blocks": e_blocks}


def load(obj, path, config=None, device="cpu"):
    name = path.name
    given = read_config(config)
    gsd = state_dict_in(obj, None, name, "BicycleGAN netG")
    epath = encoder_path(path, given)
    esd = state_dict_in(safe_torch_load(epath), None, epath.name, "BicycleGAN netE")
    g = infer(gsd, esd, given, name)
    ours = {"in_channels": g["input_nc"], "out_channels": g["output_nc"], "nz": g["nz"], "ngf": g["ngf"],
            "num_downs": g["num_downs"], "nef": g["nef"], "e_blocks": g["e_blocks"], "arch": "official",
            "ndf": 8, "n_scales": 1, "shared_d": True}
    shapes = {**{f"G.{k}": tuple(v.shape) for k, v in gsd.items()}, **{f"E.{k}": tuple(v.shape) for k, v in esd.items()}}
    model = build_checked("bicycle_gan", ours, shapes, name)
    gmap = {k[len("netG."):]: k for k in model.state_dict() if k.startswith("netG.")}
    tensors = map_keys(gsd, gmap, shapes_of(model), name, "G_Unet_add_all")
    tensors.update(map_keys(esd, e_keymap(g["e_blocks"]), shapes_of(model), epath.name, "E_ResNet"))
    model = load_mapped(model, tensors, name)
    official = {"netG": {v: k for k, v in LEVELS.items()}.get(g["num_downs"], g["num_downs"]),
                "netE": {v: k for k, v in E_BLOCKS.items()}.get(g["e_blocks"], g["e_blocks"]),
                **{k: g[k] for k in ("nz", "ngf", "nef", "input_nc", "output_nc")}, **SUPPORTED,
                "encoder": epath.name}
    return model.to(device), imported_meta(model, path, REPO, "bicycle_gan", official)


def export_files(model, output: Path) -> list:
    """[(G path, G state_dict), (E path, E state_dict)]: E beside G, `_net_G` renamed `_net_E`."""
    require_official(model, REPO)
    sd = model.state_dict()
    g = {k[len("netG."):]: v.detach().cpu().clone() for k, v in sd.items() if k.startswith("netG.")}
    e = {off: sd[ours].detach().cpu().clone() for off, ours in e_keymap(model.config.e_blocks).items()}
    epath = output.with_name(output.name.replace("_net_G", "_net_E") if "_net_G" in output.name
                             else f"{output.stem}_E{output.suffix}")
    return [(output, g), (epath, e)]
