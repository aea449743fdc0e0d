"""BicycleGAN (Zhu et al. 2017): the paper's loss terms, a tiny learning run, multimodal inference
(seeded codes, reference codes), checkpoints and the paired-data requirement.

Tiny shapes (32x32, widths of 8) on CPU with one thread.
"""
import json
import statistics

import numpy as np
import pytest
import torch

import im2im_core
from im2im_core import checkpoint
from im2im_core.config import to_dict
from im2im_core.data.datasets import ArrayPairs
from im2im_core.engine.config import OptimConfig, TrainConfig
from im2im_core.engine.trainer import check_data
from im2im_core.errors import ConfigError, InputError
from im2im_core.models import build, config_from_dict, list_models
from im2im_core.models.bicycle_gan import BicycleGAN, BicycleGANConfig
from shapes import follows_reference

TINY = dict(num_downs=5, ngf=8, nef=8, e_blocks=3, ndf=8, d_layers=2)
TERMS = ("G_GAN", "G_GAN2", "G_L1", "kl", "z_L1")


def tiny_model(seed=0, lr=2e-4, **kw) -> BicycleGAN:
    torch.manual_seed(seed)
    model = build(BicycleGANConfig(**{**TINY, **kw}))
    model.optimizers = model.configure_optimizers(TrainConfig(optim=OptimConfig(lr=lr)))
    return model


