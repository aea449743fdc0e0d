"""BicycleGAN goldens from junyanz/BicycleGAN's models/networks.py: `python -m training.official.bicycle_gan CHECKOUT`.

Their defaults (netG unet_256 with where_add "all", netE resnet_256 vaeLike, instance norm,
"basic" upsampling, nz 8) at ngf 2, nef 4 and one channel in and out, so the files stay small.
Inputs are 256x256 and 256x512 (8 U-Net levels); references are 256x256, the only size their
encoder's AvgPool2d(8) takes.
"""
from __future__ import annotations

import torch

from .common import commit_of, image_codes, import_official, parse, randomize, write

REPO = "junyanz/BicycleGAN"
OPTS = {"netG": "unet_256", "netE": "resnet_256", "nz": 8, "ngf": 2, "nef": 4, "input_nc": 1, "output_nc": 1,
        "where_add": "all", "upsample": "basic", "norm": "instance", "nl": "relu"}


def main():
    args = parse(REPO)
    nets = import_official(args.checkout, "models.networks")
    G = nets.define_G(1, 1, 8, 2, netG="unet_256", norm="instance", nl="relu", where_add="all", upsample="basic")
    E = nets.define_E(1, 8, 4, netE="resnet_256", norm="instance", nl="lrelu", vaeLike=True)
    randomize(G, 6)
    randomize(E, 7)
    G.eval(), E.eval()
    arrays = {}
    refs = image_codes(51, 1, [(256, 256)] * 2)
    with torch.no_grad():
        for i, ((xk, x), (rk, ref)) in enumerate(zip(image_codes(50, 1, [(256, 256), (256, 512)]), refs)):
            mu, _ = E(ref)
            z = torch.randn(1, 8, generator=torch.Generator().manual_seed(60 + i))
            arrays.update({f"x{i}": xk, f"ref{i}": rk, f"mu{i}": mu, f"z{i}": z,
                           # a random code at the small size only, its reference's at the large one: near 1 MB
                           (f"y_z{i}" if i == 0 else f"y_ref{i}"): G(x, z if i == 0 else mu)})
    out = write("bicycle_gan", REPO, commit_of(args.checkout, args.commit), arrays,
                {"weights": "latest_net_G.pth", "encoder": "latest_net_E.pth", "config": OPTS})
    torch.save(G.state_dict(), out / "latest_net_G.pth")
    torch.save(E.state_dict(), out / "latest_net_E.pth")
    print(out)


if __name__ == "__main__":
    main()
