"""pix2pix and CycleGAN: they learn (tiny, CPU), their configs round-trip, their checkpoints load."""
import json

import numpy as np
import pytest
import torch

import im2im_core
from im2im_core.checkpoint import load_model, save
from im2im_core.config import from_dict, to_dict
from im2im_core.engine.config import OptimConfig, TrainConfig
from im2im_core.errors import ConfigError, InputError
from im2im_core.intensity import Intensity
from im2im_core.models import build, config_from_dict, family_class, list_models

torch.set_num_threads(1)  # 2 shared cores: more threads only oversubscribe

P2P = {"generator": {"arch": "unet", "num_downs": 5, "ngf": 8, "norm": "batch"},
       "discriminator": {"ndf": 8, "n_layers": 2, "norm": "batch"}}
CYC = {"generator": {"ngf": 8, "n_blocks": 2}, "discriminator": {"ndf": 8, "n_layers": 2}}


def _grid(n=32):
    """Coordinate grids for smooth, structured test images."""
    return torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")


def _eval_l1(model, a, b):
    """Inference-mode L1 between G(a) and b, leaving the model in train mode."""
    model.eval()
    with torch.no_grad():
        err = (model.inference_forward(a, "AtoB") - b).abs().mean().item()
    model.train()
    return err


def test_registered():
    """Both families are buildable by name."""
    assert {"pix2pix", "cycle_gan"} <= set(list_models())


def test_pix2pix_overfits_one_pair():
    """G(A) approaches B on one 32x32 pair: L1 falls at least 5x in 300 steps."""
    torch.manual_seed(0)
    model = build(config_from_dict("pix2pix", P2P))
    model.configure_optimizers(TrainConfig(optim=OptimConfig(lr=1e-3)))
    yy, xx = _grid()
    a, b = torch.sin(3 * xx + 2 * yy)[None, None], (torch.cos(4 * yy) * xx)[None, None]
    before = _eval_l1(model, a, b)
    for step in range(300):
        losses = model.train_step({"A": a, "B": b}, step)
    after = _eval_l1(model, a, b)
    assert set(losses) == {"G_GAN", "G_L1", "D_real", "D_fake"}
    assert after < before / 5, (before, after)


def test_cycle_gan_cycle_losses_fall():
    """On tiny unpaired data the cycle losses fall to under half within 200 steps."""
    torch.manual_seed(0)
    model = build(config_from_dict("cycle_gan", CYC))
    model.configure_optimizers(TrainConfig(pool_size=10))
    yy, xx = _grid()
    A = torch.stack([torch.sin(f * xx + g * yy) for f, g in [(2, 1), (3, 2), (1, 4), (5, 1)]])[:, None]
    B = torch.stack([torch.cos(f * yy) * xx for f in (1, 2, 3, 4)])[:, None]
    cyc = []
    for step in range(200):
        g = torch.Generator().manual_seed(step)
        ia, ib = torch.randint(4, (2,), generator=g), torch.randint(4, (2,), generator=g)
        losses = model.train_step({"A": A[ia], "B": B[ib]}, step)
        cyc.append(losses["cycle_A"] + losses["cycle_B"])
    assert {"G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B"} == set(losses)
    assert np.mean(cyc[-20:]) < 0.5 * np.mean(cyc[:20]), (np.mean(cyc[:20]), np.mean(cyc[-20:]))
    assert len(model.extra_state()["fake_B"]["images"]) == 10  # pools filled, saved via extra_state


@pytest.mark.parametrize("family,overrides", [
    ("pix2pix", {"gan_mode": "lsgan", "lambda_L1": 50.0, "domains": ["T1w", "T2w"], **P2P}),
    ("cycle_gan", {"lambda_A": 5.0, "lambda_identity": 0.0, "in_channels": 3, "out_channels": 1, **CYC}),
])
def test_configs_round_trip_json(family, overrides):
    """Model and train configs survive to_dict -> JSON -> from_dict unchanged."""
    cfg = config_from_dict(family, overrides)
    again = config_from_dict(family, json.loads(json.dumps(to_dict(cfg))))
    assert again == cfg and type(again) is family_class(family).Config
    tcfg = TrainConfig(iterations=7, optim=OptimConfig(lr=1e-3, lr_policy="cosine"), ema=0.99, resume="latest")
    assert from_dict(TrainConfig, json.loads(json.dumps(to_dict(tcfg)))) == tcfg


