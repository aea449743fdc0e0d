"""UNIT (Liu et al. 2017): weight sharing, the paper's loss terms, a tiny learning run, inference, configs.

Tiny shapes (32x32, widths of 8) on CPU with one thread, so the file runs in well under a minute.
"""
import copy
import json
import statistics

import numpy as np
import pytest
import torch

import im2im_core
from im2im_core import checkpoint
from im2im_core.config import to_dict
from im2im_core.engine.config import TrainConfig
from im2im_core.errors import ConfigError
from im2im_core.models import build, config_from_dict, list_models
from im2im_core.models.unit import UNIT, UNITConfig
from shapes import shapes

TINY = dict(dim=8, n_res=2, n_shared=1, ndf=8, d_layers=2, n_scales=2)
TERMS = ("VAE1_kl", "VAE1_rec", "VAE2_kl", "VAE2_rec", "GAN1", "GAN2", "CC1_kl_x1", "CC1_kl_x12", "CC1_rec",
         "CC2_kl_x2", "CC2_kl_x21", "CC2_rec")


def tiny_model(seed=0, **kw) -> UNIT:
    """A small UNIT with optimizers attached, as the engine would do."""
    torch.manual_seed(seed)
    model = build(UNITConfig(**{**TINY, **kw}))
    model.optimizers = model.configure_optimizers(TrainConfig())
    return model


def batch(n=2, seed=0):
    """Unpaired batch: shapes (A) and independently drawn inverted shapes (B)."""
    g = torch.Generator().manual_seed(seed)
    return {"A": shapes(n, g=g), "B": -shapes(n, g=g)}


def shared_params(model):
    """Every parameter of the weight-tied encoder tail and generator head."""
    return list(model.E1.shared.parameters()) + list(model.G1.shared.parameters())


def test_registered_and_shared_modules_are_one_object():
    model = tiny_model()
    assert "unit" in list_models()
    assert model.E1.shared is model.E2.shared
    assert model.G1.shared is model.G2.shared
    assert model.E1.private is not model.E2.private and model.G1.private is not model.G2.private
    e1, e2 = dict(model.E1.named_parameters()), dict(model.E2.named_parameters())
    shared_names = [n for n in e1 if n.startswith("shared.")]
    assert shared_names and all(e1[n] is e2[n] for n in shared_names)
    assert all(e1[n] is not e2[n] for n in e1 if n.startswith("private."))
    g1, g2 = dict(model.G1.named_parameters()), dict(model.G2.named_parameters())
    assert all(id(g1[n]) == id(g2[n]) for n in g1 if n.startswith("shared."))
    # n_shared=0 would not be UNIT (no shared latent space)
    with pytest.raises(ConfigError):
        UNIT(UNITConfig(**{**TINY, "n_shared": 0}))


def test_shared_layers_in_one_optimizer_once_and_stepped_once():
    model = tiny_model()
    params = shared_params(model)
    before = [p.detach().clone() for p in params]
    model.train_step(batch(), 0)
    for p, p0 in zip(params, before):
        hits = [(name, opt) for name, opt in model.optimizers.items()
                for group in opt.param_groups for q in group["params"] if q is p]
        assert len(hits) == 1, f"shared parameter held {len(hits)} times"
        name, opt = hits[0]
        assert name == "gen"
        assert int(opt.state[p]["step"]) == 1  # exactly one Adam update in one train_step
        assert not torch.equal(p.detach(), p0)
    # discriminators are not touched by the generator optimizer and vice versa
    gen_ids = {id(q) for g in model.optimizers["gen"].param_groups for q in g["params"]}
    assert not gen_ids & {id(q) for q in model.D1.parameters()}


def test_checkpoint_round_trip_keeps_sharing(tmp_path):
    model = tiny_model()
    model.train_step(batch(), 0)  # weights differ from any fresh initialisation
    path = checkpoint.save(tmp_path / "unit.safetensors", model)
    tr = im2im_core.load(path, device="cpu", precision="fp32")
    loaded = tr.model
    assert tr.family == "unit" and isinstance(loaded, UNIT)
    assert loaded.E1.shared is loaded.E2.shared and loaded.G1.shared is loaded.G2.shared
    ref = model.state_dict()
    for k, v in checkpoint.inference_state(loaded).items():  # generators only are exported
        assert torch.equal(v, ref[k]), k
    w1 = loaded.E1.shared[0].block[0].conv.weight
    w2 = loaded.E2.shared[0].block[0].conv.weight
    with torch.no_grad():
        w1.add_(1.0)
    assert torch.equal(w1, w2)  # modifying one modifies the other
    with torch.no_grad():
        loaded.G2.shared[0].block[1].conv.bias.mul_(0)
    assert not loaded.G1.shared[0].block[1].conv.bias.any()


