"""Intensity priors: the fixed quantile mapping an unpaired generator learns a residual on."""
import numpy as np
import pytest
import torch

from im2im_core.checkpoint import load_model, save
from im2im_core.data.volume_crops import VolumeCrops
from im2im_core.engine.config import OptimConfig, TrainConfig
from im2im_core.engine.trainer import Trainer
from im2im_core.errors import ConfigError
from im2im_core.models import build, config_from_dict
from im2im_core.nets.prior import PriorResidual

torch.set_num_threads(1)
CYC = {"generator": {"ngf": 8, "n_blocks": 1}, "discriminator": {"ndf": 8, "n_layers": 2}}


def _volumes(seed=0):
    """A 'T1' volume (tissue 1 dark, tissue 2 bright) and a 'T2' volume of other anatomy with the
    contrast inverted and a different intensity curve; background exactly -1."""
    g = np.random.default_rng(seed)
    def vol():
        lab = np.zeros((24, 40, 40), np.int64)
        lab[:, 6:34, 6:34] = 1 + (g.random((24, 28, 28)) < 0.4)
        return lab
    a, b = vol(), vol()
    t1 = np.choose(a, [-1.0, -0.2, 0.6]).astype(np.float32) + g.normal(0, 0.02, a.shape).astype(np.float32) * (a > 0)
    t2 = np.choose(b, [-1.0, 0.8, -0.5]).astype(np.float32) + g.normal(0, 0.02, b.shape).astype(np.float32) * (b > 0)
    return t1, t2


def _cycle_gan(prior):
    return build(config_from_dict("cycle_gan", {**CYC, "lambda_identity": 0.0, "intensity_prior": prior}))


def test_fitted_inverted_prior_maps_one_histogram_onto_the_other():
    """After fitting on the dataset's voxels the untrained model (zero residual) maps tissue 1 of
    T1 onto tissue 1 of T2 (the inversion), keeps background at -1, and is monotone decreasing."""
    t1, t2 = _volumes()
    data = VolumeCrops([t1], [t2], crop=32, length=8, rotate=0, zoom=0, gamma=0)
    model = _cycle_gan("invert")
    Trainer(model, data, TrainConfig(iterations=1, bf16=False, ema=0, out_dir="unused"))
    g = model.netG_A
    assert isinstance(g, PriorResidual)
    x = torch.from_numpy(t1[:4, None])
    with torch.no_grad():
        y = g(x)
    assert torch.equal(y, g.mapping(x))  # the residual starts at zero
    assert (y[x <= -0.999] == -1).all()
    dark, bright = (x > -0.5) & (x < 0.2), x > 0.2  # T1 tissue 1 and 2
    assert abs(y[dark].mean().item() - 0.8) < 0.1 and abs(y[bright].mean().item() + 0.5) < 0.1
    ramp = torch.linspace(-0.9, 0.9, 50)
    out = g.mapping(ramp)
    assert (out[1:] <= out[:-1] + 1e-6).all() and out[0] > out[-1]


def test_prior_survives_the_checkpoint_and_matches_after_load(tmp_path):
    t1, t2 = _volumes(1)
    model = _cycle_gan("invert")
    Trainer(model, VolumeCrops([t1], [t2], crop=32, length=8), TrainConfig(iterations=1, bf16=False, ema=0,
                                                                           out_dir=str(tmp_path)))
    path = save(tmp_path / "m.safetensors", model)
    loaded = load_model(path)[0].eval()
    x = torch.from_numpy(t1[5:7, None])
    with torch.no_grad():
        want, got = model.eval().inference_forward(x, "AtoB"), loaded.inference_forward(x, "AtoB")
    assert torch.allclose(loaded.netG_B.dst, model.netG_B.dst)
    assert torch.allclose(want, got, atol=1e-5)


def test_unknown_prior_and_empty_foreground_are_config_errors():
    with pytest.raises(ConfigError, match="prior"):
        _cycle_gan("histogram")
    g = _cycle_gan("match").netG_A
    with pytest.raises(ConfigError, match="foreground"):
        g.fit(torch.full((1000,), -1.0), torch.rand(1000))


