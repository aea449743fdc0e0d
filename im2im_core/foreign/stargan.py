"""yunjey/stargan `*-G.ckpt` files (a Generator state_dict, keys `main.N.*`) into our `stargan`
family built with `arch="official"`.

c_dim, g_conv_dim and g_repeat_num come from the shapes (a config that says otherwise is an
error); `selected_attrs` names the domains (default: their CelebA default when c_dim is 5, else
label0..). The instance norms' running statistics are kept but never used: their code never
calls eval(), so every image is normalised with its own statistics. Files from PyTorch 0.3 lack
num_batches_tracked (and may lack the running statistics): both are optional.
"""
from __future__ import annotations

import re

from ..errors import CheckpointError
from .common import (agree, build_checked, imported_meta, load_mapped, map_keys, read_config, require_official,
                     shapes_of, state_dict_in)

REPO = "yunjey/stargan"
CELEBA_ATTRS = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]
RENAME = (("running_mean", "kept_mean"), ("running_var", "kept_var"), ("num_batches_tracked", "kept_count"))
OPTIONAL = (r"\.(running_mean|running_var|num_batches_tracked)$",)
OURS_OPTIONAL = (r"\.kept_(mean|var|count)$",)


def matches(obj, cfg=None) -> bool:
    return (isinstance(obj, dict) and "main.0.weight" in obj and any(re.match(r"main\.\d+\.main\.0\.weight$", k)
                                                                     for k in obj))


def infer(sd: dict, given: dict, name: str) -> dict:
    w0 = sd["main.0.weight"]
    top = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"main\.(\d+)\.weight", k)))
    res = sorted({int(m.group(1)) for k in sd if (m := re.match(r"main\.(\d+)\.main\.", k))})
    w_out = sd[f"main.{top[-1]}.weight"]
    if w0.ndim != 4 or w_out.ndim != 4 or not res:
        raise CheckpointError(f"{name}: not a StarGAN generator (main.0.weight {tuple(w0.shape)}, no residual blocks)")
    n_down = sum(1 for i in top if i < res[0] and sd[f"main.{i}.weight"].ndim == 4) - 1
    channels = int(w_out.shape[0])
    return {"c_dim": agree(given, "c_dim", int(w0.shape[1]) - channels, f"main.0.weight is {tuple(w0.shape)}", name),
            "g_conv_dim": agree(given, "g_conv_dim", int(w0.shape[0]), f"main.0.weight is {tuple(w0.shape)}", name),
            "g_repeat_num": agree(given, "g_repeat_num", len(res), "residual blocks main.N.main.*", name),
            "n_down": n_down, "channels": channels}


def to_ours(key: str) -> str:
    for a, b in RENAME:
        key = re.sub(rf"\.{a}$", f".{b}", key)
    return "G." + key


def to_official(key: str) -> str:
    for a, b in RENAME:
        key = re.sub(rf"\.{b}$", f".{a}", key)
    return key[2:]


def load(obj, path, config=None, device="cpu"):
    name = getattr(path, "name", str(path))
    given = read_config(config)
    sd = state_dict_in(obj, None, name, "StarGAN G")
    g = infer(sd, given, name)
    attrs = given.get("selected_attrs") or (CELEBA_ATTRS if g["c_dim"] == 5 else [f"label{i}" for i in range(g["c_dim"])])
    if len(attrs) != g["c_dim"]:
        raise CheckpointError(f"{name}: selected_attrs names {len(attrs)} attributes but the weights have c_dim={g['c_dim']}")
    ours = {"in_channels": g["channels"], "out_channels": g["channels"], "domains": list(attrs), "dim": g["g_conv_dim"],
            "n_down": g["n_down"], "n_res": g["g_repeat_num"], "arch": "official", "ndf": 8, "d_layers": 2}
    model = build_checked("stargan", ours, {k: tuple(v.shape) for k, v in sd.items()}, name)
    keymap = {to_official(k): k for k in model.state_dict() if k.startswith("G.")}
    tensors = map_keys(sd, keymap, shapes_of(model), name, "StarGAN generator", optional=OPTIONAL)
    model = load_mapped(model, tensors, name, optional=OURS_OPTIONAL)
    official = {"c_dim": g["c_dim"], "g_conv_dim": g["g_conv_dim"], "g_repeat_num": g["g_repeat_num"],
                "selected_attrs": list(attrs)}
    return model.to(device), imported_meta(model, path, REPO, "stargan", official)


def export(model) -> dict:
    require_official(model, REPO)
    return {to_official(k): v.detach().cpu().clone() for k, v in model.state_dict().items() if k.startswith("G.")}