def batch(n=4, seed=0, size=32):
    """Paired and multimodal: A is a white disc on black; B is the same disc at a random grey level
    (what A does not determine, i.e. what z has to carry) on a background of the opposite sign."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    a, b = torch.full((n, 1, size, size), -1.0), torch.zeros(n, 1, size, size)
    for i in range(n):
        cy, cx = torch.randint(9, size - 9, (2,), generator=g)
        r = int(torch.randint(4, 9, (1,), generator=g))
        m = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
        level = float(torch.rand(1, generator=g)) * 1.6 - 0.8
        a[i, 0][m] = 1.0
        b[i, 0] = -0.5 * np.sign(level) if level else -0.5
        b[i, 0][m] = level
    return {"A": a, "B": b}


@pytest.fixture(scope="module")
def trained():
    """A model after a short run (shared by the learning and inference tests), and its checkpoint."""
    model = tiny_model(seed=0, lr=1e-3)
    hist = [model.train_step(batch(4, seed=s), s) for s in range(150)]
    return model, hist


@pytest.fixture(scope="module")
def ckpt(trained, tmp_path_factory):
    model, _ = trained
    return checkpoint.save(tmp_path_factory.mktemp("bicycle") / "bicycle.safetensors", model)


def test_registered_config_round_trip_defaults_and_bad_configs():
    assert "bicycle_gan" in list_models()
    cfg = BicycleGANConfig(**TINY, shared_d=True, domains=("T1w", "T2w"))
    assert config_from_dict("bicycle_gan", json.loads(json.dumps(to_dict(cfg)))) == cfg
    d = BicycleGANConfig()
    assert (d.nz, d.lambda_l1, d.lambda_kl, d.lambda_latent, d.gan_mode, d.num_downs, d.n_scales, d.shared_d) == \
        (8, 10.0, 0.01, 0.5, "lsgan", 8, 2, False)
    for bad in (dict(gan_mode="hinge"), dict(lambda_kl=-1.0), dict(nz=0), dict(e_blocks=0)):
        with pytest.raises(ConfigError):
            BicycleGAN(BicycleGANConfig(**{**TINY, **bad}))
    m = BicycleGAN(BicycleGANConfig(**TINY))
    assert m.netD2 is not None and m.D2 is not m.netD and m.directions() == ["AtoB"] and m.size_multiple() == 32
    assert BicycleGAN(BicycleGANConfig(**TINY, shared_d=True)).D2 is not None


def test_loss_terms_present_weighted_and_latent_regression_spares_the_encoder():
    out = tiny_model(seed=3).train_step(batch(), 0)
    assert set(TERMS) <= set(out) and {"G_total", "D", "D2"} <= set(out)
    assert out["G_total"] == pytest.approx(sum(out[k] for k in TERMS), rel=1e-5)
    doubled = tiny_model(seed=3, lambda_gan=2.0, lambda_gan2=2.0, lambda_l1=20.0, lambda_kl=0.02,
                         lambda_latent=1.0).train_step(batch(), 0)
    for k in TERMS:  # same weights, same draws: every term doubles
        assert doubled[k] == pytest.approx(2 * out[k], rel=1e-4), k
    assert "z_L1" not in tiny_model(seed=3, lambda_latent=0.0).train_step(batch(), 0)
    # with only the latent regression on, G's weights move and E's do not (E learns from the cVAE terms)
    m = tiny_model(seed=4, lambda_gan=0.0, lambda_gan2=0.0, lambda_l1=0.0, lambda_kl=0.0, lambda_latent=1.0)
    e0 = [p.detach().clone() for p in m.netE.parameters()]
    g0 = [p.detach().clone() for p in m.netG.parameters()]
    m.train_step(batch(), 0)
    assert all(torch.equal(a, p) for a, p in zip(e0, m.netE.parameters()))
    assert any(not torch.equal(a, p) for a, p in zip(g0, m.netG.parameters()))
    # and the cVAE terms do train E
    m = tiny_model(seed=4, lambda_gan=0.0, lambda_gan2=0.0, lambda_latent=0.0)
    e0 = [p.detach().clone() for p in m.netE.parameters()]
    m.train_step(batch(), 0)
    assert any(not torch.equal(a, p) for a, p in zip(e0, m.netE.parameters()))


def window_drop(hist, key, w=20):
    return statistics.mean(h[key] for h in hist[:w]), statistics.mean(h[key] for h in hist[-w:])


def test_tiny_run_losses_fall(trained):
    model, hist = trained
    first, last = window_drop(hist, "G_L1")
    assert last < 0.5 * first, (first, last)
    assert all(np.isfinite(h["G_total"]) and np.isfinite(h["D"]) and np.isfinite(h["D2"]) for h in hist)
    # z carries what A does not determine: E(B reference) sets the translation's level (measured 1.0
    # and 1.05 of the references' spread); the untrained model does not (-0.43, 0.0)
    corr, spread = follows_reference(model, batch)
    assert corr > 0.7 and spread > 0.4, (corr, spread)
    untrained = follows_reference(tiny_model(seed=0, lr=1e-3), batch)
    assert not (untrained[0] > 0.7 and untrained[1] > 0.4), untrained


def test_latent_regression_falls():
    """z -> G(A, z) -> E -> z. The data vary in one factor only (B's grey level), so with nz=1 the code can
    be recovered: |z - mu(E(G(A, z)))| falls well below its chance level within 220 steps. (With nz=8,
    seven dimensions have nothing in B to map to, and the term stays near chance in such a short run.)"""
    model = tiny_model(seed=0, lr=1e-3, nz=1)
    hist = [model.train_step(batch(4, seed=s), s) for s in range(220)]
    first, last = window_drop(hist, "z_L1")
    assert last < 0.8 * first, (first, last)


def test_samples_seeded_reference_code_and_round_trip(trained, ckpt):
    model, _ = trained
    model.eval()
    tr = im2im_core.load(ckpt, device="cpu", precision="fp32")
    assert tr.family == "bicycle_gan"
    # identical outputs after the safetensors round trip, for every kind of code
    x = batch(2, seed=5)["A"]
    g = torch.Generator().manual_seed(3)
    z = torch.randn(1, 8, generator=g)
    with torch.no_grad():
        for want, opts in ((model.inference_forward(x, "AtoB"), {}),
                           (model.inference_forward(x, "AtoB", z=model.resolve_samples("AtoB", {"seed": 4}, "cpu")[0]["z"]),
                            {"seed": 4})):
            torch.testing.assert_close(tr.forward_tensor(x, precision="fp32", **opts)[0]["image"], want, rtol=0, atol=1e-5)
        # the stored tensors are the trained ones: bit-identical outputs from the rebuilt model
        loaded, _ = checkpoint.load_model(ckpt)
        torch.testing.assert_close(loaded.inference_forward(x, "AtoB", z=z), model.inference_forward(x, "AtoB", z=z),
                                   rtol=0, atol=0)
    img = ((batch(1, seed=7)["A"][0, 0].numpy() + 1) * 127.5).astype(np.uint8)
    k3 = tr.translate(img, n_samples=3, seed=7, out_dtype="float32")
    assert k3.shape == (3, 32, 32)
    np.testing.assert_array_equal(k3, tr.translate(img, n_samples=3, seed=7, out_dtype="float32"))  # same seed
    other = tr.translate(img, n_samples=3, seed=8, out_dtype="float32")
    assert np.abs(k3 - other).mean() > 1e-2  # another seed, other codes
    assert min(np.abs(k3[i] - k3[j]).mean() for i in range(3) for j in range(i)) > 1e-2  # K distinct samples
    np.testing.assert_array_equal(k3[:1], tr.translate(img, n_samples=1, seed=7, out_dtype="float32"))
    # style_from: z = mu(E(ref)); it changes the output, two references differ, and it equals the direct path
    refs = [((batch(1, seed=s)["B"][0, 0].numpy() + 1) * 127.5).astype(np.uint8) for s in (11, 12)]
    plain = tr.translate(img, out_dtype="float32")
    y1, y2 = (tr.translate(img, style_from=r, out_dtype="float32") for r in refs)
    assert y1.shape == img.shape and np.abs(y1 - plain).mean() > 1e-2 and np.abs(y1 - y2).mean() > 1e-2
    lo, hi = tr.intensity.window(refs[0].astype(np.float32))
    r = torch.from_numpy(tr.intensity.normalise(refs[0], lo, hi))[None, None]
    xi = torch.from_numpy(tr.intensity.normalise(img, *tr.intensity.window(img)))[None, None]
    with torch.no_grad():
        direct = model.netG(xi, model.netE(r)[0])[0, 0].numpy()
    ilo, ihi = tr.intensity.window(img)
    np.testing.assert_allclose((y1 - ilo) / ((ihi - ilo) / 2) - 1, direct, atol=1e-4)


def test_bad_options_are_clear_errors(ckpt):
    tr = im2im_core.load(ckpt, device="cpu", precision="fp32")
    img = np.zeros((32, 32), np.float32)
    with pytest.raises(InputError, match="give one or the other"):
        tr.translate(img, style_from=img, seed=1)
    with pytest.raises(InputError, match=r"n_samples must be an integer in \[1, "):
        tr.translate(img, n_samples=0)
    with pytest.raises(InputError, match="seed must be an integer"):
        tr.translate(img, seed=1.5)
    with pytest.raises(InputError, match=r"\['target'\] not supported by family 'bicycle_gan'"):
        tr.translate(img, target="T2w")
    with pytest.raises(InputError, match=r"\['dropout_noise'\] not supported by family 'bicycle_gan'"):
        tr.translate(img, dropout_noise=True)
    with pytest.raises(InputError, match="direction 'BtoA' not offered by bicycle_gan"):
        tr.translate(img, "BtoA")


def test_needs_paired_data():
    model = tiny_model()
    assert model.needs_pairs
    rng = np.random.default_rng(0)
    a, b = rng.random((3, 32, 32)).astype(np.float32), rng.random((3, 32, 32)).astype(np.float32)
    with pytest.raises(ConfigError, match="bicycle_gan needs paired data"):
        check_data(model, ArrayPairs(a, b, paired=False))
    check_data(model, ArrayPairs(a, b, paired=True))  # no error