def test_attention_blends_with_the_mapping_instead_of_the_input():
    """With a prior, unattended pixels get q(x): the untrained model is q(x) whatever its attention."""
    from im2im_core.models import build, config_from_dict

    t1, t2 = _volumes(2)
    model = build(config_from_dict("attention_cycle_gan", {**CYC, "intensity_prior": "invert"}))
    model.prepare_data(VolumeCrops([t1], [t2], crop=32, length=8))
    x = torch.from_numpy(t1[3:5, None])
    with torch.no_grad():
        out, a = model.attend(x, "AtoB")
        q = model.F_ST.mapping(x)
    assert 0.05 < a.mean() < 0.95  # the attention is not trivially all-or-nothing here
    assert torch.allclose(out, q, atol=1e-6) and not torch.allclose(q, x, atol=0.1)


def test_lambda_prior_pulls_towards_the_mapping_and_needs_a_prior():
    t1, t2 = _volumes(3)
    model = build(config_from_dict("cycle_gan", {**CYC, "lambda_identity": 0.0, "intensity_prior": "invert",
                                                 "lambda_prior": 5.0}))
    data = VolumeCrops([t1], [t2], crop=32, length=8)
    Trainer(model, data, TrainConfig(iterations=1, bf16=False, ema=0, out_dir="unused"))
    out = model.train_step({k: v[None] for k, v in data[0].items()}, 0)
    assert out["prior_A"] == 0.0 and out["prior_B"] == 0.0  # the residual starts at zero
    out = model.train_step({k: v[None] for k, v in data[1].items()}, 1)
    assert out["prior_A"] > 0  # after one step the residual is not zero, and the term sees it
    with pytest.raises(ConfigError, match="lambda_prior"):
        build(config_from_dict("cycle_gan", {**CYC, "lambda_prior": 1.0}))


def test_unit_prior_starts_at_the_mapping_keeps_ties_and_survives_the_checkpoint(tmp_path):
    """UNIT with a prior: an untrained model translates as q (zero residual) and reconstructs its
    own domain exactly; the tied layers stay one object; export and load give the same output."""
    t1, t2 = _volumes(4)
    cfg = {"dim": 8, "n_res": 2, "ndf": 8, "n_scales": 1, "intensity_prior": "invert", "lambda_prior": 1.0}
    model = build(config_from_dict("unit", cfg))
    data = VolumeCrops([t1], [t2], crop=32, length=8)
    Trainer(model, data, TrainConfig(iterations=1, bf16=False, ema=0, out_dir=str(tmp_path)))
    assert model.E1.shared is model.E2.shared and model.G1.shared is model.G2.shared
    x = torch.from_numpy(t1[3:5, None])
    with torch.no_grad():
        ab = model.translate(x, "AtoB")
        assert torch.equal(ab, model.q12.mapping(x)) and not torch.allclose(ab, x, atol=0.1)
        assert torch.equal(model.visuals({"A": x, "B": x})["rec_A"], x)
    out = model.train_step({k: v[None] for k, v in data[0].items()}, 0)
    assert out["prior_12"] == 0.0 and out["VAE1_rec"] == 0.0
    out = model.train_step({k: v[None] for k, v in data[1].items()}, 1)
    assert out["prior_12"] > 0 and out["VAE1_rec"] > 0  # the residual moved, and both terms see it
    loaded = load_model(save(tmp_path / "u.safetensors", model))[0].eval()
    with torch.no_grad():
        assert torch.allclose(model.eval().translate(x, "BtoA"), loaded.translate(x, "BtoA"), atol=1e-5)
    with pytest.raises(ConfigError, match="lambda_prior"):
        build(config_from_dict("unit", {"lambda_prior": 1.0}))
    with pytest.raises(ConfigError, match="intensity_prior"):
        build(config_from_dict("unit", {"intensity_prior": "histogram"}))


def test_munit_prior_starts_at_the_mapping_and_styles_move_it_after_training(tmp_path):
    """MUNIT with a prior: untrained, every style gives q(x) and reconstructions are exact; after a
    few steps the residual depends on the style (the multimodal part survives the prior)."""
    t1, t2 = _volumes(5)
    cfg = {"dim": 8, "n_res": 1, "mlp_dim": 16, "ndf": 8, "d_layers": 2, "n_scales": 1, "intensity_prior": "invert"}
    model = build(config_from_dict("munit", cfg))
    data = VolumeCrops([t1], [t2], crop=32, length=8)
    Trainer(model, data, TrainConfig(iterations=1, bf16=False, ema=0, out_dir=str(tmp_path)))
    x = torch.from_numpy(t1[3:5, None])
    s1, s2 = torch.randn(1, 8, generator=torch.Generator().manual_seed(1)), torch.zeros(1, 8)
    with torch.no_grad():
        y = model.inference_forward(x, "AtoB", s1)
        assert torch.equal(y, model.q_ab.mapping(x)) and torch.equal(model.visuals({"A": x, "B": x})["rec_A"], x)
    model.train()
    for i in range(3):
        model.train_step({k: v[None] for k, v in data[i].items()}, i)
    model.eval()
    with torch.no_grad():
        d = (model.inference_forward(x, "AtoB", s1) - model.inference_forward(x, "AtoB", s2)).abs().mean()
    assert d > 1e-4
    with pytest.raises(ConfigError, match="intensity_prior"):
        build(config_from_dict("munit", {"intensity_prior": "x"}))
    with pytest.raises(ConfigError, match="lambda_prior"):
        build(config_from_dict("munit", {"lambda_prior": 1.0}))


