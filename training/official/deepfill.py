"""DeepFill v2 goldens from nipponjo/deepfillv2-pytorch's model/networks.py:
`python -m training.official.deepfill CHECKOUT`. Generator(cnum_in=5, cnum=8) keeps the file
small (their release: cnum 48); inputs as their Generator.infer builds them."""
from __future__ import annotations

import numpy as np
import torch

from .common import commit_of, images, import_official, parse, randomize, write

REPO = "nipponjo/deepfillv2-pytorch"


def masks(seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for h, w in ((32, 32), (48, 40)):
        m = np.zeros((1, 1, h, w), np.float32)
        for _ in range(2):
            y, x = rng.integers(0, h - 8), rng.integers(0, w - 8)
            m[..., y:y + rng.integers(4, 12), x:x + rng.integers(4, 12)] = 1
        out.append(torch.from_numpy(m))
    return out


def main():
    args = parse(REPO)
    nets = import_official(args.checkout, "model.networks")
    G = nets.Generator(cnum_in=5, cnum_out=3, cnum=8)
    randomize(G, 140)
    G.eval()
    arrays = {}
    with torch.no_grad():
        for i, (x, m) in enumerate(zip(images(150, 3), masks(151))):
            known = x * (1 - m)
            ones = torch.ones_like(known)[:, :1]
            _, stage2 = G(torch.cat([known, ones, ones * m], 1), m)
            arrays.update({f"x{i}": x, f"mask{i}": m, f"y{i}": x * (1 - m) + stage2 * m})
    out = write("deepfill", REPO, commit_of(args.checkout, args.commit), arrays,
                {"weights": "states_pt_places2.pth", "config": {"cnum_in": 5, "cnum": 8}})
    torch.save({"G": G.state_dict()}, out / "states_pt_places2.pth")
    print(out)


if __name__ == "__main__":
    main()
