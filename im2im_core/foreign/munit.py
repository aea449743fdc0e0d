"""NVlabs/MUNIT `gen_*.pt` files ({'a': AdaINGen state_dict, 'b': ...}) into our `munit` family
built with `arch="official"`.

The widths, depths and channels come from the tensors' shapes; `activ` and `pad_type` only from
the official YAML's `gen` block (defaults relu and reflect, as in every shipped YAML). The AdaIN
running buffers are dummies the official forward never reads: they are dropped on import and
written back as zeros/ones on export. The MLP's last layer is permuted between their AdaIN order
(bias then weight, per layer) and ours (gamma, beta, gamma, beta per block).
"""
from __future__ import annotations

import re

from ..errors import CheckpointError
from .common import (agree, build_checked, imported_meta, load_mapped, map_keys, require_official, shapes_of,
                     two_domain_gens)

REPO = "NVlabs/MUNIT"
#: the gen files hold no discriminator: an imported model gets a token one (inference never runs it)
SMALL_D = {"ndf": 8, "n_scales": 1}


def matches(obj, cfg=None) -> bool:
    """A MUNIT generator file: {'a', 'b'} whose state_dicts hold a style encoder and an MLP."""
    return (isinstance(obj, dict) and isinstance(obj.get("a"), dict) and isinstance(obj.get("b"), dict)
            and any(k.startswith("enc_style.") for k in obj["a"]) and any(k.startswith("mlp.") for k in obj["a"]))


def _count(sd: dict, pattern: str) -> int:
    return len({m.group(1) for k in sd if (m := re.match(pattern, k))})


def infer(sd: dict, given: dict, name: str) -> dict:
    """The official `gen` values one AdaINGen state_dict's shapes determine, checked against `given`."""
    need = ["enc_content.model.0.conv.weight", "mlp.model.0.fc.weight"]
    if any(k not in sd for k in need):
        raise CheckpointError(f"{name}: not a MUNIT AdaINGen state_dict (missing {[k for k in need if k not in sd]})")
    w0 = sd["enc_content.model.0.conv.weight"]
    n_down = sum(1 for k in sd if re.fullmatch(r"enc_content\.model\.\d+\.conv\.weight", k)) - 1
    n_style_down = sum(1 for k in sd if re.fullmatch(r"enc_style\.model\.\d+\.conv\.weight", k)) - 1
    last = f"enc_style.model.{n_style_down + 2}.weight"
    if n_down < 1 or last not in sd:
        raise CheckpointError(f"{name}: MUNIT keys without downsampling convs or the style head ({last!r})")
    return {"dim": agree(given, "dim", int(w0.shape[0]), f"enc_content.model.0.conv.weight is {tuple(w0.shape)}", name),
            "n_downsample": agree(given, "n_downsample", n_down, "enc_content convs", name),
            "n_res": agree(given, "n_res", _count(sd, rf"enc_content\.model\.{n_down + 1}\.model\.(\d+)\."),
                           "enc_content residual blocks", name),
            "style_dim": agree(given, "style_dim", int(sd[last].shape[0]), f"{last} is {tuple(sd[last].shape)}", name),
            "mlp_dim": agree(given, "mlp_dim", int(sd["mlp.model.0.fc.weight"].shape[0]),
                             f"mlp.model.0.fc.weight is {tuple(sd['mlp.model.0.fc.weight'].shape)}", name),
            "n_style_down": n_style_down, "input_dim": int(w0.shape[1])}