MULTIMODAL = {  # family -> (tiny config, code size, q from A into B, prior loss terms, seed, min code effect)
    "drit": ({"dim": 8, "n_res": 1, "n_dec_res": 1, "n_attr_down": 2, "ndf": 8, "d_layers": 2, "n_scales": 1,
              "ndf_content": 16}, 8, "q_Y", ("prior_X", "prior_Y"), 6, 1e-4),
    "augmented_cycle_gan": ({"ngf": 8, "n_res": 1, "nef": 8, "n_enc_down": 2, "ndf": 8, "d_layers": 2, "ndf_z": 8,
                             "z_dim": 4}, 4, "q_AB", ("prior_AB", "prior_BA"), 7, 1e-5),
}


@pytest.mark.parametrize("family", list(MULTIMODAL))
def test_multimodal_prior_starts_at_the_mapping_codes_move_it_and_survives_the_checkpoint(tmp_path, family):
    """DRIT and Augmented CycleGAN with a prior: untrained, every code gives q(x) (and DRIT's
    self-reconstruction is exact); after a few steps the residual depends on the code and the
    pull towards q is active; the export keeps the mappings."""
    cfg, dim, q_name, terms, seed, effect = MULTIMODAL[family]
    t1, t2 = _volumes(seed)
    model = build(config_from_dict(family, {**cfg, "intensity_prior": "invert", "lambda_prior": 1.0}))
    data = VolumeCrops([t1], [t2], crop=32, length=8)
    Trainer(model, data, TrainConfig(iterations=1, bf16=False, ema=0, out_dir=str(tmp_path)))
    x = torch.from_numpy(t1[3:5, None])
    c1, c2 = torch.randn(1, dim, generator=torch.Generator().manual_seed(1)), torch.zeros(1, dim)
    with torch.no_grad():
        y = model.inference_forward(x, "AtoB", c1)
        assert torch.equal(y, getattr(model, q_name).mapping(x)) and not torch.allclose(y, x, atol=0.1)
        if family == "drit":
            assert torch.equal(model.visuals({"A": x, "B": x})["rec_A"], x)
    model.train()
    for i in range(3):
        out = model.train_step({k: v[None] for k, v in data[i].items()}, i)
    assert all(out[t] > 0 for t in terms)
    model.eval()
    with torch.no_grad():
        d = (model.inference_forward(x, "AtoB", c1) - model.inference_forward(x, "AtoB", c2)).abs().mean()
        assert d > effect
        loaded = load_model(save(tmp_path / "m.safetensors", model))[0].eval()
        assert torch.allclose(model.inference_forward(x, "BtoA", c1), loaded.inference_forward(x, "BtoA", c1), atol=1e-5)
    if family == "drit":
        assert loaded.Ec_X.shared is loaded.Ec_Y.shared  # still tied
    with pytest.raises(ConfigError, match="intensity_prior"):
        build(config_from_dict(family, {"intensity_prior": "x"}))
    with pytest.raises(ConfigError, match="lambda_prior"):
        build(config_from_dict(family, {"lambda_prior": 1.0}))


