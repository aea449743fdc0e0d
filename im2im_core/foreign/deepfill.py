"""nipponjo/deepfillv2-pytorch files (`{'G': Generator state_dict}`, DeepFill v2's official TF
weights converted) into our `inpaint` family with `arch="official"`.

cnum (48 in their release), the input layout [image with holes zeroed, ones, mask] (cnum_in = 5
for RGB) and the output channels come from the shapes. The export writes {'G': ...} only.
"""
from __future__ import annotations

from ..errors import CheckpointError
from .common import agree, build_checked, imported_meta, load_mapped, map_keys, read_config, shapes_of, state_dict_in

REPO = "nipponjo/deepfillv2-pytorch"
FAMILIES = ("inpaint",)


def matches(obj, cfg=None) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("G"), dict) and "stage1.conv1.conv.weight" in obj["G"]


def load(obj, path, config=None, device="cpu"):
    name = getattr(path, "name", str(path))
    given = read_config(config)
    sd = state_dict_in(obj, "G", name, "DeepFill v2 G")
    w0, w_out = sd["stage1.conv1.conv.weight"], sd.get("stage1.conv_to_rgb.conv.weight")
    if w_out is None:
        raise CheckpointError(f"{name}: not a DeepFill v2 generator (no stage1.conv_to_rgb.conv.weight)")
    cnum = agree(given, "cnum", int(w0.shape[0]), f"stage1.conv1.conv.weight is {tuple(w0.shape)}", name)
    cin = agree(given, "cnum_in", int(w0.shape[1]), f"stage1.conv1.conv.weight is {tuple(w0.shape)}", name)
    cout = agree(given, "cnum_out", int(w_out.shape[0]), f"stage1.conv_to_rgb.conv.weight is {tuple(w_out.shape)}", name)
    if cin != cout + 2:
        raise CheckpointError(f"{name}: cnum_in={cin} is not the image's {cout} channels plus ones and mask")
    ours = {"in_channels": cout, "out_channels": cout, "arch": "official", "ngf": cnum, "residual": False,
            "prefill": "zero", "discriminator": {"n_layers": 1, "ndf": 8, "norm": "none", "spectral": True}}
    model = build_checked("inpaint", ours, {k: tuple(v.shape) for k, v in sd.items()}, name)
    keymap = {k[len("netG."):]: k for k in model.state_dict() if k.startswith("netG.")}
    model = load_mapped(model, map_keys(sd, keymap, shapes_of(model), name, "DeepFill v2 Generator"), name)
    official = {"cnum_in": cin, "cnum_out": cout, "cnum": cnum}
    return model.to(device), imported_meta(model, path, REPO, "deepfill", official)


def export(model) -> dict:
    if model.config.arch != "official":
        raise CheckpointError(f"this inpaint model's generator is {model.config.arch!r}; only arch='official' "
                              "(DeepFill v2's two-stage generator) runs in their code")
    return {"G": {k[len("netG."):]: v.detach().cpu().clone() for k, v in model.state_dict().items()
                  if k.startswith("netG.")}}