def test_defaults_follow_the_papers():
    """pix2pix: U-Net/batch norm/vanilla GAN/L1 100; CycleGAN: ResNet/LSGAN/cycle 10/identity 0.5."""
    p = family_class("pix2pix").Config()
    assert (p.generator.arch, p.generator.norm, p.gan_mode, p.lambda_L1) == ("unet", "batch", "vanilla", 100.0)
    c = family_class("cycle_gan").Config()
    assert (c.generator.arch, c.gan_mode, c.lambda_A, c.lambda_B, c.lambda_identity) == ("resnet", "lsgan", 10.0, 10.0, 0.5)


@pytest.mark.parametrize("family,cfg", [("pix2pix", P2P), ("cycle_gan", CYC)])
def test_checkpoint_round_trip(tmp_path, family, cfg):
    """save + load rebuild the model from the file alone and give identical outputs."""
    torch.manual_seed(1)
    model = build(config_from_dict(family, cfg))
    model.configure_optimizers(TrainConfig(pool_size=2))
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    for step in range(2):  # non-trivial BatchNorm running statistics
        model.train_step({"A": x, "B": x.flip(-1)}, step)
    model.eval()
    path = save(tmp_path / "m.safetensors", model, Intensity("fixed", 0, 255), {"iterations": 2})
    loaded, meta = load_model(path)
    assert meta["provenance"]["iterations"] == 2 and meta["intensity"] == Intensity("fixed", 0, 255)
    with torch.no_grad():
        for d in model.directions():
            assert torch.equal(model.inference_forward(x, d), loaded.inference_forward(x, d))
    tr = im2im_core.load(path, device="cpu", precision="fp32")
    img = (np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8)
    xin = torch.from_numpy(Intensity.normalise(img, 0, 255))[None, None]
    with torch.no_grad():
        ref = Intensity.denormalise(model.inference_forward(xin, "AtoB").numpy()[0, 0], 0, 255)
    out = tr.translate(img)
    assert out.dtype == np.uint8 and np.abs(out.astype(float) - np.clip(np.rint(ref), 0, 255)).max() <= 1


def test_directions_options_and_visuals():
    """pix2pix is AtoB only and has test-time dropout; CycleGAN goes both ways; visuals for the grid."""
    torch.manual_seed(0)
    p2p = build(config_from_dict("pix2pix", {**P2P, "generator": {**P2P["generator"], "num_downs": 6,
                                                                   "dropout": True}})).eval()
    x = torch.rand(1, 1, 64, 64) * 2 - 1
    assert p2p.directions() == ["AtoB"] and p2p.size_multiple() == 64
    with pytest.raises(InputError, match="not offered"):
        p2p.resolve_direction("BtoA")
    with torch.no_grad():
        assert torch.equal(p2p.inference_forward(x, "AtoB"), p2p.inference_forward(x, "AtoB"))
        noisy = [p2p.inference_forward(x, "AtoB", dropout_noise=True) for _ in range(2)]
    assert not torch.equal(*noisy)
    assert not any(m.training for m in p2p.modules())  # dropout switched back off
    p2p.check_options({"dropout_noise": True})
    assert set(p2p.visuals({"A": x, "B": x})) == {"real_A", "fake_B", "real_B"}
    cyc = build(config_from_dict("cycle_gan", CYC))
    assert cyc.directions() == ["AtoB", "BtoA"] and cyc.size_multiple() == 4
    assert cyc.generator_names == ("netG_A", "netG_B") and p2p.generator_names == ("netG",)
    vis = cyc.visuals({"A": x, "B": x})
    assert set(vis) == {"real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B"}


def test_bad_model_configs():
    """Identity loss with different channel counts, bad GAN mode, unknown key: clear ConfigErrors."""
    with pytest.raises(ConfigError, match="identity loss needs in_channels == out_channels"):
        build(config_from_dict("cycle_gan", {"in_channels": 3, "out_channels": 1}))
    with pytest.raises(ConfigError, match="gan mode 'nope' unknown"):
        build(config_from_dict("pix2pix", {"gan_mode": "nope"}))
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['lambda_l1'\]"):
        config_from_dict("pix2pix", {"lambda_l1": 1})