def gen_keymap(g: dict, prefix: str) -> dict:
    """official AdaINGen key -> our MUNITAutoEncoder key (under `prefix`), in the official
    state_dict's order; None marks the dummy AdaIN buffers."""
    km = {}
    nd, nr, ns = g["n_downsample"], g["n_res"], g["n_style_down"]

    def block(off, ours, norm=()):  # their Conv2dBlock registers its norm before its conv
        for o, q in norm:
            km[f"{off}.norm.{o}"] = q and f"{prefix}{ours}.norm.{q}"
        for p in ("weight", "bias"):
            km[f"{off}.conv.{p}"] = f"{prefix}{ours}.conv.{p}"

    for i in range(ns + 1):
        block(f"enc_style.model.{i}", f"enc_style.model.{i}")
    for p in ("weight", "bias"):
        km[f"enc_style.model.{ns + 2}.{p}"] = f"{prefix}enc_style.model.{ns + 2}.{p}"
    for i in range(nd + 1):
        block(f"enc_content.model.{i}", f"enc_content.model.{i}")
    for j in range(nr):
        for k in (0, 1):
            block(f"enc_content.model.{nd + 1}.model.{j}.model.{k}", f"enc_content.model.{nd + 1}.{j}.block.{k}")
    for j in range(nr):
        for k in (0, 1):
            off = f"dec.model.0.model.{j}.model.{k}"
            km[f"{off}.norm.running_mean"] = km[f"{off}.norm.running_var"] = None
            for p in ("weight", "bias"):
                km[f"{off}.conv.{p}"] = f"{prefix}dec.res.{j}.conv{k + 1}.{p}"
    for i in range(nd):
        block(f"dec.model.{2 + 2 * i}", f"dec.up.{1 + 2 * i}", (("gamma", "weight"), ("beta", "bias")))
    block(f"dec.model.{1 + 2 * nd}", f"dec.up.{2 * nd}")
    for k in range(3):
        for p in ("weight", "bias"):
            km[f"mlp.model.{k}.fc.{p}"] = f"{prefix}dec.mlp.model.{2 * k}.{p}"
    return km


def adain_order(t, dim: int):
    """Rows of the MLP's last layer between their AdaIN order and ours: the halves of every pair
    of `dim` rows swap (self-inverse)."""
    import torch

    idx = torch.arange(t.shape[0]).view(-1, 2, dim).flip(1).reshape(-1)
    return t[idx].clone()


def our_config(g: dict, cin: int, cout: int, activ: str, pad: str) -> dict:
    return {"in_channels": cin, "out_channels": cout, "dim": g["dim"], "style_dim": g["style_dim"],
            "n_down": g["n_downsample"], "n_res": g["n_res"], "n_style_down": g["n_style_down"],
            "mlp_dim": g["mlp_dim"], "activation": activ, "pad_type": pad, "arch": "official", **SMALL_D}


def load(obj, path, config=None, device="cpu"):
    """(model, meta) of an official MUNIT generator file."""
    name = getattr(path, "name", str(path))
    sds, g, cin, cout, activ, pad = two_domain_gens(obj, config, name, "MUNIT", infer, "enc_content.model.0.conv.weight")
    ours = our_config(g, cin, cout, activ, pad)
    shapes = {f"{d}.{k}": tuple(v.shape) for d, sd in sds.items() for k, v in sd.items()}
    model = build_checked("munit", ours, shapes, name)
    tensors = {}
    for d in ("a", "b"):
        km = gen_keymap(g, f"gen_{d}.")
        t = map_keys(sds[d], km, shapes_of(model), f"{name} ['{d}']", "MUNIT AdaINGen")
        last = f"gen_{d}.dec.mlp.model.4"
        for p in ("weight", "bias"):
            t[f"{last}.{p}"] = adain_order(t[f"{last}.{p}"], g["dim"] * 2 ** g["n_downsample"])
        tensors.update(t)
    model = load_mapped(model, tensors, name)
    official = {"gen": {"dim": g["dim"], "mlp_dim": g["mlp_dim"], "style_dim": g["style_dim"], "activ": activ,
                        "n_downsample": g["n_downsample"], "n_res": g["n_res"], "pad_type": pad},
                "input_dim_a": cin, "input_dim_b": cout}
    return model.to(device), imported_meta(model, path, REPO, "munit", official)


def export(model) -> dict:
    """{'a': ..., 'b': ...} in the official layout from one of our `arch="official"` MUNIT models."""
    import torch

    c = model.config
    require_official(model, REPO)
    g = {"n_downsample": c.n_down, "n_res": c.n_res, "n_style_down": c.n_style_down, "dim": c.dim}
    sd = model.state_dict()
    dim = c.dim * 2 ** c.n_down
    out = {}
    for d in ("a", "b"):
        part = {}
        for off, ours in gen_keymap(g, f"gen_{d}.").items():
            if ours is None:  # the dummy AdaIN buffers: never updated by the official code
                part[off] = (torch.zeros if off.endswith("mean") else torch.ones)(dim)
                continue
            t = sd[ours].detach().cpu().clone()
            part[off] = adain_order(t, dim) if ".dec.mlp.model.4." in ours else t
        out[d] = part
    return out
