"""Council-GAN goldens from Onr/Council-GAN's networks.py: `python -m training.official.council_gan CHECKOUT`.

Two a2b members (dim 4, style_dim 8, mlp_dim 16, n_res 2, three masks, zero padding as in their
configs). Their constructors call .cuda(): the harness turns .cuda() into a no-op for this run.
"""
from __future__ import annotations

import torch
import yaml

from .common import commit_of, images, import_official, parse, randomize, write

REPO = "Onr/Council-GAN"
GEN = {"dim": 4, "mlp_dim": 16, "style_dim": 8, "do_my_style": False, "activ": "relu", "n_downsample": 2,
       "n_res": 2, "pad_type": "zero", "num_of_mask_dim_to_add": 3}
ITER = "00010000"


def main():
    args = parse(REPO)
    torch.nn.Module.cuda = lambda self, *a, **k: self  # CPU only, in this process
    torch.Tensor.cuda = lambda self, *a, **k: self
    nets = import_official(args.checkout, "networks")
    gens = [nets.AdaINGen(3, GEN) for _ in range(2)]
    for i, g in enumerate(gens):
        randomize(g, 110 + i)
        g.eval()
    arrays = {}
    with torch.no_grad():
        for i, x in enumerate(images(120, 3)):
            rand = torch.randn(1, GEN["style_dim"], 1, 1, generator=torch.Generator().manual_seed(130 + i))
            arrays.update({f"x{i}": x, f"rand{i}": rand.flatten(1)})
            for k, g in enumerate(gens):
                content, _ = g.encode(x)
                arrays[f"y{i}_m{k}"] = g.decode(content, rand, x)
                arrays[f"y{i}_m{k}_zero"] = g.decode(content, 0 * rand, x)
    out = write("council_gan", REPO, commit_of(args.checkout, args.commit), arrays,
                {"weights": f"a2b_gen_0_{ITER}.pt", "members": 2, "config": "config.yaml"})
    for k, g in enumerate(gens):
        torch.save({"a2b": g.state_dict()}, out / f"a2b_gen_{k}_{ITER}.pt")
    (out / "config.yaml").write_text(yaml.safe_dump({"gen": GEN, "input_dim_a": 3, "input_dim_b": 3}, sort_keys=False))
    print(out)


if __name__ == "__main__":
    main()
