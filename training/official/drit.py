"""DRIT goldens from HsinYingLee/DRIT's src/networks.py: `python -m training.official.drit CHECKOUT`.

Their widths are fixed in their code (a checkpoint is tens of MB), so the golden stores the
state_dict's names and shapes and a seed (common.seeded_state_dict redraws the weights) with the
inputs and the official outputs; one golden per --concat (1: concatenation, 0: MisINSResBlocks).
Attributes come from the attribute encoder's mean (concat=1) or its code (concat=0).
"""
from __future__ import annotations

import torch

from .common import commit_of, images, import_official, parse, seeded_state_dict, write

REPO = "HsinYingLee/DRIT"
NZ = 8


def networks(nets, concat: int):
    enc_c = nets.E_content(3, 1)
    if concat:
        enc_a = nets.E_attr_concat(3, 1, NZ, norm_layer=None, nl_layer=nets.get_non_linearity(layer_type="lrelu"))
        gen = nets.G_concat(3, 1, nz=NZ)
    else:
        enc_a, gen = nets.E_attr(3, 1, NZ), nets.G(3, 1, nz=NZ)
    return {"enc_c": enc_c, "enc_a": enc_a, "gen": gen}


def attribute(enc_a, concat: int, ref, domain: str):
    out = getattr(enc_a, f"forward_{domain}")(ref)
    return out[0] if concat else out


def main():
    args = parse(REPO)
    nets = import_official(args.checkout, "networks", stubs=())
    for concat in (1, 0):
        parts = networks(nets, concat)
        shapes = [(f"{p}.{k}", list(v.shape)) for p, m in parts.items() for k, v in m.state_dict().items()]
        sd = seeded_state_dict(shapes, 100 + concat)
        for p, m in parts.items():
            m.load_state_dict({k[len(p) + 1:]: v for k, v in sd.items() if k.startswith(p + ".")})
            m.eval()
        enc_c, enc_a, gen = parts["enc_c"], parts["enc_a"], parts["gen"]
        arrays = {}
        with torch.no_grad():
            for i, (x_a, x_b, ref_a, ref_b) in enumerate(zip(images(80, 3), images(81, 1), images(82, 3),
                                                             images(83, 1))):
                z_b, z_a = attribute(enc_a, concat, ref_b, "b"), attribute(enc_a, concat, ref_a, "a")
                rand = torch.randn(1, NZ, generator=torch.Generator().manual_seed(90 + i))
                c_a, c_b = enc_c.forward_a(x_a), enc_c.forward_b(x_b)
                arrays.update({f"x_a{i}": x_a, f"x_b{i}": x_b, f"ref_a{i}": ref_a, f"ref_b{i}": ref_b,
                               f"z_b{i}": z_b, f"rand{i}": rand, f"ab_ref{i}": gen.forward_b(c_a, z_b),
                               f"ab_rand{i}": gen.forward_b(c_a, rand), f"ba_ref{i}": gen.forward_a(c_b, z_a)})
        out = write(f"drit_concat{concat}", REPO, commit_of(args.checkout, args.commit), arrays,
                    {"concat": concat, "nz": NZ, "input_dim_a": 3, "input_dim_b": 1, "seed": 100 + concat,
                     "shapes": shapes})
        print(out)


if __name__ == "__main__":
    main()
