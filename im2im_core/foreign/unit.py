"""mingyuliutw/UNIT (master, PyTorch) `gen_*.pt` files ({'a': VAEGen state_dict, 'b': ...}) into
our `unit` family built with `arch="official"` (nothing tied, their layer norm).

dim, n_downsample, n_res and the channels come from the shapes; `activ` and `pad_type` from the
YAML's `gen` block (defaults relu and reflect). Translation a->b is gen_b.dec(gen_a.enc(x)), the
latent's mean, as their test script does.
"""
from __future__ import annotations

import re

from ..errors import CheckpointError
from .common import agree, build_checked, imported_meta, load_mapped, map_keys, shapes_of, two_domain_gens

REPO = "mingyuliutw/UNIT"
SIDES = {"a": ("E1", "G1"), "b": ("E2", "G2")}


def matches(obj, cfg=None) -> bool:
    return (isinstance(obj, dict) and isinstance(obj.get("a"), dict) and isinstance(obj.get("b"), dict)
            and "enc.model.0.conv.weight" in obj["a"] and not any(k.startswith("enc_style.") for k in obj["a"]))


def infer(sd: dict, given: dict, name: str) -> dict:
    w0 = sd.get("enc.model.0.conv.weight")
    if w0 is None:
        raise CheckpointError(f"{name}: not a UNIT VAEGen state_dict (no enc.model.0.conv.weight)")
    nd = sum(1 for k in sd if re.fullmatch(r"enc\.model\.\d+\.conv\.weight", k)) - 1
    nr = len({m.group(1) for k in sd if (m := re.match(rf"enc\.model\.{nd + 1}\.model\.(\d+)\.", k))})
    return {"dim": agree(given, "dim", int(w0.shape[0]), f"enc.model.0.conv.weight is {tuple(w0.shape)}", name),
            "n_downsample": agree(given, "n_downsample", nd, "enc convs", name),
            "n_res": agree(given, "n_res", nr, "enc residual blocks", name), "input_dim": int(w0.shape[1])}


def keymap(g: dict, enc: str, dec: str) -> dict:
    """official VAEGen key -> ours, in their order (norm before conv in each Conv2dBlock)."""
    km, nd, nr = {}, g["n_downsample"], g["n_res"]

    def block(off, ours, norm=False):
        if norm:
            km[f"{off}.norm.gamma"], km[f"{off}.norm.beta"] = f"{ours}.norm.weight", f"{ours}.norm.bias"
        km[f"{off}.conv.weight"], km[f"{off}.conv.bias"] = f"{ours}.conv.weight", f"{ours}.conv.bias"

    for i in range(nd + 1):
        block(f"enc.model.{i}", f"vae.{enc}.private.model.{i}")
    for j in range(nr):
        for k in (0, 1):
            block(f"enc.model.{nd + 1}.model.{j}.model.{k}", f"vae.{enc}.private.model.{nd + 1}.{j}.block.{k}")
    for j in range(nr):
        for k in (0, 1):
            block(f"dec.model.0.model.{j}.model.{k}", f"vae.{dec}.private.model.0.{j}.block.{k}")
    for i in range(nd):
        block(f"dec.model.{2 + 2 * i}", f"vae.{dec}.private.model.{2 + 2 * i}", norm=True)
    block(f"dec.model.{1 + 2 * nd}", f"vae.{dec}.private.model.{1 + 2 * nd}")
    return km


def load(obj, path, config=None, device="cpu"):
    name = getattr(path, "name", str(path))
    sds, g, cin, cout, activ, pad = two_domain_gens(obj, config, name, "UNIT", infer, "enc.model.0.conv.weight")
    ours = {"in_channels": cin, "out_channels": cout, "dim": g["dim"], "n_downsample": g["n_downsample"],
            "n_res": g["n_res"], "n_shared": 0, "activation": activ, "pad_type": pad, "arch": "official",
            "ndf": 8, "n_scales": 1}
    shapes = {f"{d}.{k}": tuple(v.shape) for d, sd in sds.items() for k, v in sd.items()}
    model = build_checked("unit", ours, shapes, name)
    tensors = {}
    for d, (enc, dec) in SIDES.items():
        tensors.update(map_keys(sds[d], keymap(g, enc, dec), shapes_of(model), f"{name} ['{d}']", "UNIT VAEGen"))
    model = load_mapped(model, tensors, name)
    official = {"gen": {"dim": g["dim"], "activ": activ, "n_downsample": g["n_downsample"], "n_res": g["n_res"],
                        "pad_type": pad}, "input_dim_a": cin, "input_dim_b": cout}
    return model.to(device), imported_meta(model, path, REPO, "unit", official)


def export(model) -> dict:
    c = model.config
    if getattr(c, "arch", "ours") != "official" or c.n_shared:
        raise CheckpointError("this UNIT model ties layers or uses our norms (arch='ours'); only arch='official' "
                              "models run in the official code")
    g = {"n_downsample": c.n_downsample, "n_res": c.n_res}
    sd = model.state_dict()
    return {d: {off: sd[ours].detach().cpu().clone() for off, ours in keymap(g, enc, dec).items()}
            for d, (enc, dec) in SIDES.items()}