def test_generator_copies_keep_sharing_and_export(tmp_path):
    """The engine's EMA deep-copies each of `generator_names` and swaps the copies in to export."""
    model = tiny_model()
    assert model.generator_names == ("vae",) and model.E1 is model.vae["E1"]
    ema = {n: copy.deepcopy(getattr(model, n)).requires_grad_(False) for n in model.generator_names}
    assert ema["vae"]["E1"].shared is ema["vae"]["E2"].shared and ema["vae"]["G1"].shared is ema["vae"]["G2"].shared
    with torch.no_grad():
        for p in ema["vae"].parameters():
            p.mul_(0.5)
    model._modules.update(ema)
    path = checkpoint.save(tmp_path / "ema.safetensors", model)
    loaded = im2im_core.load(path, device="cpu", precision="fp32").model
    assert loaded.E1.shared is loaded.E2.shared
    assert torch.equal(loaded.E2.shared[0].block[0].conv.weight, ema["vae"]["E1"].shared[0].block[0].conv.weight)


def test_loss_terms_present_and_lambda_weighted():
    out = tiny_model(seed=3).train_step(batch(), 0)
    assert set(TERMS) <= set(out) and {"G_total", "D1", "D2"} <= set(out)
    assert out["G_total"] == pytest.approx(sum(out[k] for k in TERMS), rel=1e-5)
    assert all(np.isfinite(v) for v in out.values())
    assert out["VAE1_kl"] == out["CC1_kl_x1"]  # lambda1 = lambda3 = 0.1 weight the same KL(q1(z1|x1))
    # same seed, same data, every lambda doubled: every term doubles (the D step runs after G)
    doubled = tiny_model(seed=3, lambda0=20.0, lambda1=0.2, lambda2=200.0, lambda3=0.2, lambda4=200.0)
    out2 = doubled.train_step(batch(), 0)
    for k in TERMS + ("D1", "D2"):
        assert out2[k] == pytest.approx(2 * out[k], rel=1e-4), k
    off = tiny_model(seed=3, lambda1=0.0, lambda4=0.0).train_step(batch(), 0)
    assert off["VAE1_kl"] == 0 and off["VAE2_kl"] == 0 and off["CC1_rec"] == 0 and off["CC2_rec"] == 0
    assert off["CC1_kl_x1"] > 0  # lambda3 term unaffected


def test_tiny_run_reconstruction_and_cycle_losses_fall():
    model = tiny_model(seed=0, lr=3e-4)  # 3x the paper's Adam step, to keep the run short
    g = torch.Generator().manual_seed(1)
    hist = [model.train_step({"A": shapes(4, g=g), "B": -shapes(4, g=g)}, s) for s in range(140)]
    # L1 of the best constant image (the background), x lambda: beating it means shapes are encoded
    xs = shapes(256, g=torch.Generator().manual_seed(5))
    constant = 100.0 * (xs + 1).abs().mean().item()
    for key in ("VAE1_rec", "VAE2_rec", "CC1_rec", "CC2_rec"):
        first = statistics.mean(h[key] for h in hist[:20])
        last = statistics.mean(h[key] for h in hist[-20:])
        assert last < 0.5 * first, (key, first, last)
        assert last < 0.7 * constant, (key, last, constant)
    assert all(np.isfinite(h["D1"]) and np.isfinite(h["GAN2"]) for h in hist)


def test_inference_directions_shapes_and_determinism():
    model = tiny_model(in_channels=1, out_channels=3).eval()
    assert model.size_multiple() == 4 and model.directions() == ["AtoB", "BtoA"]
    x1, x2 = torch.rand(2, 1, 32, 24) * 2 - 1, torch.rand(3, 3, 16, 32) * 2 - 1
    with torch.no_grad():
        y12 = model.inference_forward(x1, "AtoB")
        y21 = model.inference_forward(x2, "BtoA")
        assert y12.shape == (2, 3, 32, 24) and y21.shape == (3, 1, 16, 32)
        assert torch.equal(y12, model.inference_forward(x1, "AtoB"))  # z = mu, no noise
        assert torch.equal(y12, model.G2(model.E1(x1)))
        assert y12.abs().max() <= 1
    vis = model.visuals({"A": x1, "B": torch.rand(2, 3, 32, 24)})
    assert {"real_A", "fake_B", "rec_A", "cyc_A", "real_B", "fake_A", "rec_B", "cyc_B"} <= set(vis)
    assert vis["fake_B"].shape == (2, 3, 32, 24) and vis["cyc_A"].shape == (2, 1, 32, 24)


def test_translator_round_trip_arrays(tmp_path):
    model = tiny_model()
    path = checkpoint.save(tmp_path / "u.safetensors", model)
    tr = im2im_core.load(path, device="cpu", precision="fp32")
    img = np.random.default_rng(0).integers(0, 255, (30, 34), dtype=np.uint8)
    for direction in ("AtoB", "BtoA", "A->B"):
        out = tr.translate(img, direction)
        assert out.shape == img.shape and out.dtype == np.uint8


def test_config_json_round_trip():
    cfg = UNITConfig(**TINY, gan_mode="lsgan", lambda0=1.0, domains=("T1w", "T2w"))
    data = json.loads(json.dumps(to_dict(cfg)))
    back = config_from_dict("unit", data)
    assert back == cfg and isinstance(back.domains, tuple)
    with pytest.raises(ConfigError):
        config_from_dict("unit", {**data, "lambda5": 1.0})
    with pytest.raises(ConfigError):
        UNIT(UNITConfig(**{**TINY, "gan_mode": "hinge"}))
