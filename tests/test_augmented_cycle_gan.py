"""Augmented CycleGAN (Almahairi et al. 2018): the paper's loss terms, a tiny learning run, multimodal
inference (seeded latents, the latent of a reference pair), tile-aware pooling, checkpoints.

Tiny shapes (32x32, widths of 8) on CPU with one thread.
"""
import statistics

import numpy as np
import pytest
import torch

import im2im_core
from im2im_core.errors import ConfigError, InputError
from im2im_core.inference import Translator
from im2im_core.models import build, list_models
from im2im_core.models.augmented_cycle_gan import AugmentedCycleGAN, AugmentedCycleGANConfig, GlobalMeanPool
from im2im_core.tiling import _finish_collect
from shapes import grey_level_batch as batch
from shapes import engine_run, follows_reference, round_trips, saved_after, tiny_family

TINY = dict(z_dim=8, ngf=8, n_res=1, nef=8, ndf=8, d_layers=2, ndf_z=16)
TERMS = ("GAN_A", "GAN_B", "GAN_Za", "GAN_Zb", "cyc_A", "cyc_B", "cyc_Za", "cyc_Zb")


def tiny_model(seed=0, **kw) -> AugmentedCycleGAN:
    return tiny_family(AugmentedCycleGANConfig, TINY, seed, **kw)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return saved_after(tiny_model(), 3, tmp_path_factory.mktemp("augcgan") / "augcgan.safetensors")


def test_registered_config_round_trip_defaults_and_bad_configs():
    assert "augmented_cycle_gan" in list_models()
    cfg = AugmentedCycleGANConfig(**TINY, lambda_z_b=0.5, domains=("T1w", "T2w"))
    assert round_trips("augmented_cycle_gan", cfg)
    d = AugmentedCycleGANConfig()
    assert (d.z_dim, d.lambda_A, d.lambda_B, d.lambda_z_a, d.lambda_z_b, d.lambda_gan, d.gan_mode) == \
        (16, 1.0, 1.0, 1.0, 1.0, 1.0, "lsgan")
    for bad in (dict(gan_mode="hinge"), dict(lambda_A=-1.0), dict(z_dim=0), dict(n_down=-1)):
        with pytest.raises(ConfigError):
            AugmentedCycleGAN(AugmentedCycleGANConfig(**{**TINY, **bad}))
    m = build(AugmentedCycleGANConfig(**TINY, in_channels=1, out_channels=3))  # RGB <-> gray pairs
    with torch.no_grad():
        assert m.inference_forward(torch.zeros(1, 1, 16, 16), "AtoB").shape == (1, 3, 16, 16)
        assert m.E_B(torch.zeros(1, 1, 16, 16), torch.zeros(1, 3, 16, 16)).shape == (1, 8)


def test_loss_terms_present_and_weighted():
    out = tiny_model(seed=3).train_step(batch(), 0)
    assert set(TERMS) <= set(out) and {"G_total", "D_A", "D_B", "D_Za", "D_Zb"} <= set(out)
    assert out["G_total"] == pytest.approx(sum(out[k] for k in TERMS), rel=1e-5)
    doubled = tiny_model(seed=3, lambda_gan=2.0, lambda_gan_z=2.0, lambda_A=2.0, lambda_B=2.0, lambda_z_a=2.0,
                         lambda_z_b=2.0).train_step(batch(), 0)
    for k in TERMS:  # same weights, same draws: every term doubles
        assert doubled[k] == pytest.approx(2 * out[k], rel=1e-4), k
    off = tiny_model(seed=3, lambda_z_a=0.0, lambda_z_b=0.0).train_step(batch(), 0)
    assert off["cyc_Za"] == 0 and off["cyc_Zb"] == 0 and off["cyc_A"] == pytest.approx(out["cyc_A"], rel=1e-5)


