"""AttentionGAN goldens from Ha0Tang/AttentionGAN's models/networks.py (ResnetGenerator_our):
`python -m training.official.attentiongan CHECKOUT`. ngf 8 and 2 blocks keep the file small."""
from __future__ import annotations

import torch

from .common import commit_of, images, import_official, parse, randomize, write

REPO = "Ha0Tang/AttentionGAN"


def main():
    args = parse(REPO)
    nets = import_official(args.checkout, "models.networks")
    G = nets.ResnetGenerator_our(3, 3, ngf=8, n_blocks=2).eval()
    randomize(G, 5)
    arrays = {}
    with torch.no_grad():
        for i, x in enumerate(images(40, 3)):
            arrays[f"x{i}"], arrays[f"y{i}"] = x, G(x)[0]
    out = write("attentiongan", REPO, commit_of(args.checkout, args.commit), arrays,
                {"weights": "latest_net_G_A.pth", "config": {"netG": "our", "ngf": 8, "n_blocks": 2}})
    torch.save(G.state_dict(), out / "latest_net_G_A.pth")
    print(out)


if __name__ == "__main__":
    main()
