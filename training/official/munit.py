"""MUNIT goldens from NVlabs/MUNIT's networks.py: `python -m training.official.munit CHECKOUT`.

Small widths (dim 4, mlp_dim 16, n_res 2) keep the files small; the loader infers them from the
shapes, so the test still checks the inference. Domain a has 3 channels, b has 1.
"""
from __future__ import annotations

import torch
import yaml

from .common import commit_of, images, import_official, parse, randomize, write

REPO = "NVlabs/MUNIT"
GEN = {"dim": 4, "mlp_dim": 16, "style_dim": 8, "activ": "relu", "n_downsample": 2, "n_res": 2, "pad_type": "reflect"}
CONFIG = {"gen": GEN, "input_dim_a": 3, "input_dim_b": 1}


def main():
    args = parse(REPO)
    nets = import_official(args.checkout, "networks")
    torch.manual_seed(0)
    gen_a, gen_b = nets.AdaINGen(3, GEN), nets.AdaINGen(1, GEN)
    randomize(gen_a, 1)
    randomize(gen_b, 2)
    gen_a.eval(), gen_b.eval()
    arrays = {}
    with torch.no_grad():
        for i, (x_a, x_b, ref_a, ref_b) in enumerate(zip(images(10, 3), images(11, 1), images(12, 3), images(13, 1))):
            c_a, _ = gen_a.encode(x_a)
            c_b, _ = gen_b.encode(x_b)
            s_b = gen_b.encode(ref_b)[1]
            s_a = gen_a.encode(ref_a)[1]
            rand = torch.randn(1, GEN["style_dim"], 1, 1, generator=torch.Generator().manual_seed(20 + i))
            arrays.update({f"x_a{i}": x_a, f"x_b{i}": x_b, f"ref_a{i}": ref_a, f"ref_b{i}": ref_b,
                           f"style_b{i}": s_b.flatten(1), f"rand{i}": rand.flatten(1),
                           f"ab_ref{i}": gen_b.decode(c_a, s_b), f"ab_zero{i}": gen_b.decode(c_a, 0 * rand),
                           f"ab_rand{i}": gen_b.decode(c_a, rand), f"ba_ref{i}": gen_a.decode(c_b, s_a)})
    out = write("munit", REPO, commit_of(args.checkout, args.commit), arrays,
                {"weights": "gen_00000001.pt", "config": "config.yaml"})
    torch.save({"a": gen_a.state_dict(), "b": gen_b.state_dict()}, out / "gen_00000001.pt")
    (out / "config.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    print(out)


if __name__ == "__main__":
    main()