def test_tiny_run_cycle_losses_fall():
    # a 2-d latent: recovering 8 dims from a generated image (the latent cycles) takes far more than
    # this budget of steps (as MUNIT's style reconstruction does); 2 dims show the mechanism in 160 steps
    model = tiny_model(seed=0, lr=1e-3, z_dim=2, nef=16)
    untrained = follows_reference(model, batch)
    hist = [model.train_step(batch(4, seed=s), s) for s in range(160)]

    def window(key, part):
        return statistics.mean(h[key] for h in (hist[:20] if part == "first" else hist[-20:]))

    for key, factor in (("cyc_A", 0.5), ("cyc_B", 0.7), ("cyc_Za", 0.75), ("cyc_Zb", 0.75)):
        assert window(key, "last") < factor * window(key, "first"), (key, window(key, "first"), window(key, "last"))
    assert all(np.isfinite(h["G_total"]) and np.isfinite(h["D_Za"]) for h in hist)
    # the latent carries B's grey level: E_B(a, reference) sets the translation's level (measured 0.97
    # and 0.88 of the references' spread); untrained it does not (-0.02, 0.0)
    corr, spread = follows_reference(model, batch)
    assert corr > 0.7 and spread > 0.4, (corr, spread)
    assert not (untrained[0] > 0.7 and untrained[1] > 0.4), untrained


def test_global_mean_pool_whole_image_mean_from_tiles():
    """The tiler's statistics over the parts of the tiles they own give the whole image's mean."""
    pool = GlobalMeanPool(3)
    x = torch.randn(1, 3, 8, 12) + torch.tensor([1.0, -2.0, 0.5])[None, :, None, None]
    whole = pool(x)
    torch.testing.assert_close(whole, x.mean(dim=(2, 3)))
    pool.collector = []
    for part in (x[..., :5], x[..., 5:]):
        pool(part)
    _finish_collect([pool])
    torch.testing.assert_close(pool(x[..., :5].repeat(2, 1, 1, 1)), whole.expand(2, -1), rtol=1e-5, atol=1e-5)


def test_samples_seeded_reference_latent_and_round_trip(ckpt):
    model, path = ckpt
    tr = im2im_core.load(path, device="cpu", precision="fp32")
    assert tr.family == "augmented_cycle_gan"
    mem = Translator(model, {}, torch.device("cpu"), precision="fp32")  # the model that was saved
    img = np.random.default_rng(0).integers(0, 255, (32, 28), dtype=np.uint8)
    ref = np.random.default_rng(3).integers(0, 255, (32, 32), dtype=np.uint8)
    k3 = tr.translate(img, n_samples=3, seed=7, out_dtype="float32")
    assert k3.shape == (3, 32, 28)
    # safetensors round trip: identical outputs for every kind of option
    np.testing.assert_array_equal(k3, mem.translate(img, n_samples=3, seed=7, out_dtype="float32"))
    for kw in ({}, {"style_from": ref}, {"seed": 2}):
        for direction in ("AtoB", "BtoA"):
            np.testing.assert_array_equal(tr.translate(img, direction, out_dtype="float32", **kw),
                                          mem.translate(img, direction, out_dtype="float32", **kw))
    np.testing.assert_array_equal(k3, tr.translate(img, n_samples=3, seed=7, out_dtype="float32"))  # same seed
    other = tr.translate(img, n_samples=3, seed=8, out_dtype="float32")
    assert np.abs(k3 - other).mean() > 1e-3  # another seed, other latents
    assert min(np.abs(k3[i] - k3[j]).mean() for i in range(3) for j in range(i)) > 1e-4  # K distinct samples
    np.testing.assert_array_equal(k3[:1], tr.translate(img, n_samples=1, seed=7, out_dtype="float32"))
    st = tr.translate(np.stack([img, img]), n_samples=2, seed=7, out_dtype="float32")  # a stack shares the codes
    assert st.shape == (2, 2, 32, 28)
    np.testing.assert_allclose(st[:, 0], st[:, 1], atol=1e-5)
    # no option: z = 0, the prior's mean
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        want = model.eval().G_AB(x, torch.zeros(2, 8))
    torch.testing.assert_close(tr.forward_tensor(x, precision="fp32")[0]["image"], want, rtol=0, atol=1e-5)
    # style_from: the latent of the pair (input, reference) changes the output and equals E_B(x, ref) -> G_AB
    y_ref = tr.translate(img, style_from=ref, out_dtype="float32")
    assert y_ref.shape == img.shape and np.abs(y_ref - tr.translate(img, out_dtype="float32")).mean() > 1e-3
    assert np.abs(y_ref - tr.translate(img, style_from=np.flipud(255 - ref), out_dtype="float32")).mean() > 1e-3
    norm = lambda a: torch.from_numpy(tr.intensity.normalise(a, *tr.intensity.window(a.astype(np.float32))))  # noqa: E731
    xi, r = norm(img)[None, None], norm(ref)[None, None]
    with torch.no_grad():
        z = model.E_B(xi, torch.nn.functional.interpolate(r, size=(32, 28), mode="bilinear", antialias=True))
        direct = model.G_AB(xi, z)[0, 0].numpy()
    lo, hi = tr.intensity.window(img.astype(np.float32))
    np.testing.assert_allclose((y_ref - lo) / ((hi - lo) / 2) - 1, direct, atol=1e-4)
    # the other direction takes z_a = E_A(ref, x)
    assert np.abs(tr.translate(img, "BtoA", style_from=ref, out_dtype="float32")
                  - tr.translate(img, "BtoA", out_dtype="float32")).mean() > 1e-3


