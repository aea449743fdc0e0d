"""StarGAN goldens from yunjey/stargan's model.py: `python -m training.official.stargan CHECKOUT`.

Generator(conv_dim=8, c_dim=5, repeat_num=2), run as their solver runs it: in training mode
(their test never calls eval()), so each image uses its own instance-norm statistics. The running
statistics are set to random values before saving, to show they are not used.
"""
from __future__ import annotations

import copy

import torch

from .common import commit_of, images, import_official, parse, randomize, write

REPO = "yunjey/stargan"
LABELS = ([1, 0, 0, 1, 0], [0, 1, 0, 0, 1], [0, 0, 1, 0, 0])


def main():
    args = parse(REPO)
    model = import_official(args.checkout, "model")
    G = model.Generator(conv_dim=8, c_dim=5, repeat_num=2)
    randomize(G, 3)
    g = torch.Generator().manual_seed(4)
    for name, b in G.named_buffers():
        if name.endswith("running_mean"):
            b.copy_(torch.randn(b.shape, generator=g))
        elif name.endswith("running_var"):
            b.copy_(torch.rand(b.shape, generator=g) + 0.5)
        else:
            b.fill_(1234)
    weights = copy.deepcopy(G.state_dict())
    arrays = {}
    with torch.no_grad():
        for i, x in enumerate(images(30, 3, batch=2)):
            arrays[f"x{i}"] = x
            for j, lab in enumerate(LABELS):
                c = torch.tensor([lab, lab], dtype=torch.float32)
                arrays[f"y{i}_{j}"] = G(x, c)
    out = write("stargan", REPO, commit_of(args.checkout, args.commit), arrays,
                {"weights": "200000-G.ckpt", "config": {"c_dim": 5, "g_conv_dim": 8, "g_repeat_num": 2},
                 "labels": [list(v) for v in LABELS], "mode": "train (as their solver.test)"})
    torch.save(weights, out / "200000-G.ckpt")
    print(out)


if __name__ == "__main__":
    main()
