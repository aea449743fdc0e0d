"""HsinYingLee/DRIT checkpoints (one dict with `enc_c`, `enc_a`, `gen`, plus discriminators and
optimizers, which inference does not need) into our `drit` family built with `arch="official"`.

concat (0/1), nz, the width and the channels of both domains come from the shapes. Their
LayerNorm keeps its affine as (C, 1, 1); ours as (C,): the import flattens it, the export
restores it. Translation a->b is gen.forward_b(enc_c.forward_a(x), z); with a reference, z is
the attribute encoder's mean (concat=1) or its code (concat=0). The export writes the three
networks; a file's discriminators and optimizer states are not carried over.
"""
from __future__ import annotations

from ..errors import CheckpointError
from ..nets.norm import GlobalLayerNorm2d
from .common import (agree, build_checked, imported_meta, load_mapped, map_keys, read_config, require_official,
                     shapes_of, state_dict_in)

REPO = "HsinYingLee/DRIT"
PARTS = ("enc_c", "enc_a", "gen")
TIED = (r"^nets\.(Ec_Y|G_Y)\.share\.",)  # the same tensors as Ec_X.share / G_X.share


def matches(obj, cfg=None) -> bool:
    return isinstance(obj, dict) and all(isinstance(obj.get(p), dict) for p in PARTS)


def prefixes(concat: int) -> list:
    """(official prefix, our prefix) in their state_dicts' order."""
    enc_c = [("enc_c.conv_share", "nets.Ec_X.share"), ("enc_c.convA", "nets.Ec_X.conv"),
             ("enc_c.convB", "nets.Ec_Y.conv")]
    if concat:
        enc_a = [(f"enc_a.{o}_{d}", f"nets.Ea_{x}.{o}") for d, x in (("A", "X"), ("B", "Y"))
                 for o in ("fc", "fcVar", "conv")]
        gen = [("gen.dec_share", "nets.G_X.share")] + [(f"gen.dec{d}{k}", f"nets.G_{x}.dec{k}")
                                                      for d, x in (("A", "X"), ("B", "Y")) for k in range(1, 5)]
    else:
        enc_a = [("enc_a.model_a", "nets.Ea_X.model"), ("enc_a.model_b", "nets.Ea_Y.model")]
        gen = [(f"gen.dec{d}{k}", f"nets.G_{x}.dec{k}") for d, x in (("A", "X"), ("B", "Y")) for k in range(1, 6)]
        gen += [("gen.mlpA", "nets.G_X.mlp"), ("gen.mlpB", "nets.G_Y.mlp")]
    return enc_c + enc_a + gen


def keymap(model, concat: int) -> dict:
    """official 'part.key' -> our key, in their order."""
    ours = list(model.state_dict())
    km = {}
    for off, pre in prefixes(concat):
        for k in ours:
            if k.startswith(pre + "."):
                km[off + k[len(pre):]] = k
    return km


def layer_norm_keys(model) -> set:
    return {f"{n}.{p}" for n, m in model.named_modules() if isinstance(m, GlobalLayerNorm2d) for p in ("weight", "bias")}


def infer(sds: dict, given: dict, name: str) -> dict:
    c, a = sds["enc_c"], sds["enc_a"]
    if "convA.0.model.1.weight" not in c or "convB.0.model.1.weight" not in c:
        raise CheckpointError(f"{name}: enc_c is not DRIT's E_content (no convA/convB.0.model.1.weight)")
    concat = 1 if "fc_A.0.weight" in a else 0 if "model_a.16.weight" in a else None
    if concat is None:
        raise CheckpointError(f"{name}: enc_a is neither E_attr_concat (fc_A.0.weight) nor E_attr (model_a.16.weight)")
    head = "fc_A.0.weight" if concat else "model_a.16.weight"
    wa, wb = c["convA.0.model.1.weight"], c["convB.0.model.1.weight"]
    return {"concat": agree(given, "concat", concat, f"enc_a has {head}", name),
            "nz": agree(given, "nz", int(a[head].shape[0]), f"enc_a.{head} is {tuple(a[head].shape)}", name),
            "dim": int(wa.shape[0]),
            "input_dim_a": agree(given, "input_dim_a", int(wa.shape[1]), f"enc_c.convA.0.model.1.weight is {tuple(wa.shape)}", name),
            "input_dim_b": agree(given, "input_dim_b", int(wb.shape[1]), f"enc_c.convB.0.model.1.weight is {tuple(wb.shape)}", name)}


def load(obj, path, config=None, device="cpu"):
    name = getattr(path, "name", str(path))
    given = read_config(config)
    sds = {p: state_dict_in(obj, p, name, f"DRIT {p}") for p in PARTS}
    g = infer(sds, given, name)
    ours = {"in_channels": g["input_dim_a"], "out_channels": g["input_dim_b"], "dim": g["dim"], "attr_dim": g["nz"],
            "arch": "official", "concat": g["concat"], "ndf": 8, "n_scales": 1, "ndf_content": 8}
    flat = {f"{p}.{k}": v for p, sd in sds.items() for k, v in sd.items()}
    model = build_checked("drit", ours, {k: tuple(v.shape) for k, v in flat.items()}, name)
    km, ln = keymap(model, g["concat"]), layer_norm_keys(model)
    flat = {k: (v.reshape(-1) if km.get(k) in ln and v.ndim == 3 else v) for k, v in flat.items()}
    tensors = map_keys(flat, km, shapes_of(model), name, f"DRIT networks (concat={g['concat']})")
    model = load_mapped(model, tensors, name, optional=TIED)
    official = {"concat": g["concat"], "nz": g["nz"], "input_dim_a": g["input_dim_a"], "input_dim_b": g["input_dim_b"]}
    return model.to(device), imported_meta(model, path, REPO, "drit", official)


def export(model) -> dict:
    c = model.config
    require_official(model, REPO)
    sd, ln = model.state_dict(), layer_norm_keys(model)
    out = {p: {} for p in PARTS}
    for off, ours in keymap(model, c.concat).items():
        part, key = off.split(".", 1)
        t = sd[ours].detach().cpu().clone()
        out[part][key] = t.view(-1, 1, 1) if ours in ln else t
    return out