def test_tiled_reference_latent_is_one_code_and_bf16_runs(ckpt):
    """Tiled inference with a reference: with thumbnail statistics the tile-aware pooling gives every
    tile the same latent (per-tile pooling would give each tile its own); the exact default streams
    the image (one latent, from the whole image: the untiled result); the pure-bf16 CPU path runs
    and stays close."""
    _, path = ckpt
    tr = im2im_core.load(path, device="cpu", precision="fp32")
    img = np.random.default_rng(1).integers(0, 255, (64, 64), dtype=np.uint8).astype(np.float32)
    ref = np.random.default_rng(2).integers(0, 255, (48, 48), dtype=np.uint8).astype(np.float32)
    codes = []
    hook = tr.model.E_B.head.register_forward_hook(lambda mod, inp, out: codes.append(out.detach().clone()))
    try:
        for stats in ("thumbnail", "exact"):
            codes.clear()
            # tiles of 24: more than the four tiles' pixels an unstreamable model runs in one pass
            y = tr.translate(img, tile=24, overlap=8, norm_stats=stats, style_from=ref, out_dtype="float32")
            assert y.shape == img.shape and np.isfinite(y).all()
            if stats == "exact":  # streamed: one latent of the whole image, the untiled result
                assert len(codes) == 1
                whole = tr.translate(img, style_from=ref, out_dtype="float32")
                assert np.abs(y - whole).max() <= 1e-4 * 255
                continue
            assert len(codes) >= 4, stats  # the tiles (after the statistics passes)
            for z in codes[-4:]:
                torch.testing.assert_close(z, codes[-1], rtol=0, atol=0)
    finally:
        hook.remove()
    bf = im2im_core.load(path, device="cpu", precision="bf16")
    y16, y32 = bf.translate(img, n_samples=2, seed=3), tr.translate(img, n_samples=2, seed=3)
    assert np.isfinite(y16).all() and np.abs(y16 - y32).mean() < 0.05 * 255
    r16 = bf.translate(img, style_from=ref)
    assert np.abs(r16 - tr.translate(img, style_from=ref)).mean() < 0.05 * 255


def test_bad_options_are_clear_errors(ckpt):
    _, path = ckpt
    tr = im2im_core.load(path, device="cpu", precision="fp32")
    img = np.zeros((32, 32), np.float32)
    with pytest.raises(InputError, match="give one or the other"):
        tr.translate(img, style_from=img, n_samples=2)
    with pytest.raises(InputError, match=r"n_samples must be an integer in \[1, "):
        tr.translate(img, n_samples=0)
    with pytest.raises(InputError, match="seed must be an integer"):
        tr.translate(img, seed="x")
    with pytest.raises(InputError, match="style_from must be one 2D reference"):
        tr.translate(img, style_from=np.zeros((2, 32, 32), np.float32))
    with pytest.raises(InputError, match="style_from.*1 channel"):
        tr.translate(img, style_from=np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(InputError, match=r"\['target'\] not supported by family 'augmented_cycle_gan'"):
        tr.translate(img, target="T2w")


def test_trainer_runs_and_exports(tmp_path):
    """The shared engine trains the family (visuals included) and its export loads for inference."""
    res, tr = engine_run(AugmentedCycleGANConfig(**TINY), tmp_path / "run")
    assert res["status"] == "completed" and {"cyc_A", "cyc_Zb", "D_Za"} <= set(res["losses"])
    assert tr.family == "augmented_cycle_gan"
    assert tr.translate(np.zeros((32, 32), np.float32), n_samples=2, seed=1).shape == (2, 32, 32)
