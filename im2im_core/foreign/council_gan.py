"""Onr/Council-GAN generator files, one per council member (`a2b_gen_{i}_{iter}.pt` =
{'a2b': AdaINGen state_dict}, or b2a), into our `council_gan` family with `arch="official"`.

Every member file beside the given one (same direction and iteration) joins the council, in
index order. dim, style_dim, mlp_dim, n_downsample, n_res, the channels and the mask count come
from the shapes; `activ` and `pad_type` from the YAML's `gen` block (defaults relu and zero, as
in their configs); do_my_style must be False (their configs' value). A b2a file becomes a model
whose domain "A" is their b.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import CheckpointError
from ..io import safe_torch_load
from .common import (agree, build_checked, imported_meta, load_mapped, map_keys, read_config, require_official,
                     shapes_of, state_dict_in)

REPO = "Onr/Council-GAN"
NAME = re.compile(r"^(a2b|b2a)_gen_(\d+)_(.+)$")


def matches(obj, cfg=None) -> bool:
    return (isinstance(obj, dict) and len(obj) == 1 and next(iter(obj)) in ("a2b", "b2a")
            and isinstance(obj[next(iter(obj))], dict) and "enc_content.model.0.conv.weight" in obj[next(iter(obj))])


def official_key(key: str) -> str:
    """Our generator key -> theirs (the AdaIN dummies are kept_mean / kept_var here)."""
    return re.sub(r"\.kept_(mean|var)$", r".running_\1", key)


def member_files(path: Path) -> list:
    """The council's files: path's siblings with the same direction and iteration, by index."""
    m = NAME.match(path.stem)
    if not m:
        return [path]
    files = {}
    for p in path.parent.glob(f"{m.group(1)}_gen_*_{m.group(3)}{path.suffix}"):
        mm = NAME.match(p.stem)
        if mm and mm.group(3) == m.group(3):
            files[int(mm.group(2))] = p
    n = 0
    while n in files:
        n += 1
    if int(m.group(2)) >= n:
        raise CheckpointError(f"{path.name}: the council's member files must be numbered 0, 1, ...; found {sorted(files)}")
    return [files[i] for i in range(n)]


def infer(sd: dict, given: dict, name: str) -> dict:
    w0 = sd["enc_content.model.0.conv.weight"]
    nd = sum(1 for k in sd if re.fullmatch(r"enc_content\.model\.\d+\.conv\.weight", k)) - 1
    nr = len({m.group(1) for k in sd if (m := re.match(rf"enc_content\.model\.{nd + 1}\.model\.(\d+)\.", k))})
    head = f"dec.model.{3 * nd + 3}.conv.weight"
    if head not in sd or "enc_style.model.6.weight" not in sd:
        raise CheckpointError(f"{name}: not a Council-GAN AdaINGen (missing {head} or enc_style.model.6.weight)")
    ch, out = int(w0.shape[1]), int(sd[head].shape[0])
    if given.get("do_my_style"):
        raise CheckpointError(f"{name}: do_my_style=True is not supported (their configs use False)")
    return {"dim": agree(given, "dim", int(w0.shape[0]), f"enc_content.model.0.conv.weight is {tuple(w0.shape)}", name),
            "n_downsample": agree(given, "n_downsample", nd, "enc_content convs", name),
            "n_res": agree(given, "n_res", nr, "enc_content residual blocks", name),
            "style_dim": agree(given, "style_dim", int(sd["enc_style.model.6.weight"].shape[0]), "enc_style.model.6.weight", name),
            "mlp_dim": agree(given, "mlp_dim", int(sd["mlp.model.0.fc.weight"].shape[0]), "mlp.model.0.fc.weight", name),
            "num_of_mask_dim_to_add": agree(given, "num_of_mask_dim_to_add", out // (ch + 1), f"{head} is {tuple(sd[head].shape)}", name),
            "channels": ch}


def load(obj, path, config=None, device="cpu"):
    name = path.name
    cfg = read_config(config)
    given = dict(cfg.get("gen", cfg))
    direction = next(iter(obj))
    files = member_files(path)
    sds = [state_dict_in(obj if p == path else safe_torch_load(p), direction, p.name, f"Council-GAN {direction} generator")
           for p in files]
    g = infer(sds[0], given, name)
    for p, sd in zip(files[1:], sds[1:]):
        infer(sd, {k: v for k, v in g.items() if k != "channels"}, p.name)
    activ, pad = given.get("activ", "relu"), given.get("pad_type", "zero")
    ours = {"in_channels": g["channels"], "out_channels": g["channels"], "members": len(files), "dim": g["dim"],
            "n_down": g["n_downsample"], "n_res": g["n_res"], "style_dim": g["style_dim"], "mlp_dim": g["mlp_dim"],
            "n_masks": g["num_of_mask_dim_to_add"], "activation": activ, "pad_type": pad, "arch": "official",
            "domains": ["A", "B"] if direction == "a2b" else ["B", "A"], "ndf": 8, "n_scales": 1}
    shapes = {f"{i}.{k}": tuple(v.shape) for i, sd in enumerate(sds) for k, v in sd.items()}
    model = build_checked("council_gan", ours, shapes, name)
    tensors = {}
    for i, (p, sd) in enumerate(zip(files, sds)):
        keymap = {official_key(k[len(f"gens.{i}."):]): k for k in model.state_dict() if k.startswith(f"gens.{i}.")}
        tensors.update(map_keys(sd, keymap, shapes_of(model), p.name, "Council-GAN AdaINGen"))
    model = load_mapped(model, tensors, name)
    official = {"gen": {k: g[k] for k in ("dim", "mlp_dim", "style_dim", "n_downsample", "n_res",
                                          "num_of_mask_dim_to_add")} | {"activ": activ, "pad_type": pad,
                                                                        "do_my_style": False},
                "direction": direction, "members": [p.name for p in files]}
    return model.to(device), imported_meta(model, path, REPO, "council_gan", official)


def export_files(model, output: Path) -> list:
    """One file per member: output's own name for member 0 and its index swapped for the others
    (a2b_gen_{i}_{iter}.pt), else NAME_{i}.pt."""
    require_official(model, REPO)
    m = NAME.match(output.stem)
    direction = m.group(1) if m else "a2b"
    sd = model.state_dict()
    out = []
    for i in range(model.config.members):
        name = f"{m.group(1)}_gen_{i}_{m.group(3)}{output.suffix}" if m else f"{output.stem}_{i}{output.suffix}"
        pre = f"gens.{i}."
        out.append((output.with_name(name), {direction: {official_key(k[len(pre):]): v.detach().cpu().clone()
                                                         for k, v in sd.items() if k.startswith(pre)}}))
    return out