def test_bicycle_gan_prior_starts_at_the_mapping_learns_a_code_dependent_residual_and_survives_the_checkpoint(tmp_path):
    """Paired BicycleGAN with an inverted prior: untrained, G(A, z) = q(A) for every z; after a few
    steps it is closer to the paired targets than q, z moves the output and the export keeps q."""
    t1, _ = _volumes(8)
    # same anatomy, but both tissues brighter in the same order: the inverted q gets them wrong
    t2 = np.where(t1 > -0.999, np.where(t1 > 0.2, 0.7, 0.5), -1.0).astype(np.float32)
    torch.manual_seed(0)
    model = build(config_from_dict("bicycle_gan", {"ngf": 8, "num_downs": 3, "nef": 8, "e_blocks": 2, "ndf": 8,
                                                   "d_layers": 2, "n_scales": 1, "nz": 4, "intensity_prior": "invert",
                                                   "lambda_l1": 100.0}))
    data = VolumeCrops([t1], [t2], crop=32, length=8, paired=True, rotate=0, zoom=0, gamma=0)
    Trainer(model, data, TrainConfig(iterations=1, bf16=False, ema=0, out_dir=str(tmp_path), optim=OptimConfig(lr=2e-3)))
    x = torch.from_numpy(t1[3:5, None])
    z1, z2 = torch.randn(1, 4, generator=torch.Generator().manual_seed(1)), torch.zeros(1, 4)
    with torch.no_grad():
        y = model.inference_forward(x, "AtoB", z1)
        assert torch.equal(y, model.q.mapping(x)) and torch.equal(y, model.inference_forward(x, "AtoB", z2))
    pairs = [data[i] for i in range(4)]
    a, b = torch.stack([p["A"] for p in pairs]), torch.stack([p["B"] for p in pairs])

    def l1_to_target():
        with torch.no_grad():
            return (model.inference_forward(a, "AtoB", z2) - b).abs().mean().item()

    before = l1_to_target()
    model.train()
    for i in range(40):
        model.train_step({k: v[None] for k, v in data[i % 8].items()}, i)
    model.eval()
    assert l1_to_target() < 0.95 * before  # the residual learns what q gets wrong on the paired targets
    with torch.no_grad():
        assert (model.inference_forward(x, "AtoB", z1) - model.inference_forward(x, "AtoB", z2)).abs().mean() > 1e-5
        loaded = load_model(save(tmp_path / "m.safetensors", model))[0].eval()
        assert torch.allclose(model.inference_forward(x, "AtoB", z1), loaded.inference_forward(x, "AtoB", z1), atol=1e-5)
    with pytest.raises(ConfigError, match="intensity_prior"):
        build(config_from_dict("bicycle_gan", {"intensity_prior": "x"}))


def test_pix2pix_prior_starts_at_the_mapping_learns_what_it_gets_wrong_and_survives_the_checkpoint(tmp_path):
    """Paired pix2pix with an inverted prior: untrained, G(A) = q(A); after a few steps it is closer
    to the paired targets than q, and the export keeps q."""
    t1, _ = _volumes(9)
    t2 = np.where(t1 > -0.999, np.where(t1 > 0.2, 0.7, 0.5), -1.0).astype(np.float32)  # q inverts: wrong
    torch.manual_seed(0)
    model = build(config_from_dict("pix2pix", {"generator": {"arch": "unet", "num_downs": 3, "ngf": 8, "norm": "instance"},
                                               "discriminator": {"ndf": 8, "n_layers": 2, "norm": "instance"},
                                               "intensity_prior": "invert"}))
    data = VolumeCrops([t1], [t2], crop=32, length=8, paired=True, rotate=0, zoom=0, gamma=0)
    Trainer(model, data, TrainConfig(iterations=1, bf16=False, ema=0, out_dir=str(tmp_path), optim=OptimConfig(lr=2e-3)))
    pairs = [data[i] for i in range(4)]
    a, b = torch.stack([p["A"] for p in pairs]), torch.stack([p["B"] for p in pairs])
    with torch.no_grad():
        assert torch.equal(model.inference_forward(a, "AtoB"), model.netG.mapping(a))

    def l1_to_target():
        with torch.no_grad():
            return (model.inference_forward(a, "AtoB") - b).abs().mean().item()

    before = l1_to_target()
    model.train()
    for i in range(40):
        model.train_step({k: v[None] for k, v in data[i % 8].items()}, i)
    model.eval()
    assert l1_to_target() < 0.92 * before  # the residual learns what q gets wrong on the paired targets
    loaded = load_model(save(tmp_path / "m.safetensors", model))[0].eval()
    with torch.no_grad():
        assert torch.allclose(model.inference_forward(a, "AtoB"), loaded.inference_forward(a, "AtoB"), atol=1e-5)
    with pytest.raises(ConfigError, match="intensity_prior"):
        build(config_from_dict("pix2pix", {"intensity_prior": "x"}))
