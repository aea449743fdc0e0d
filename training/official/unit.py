"""UNIT goldens from mingyuliutw/UNIT's networks.py (master, VAEGen): `python -m training.official.unit CHECKOUT`.

dim 8, n_res 2; domain a has 3 channels, b has 1. Their test translates with the latent's mean:
gen_b.dec(gen_a.enc(x)).
"""
from __future__ import annotations

import torch
import yaml

from .common import commit_of, images, import_official, parse, randomize, write

REPO = "mingyuliutw/UNIT"
GEN = {"dim": 8, "activ": "relu", "n_downsample": 2, "n_res": 2, "pad_type": "reflect"}
CONFIG = {"gen": GEN, "input_dim_a": 3, "input_dim_b": 1}


def main():
    args = parse(REPO)
    nets = import_official(args.checkout, "networks")
    gen_a, gen_b = nets.VAEGen(3, GEN), nets.VAEGen(1, GEN)
    randomize(gen_a, 8)
    randomize(gen_b, 9)
    gen_a.eval(), gen_b.eval()
    arrays = {}
    with torch.no_grad():
        for i, (x_a, x_b) in enumerate(zip(images(70, 3), images(71, 1))):
            arrays.update({f"x_a{i}": x_a, f"x_b{i}": x_b, f"ab{i}": gen_b.dec(gen_a.enc(x_a)),
                           f"ba{i}": gen_a.dec(gen_b.enc(x_b))})
    out = write("unit", REPO, commit_of(args.checkout, args.commit), arrays,
                {"weights": "gen_00000001.pt", "config": "config.yaml"})
    torch.save({"a": gen_a.state_dict(), "b": gen_b.state_dict()}, out / "gen_00000001.pt")
    (out / "config.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    print(out)


if __name__ == "__main__":
    main()
