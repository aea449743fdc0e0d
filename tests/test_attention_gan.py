"""Attention-guided CycleGAN (Mejjati et al. 2018): the blend, the attention output, the freeze
switch with masked discriminator inputs, a tiny learning run and the Translator path.

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
from im2im_core.engine.config import TrainConfig
from im2im_core.errors import ConfigError, InputError
from im2im_core.models import build, config_from_dict, list_models
from im2im_core.models.attention_gan import AttentionCycleGAN, AttentionCycleGANConfig
from im2im_core.nets import DiscriminatorConfig, GeneratorConfig


def tiny_config(**kw) -> AttentionCycleGANConfig:
    """Two-block ResNet generators, 2-layer PatchGANs, 8-wide attention nets."""
    return AttentionCycleGANConfig(generator=GeneratorConfig(n_blocks=2, ngf=8),
                                   discriminator=DiscriminatorConfig(n_layers=2, ndf=8), attention_ngf=8, **kw)


def tiny_model(seed=0, train=None, **kw) -> AttentionCycleGAN:
    """A tiny model with optimizers and pools attached, as the engine would do."""
    torch.manual_seed(seed)
    model = build(tiny_config(**kw))
    model.optimizers = model.configure_optimizers(train or TrainConfig(pool_size=0))
    return model


def scene(n, size=32, g=None, fg=1.0):
    """A disc of value `fg` on a textured grey background: only the disc differs between domains."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    out = torch.rand(n, 1, size, size, generator=g) * 0.4 - 0.2
    for i in range(n):
        cy, cx = torch.randint(8, size - 8, (2,), generator=g)
        r = torch.randint(4, 8, (1,), generator=g)
        out[i, 0][(yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2] = fg
    return out


def batch(n=2, seed=0):
    """Unpaired batch: white discs (A) and black discs (B)."""
    g = torch.Generator().manual_seed(seed)
    return {"A": scene(n, g=g, fg=1.0), "B": scene(n, g=g, fg=-1.0)}


def snapshot(module):
    """Copies of the parameters, to detect any update."""
    return [p.detach().clone() for p in module.parameters()]


def same(module, snap):
    """True when no parameter changed since `snapshot`."""
    return all(torch.equal(p, q) for p, q in zip(module.parameters(), snap))


def test_output_is_exact_attention_blend():
    model = tiny_model().eval()
    assert "attention_cycle_gan" in list_models()
    x = torch.rand(2, 1, 32, 28) * 2 - 1
    with torch.no_grad():
        for direction, gen, att in (("AtoB", model.F_ST, model.A_S), ("BtoA", model.F_TS, model.A_T)):
            out = model.inference_forward(x, direction)
            a, g = att(x), gen(x)
            assert torch.equal(out, a * g + (1 - a) * x)
            assert out.shape == x.shape


def test_return_attention_mask_shape_and_range():
    model = tiny_model().eval()
    x = torch.rand(3, 1, 16, 24) * 2 - 1
    with torch.no_grad():
        res = model.inference_forward(x, "BtoA", return_attention=True)
        plain = model.inference_forward(x, "BtoA")
    assert set(res) == {"image", "attention"}
    a = res["attention"]
    assert a.shape == (3, 1, 16, 24) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(res["image"], plain)
    model.check_options({"return_attention": True})
    with pytest.raises(InputError):
        model.check_options({"n_samples": 2})


def test_default_switch_is_thirty_percent_of_run():
    model = tiny_model(train=TrainConfig(iterations=200, pool_size=0))
    assert model.freeze_at == 60 and not model.attention_frozen(59) and model.attention_frozen(60)
    assert tiny_model(freeze_attention_after=7).freeze_at == 7


def test_freeze_stops_attention_updates_and_masks_discriminator_inputs():
    model = tiny_model(freeze_attention_after=2)
    seen = []
    model.D_T.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    b = batch()
    att0, gen0 = snapshot(model.A_S) + snapshot(model.A_T), snapshot(model.F_ST)
    model.train_step(b, 0)
    # before the switch: attention learns, D_T sees the full images (calls: G fake, D real, D fake)
    assert not same(torch.nn.ModuleList([model.A_S, model.A_T]), att0)
    assert torch.equal(seen[1], b["B"])
    model.train_step(b, 1)
    with torch.no_grad():
        a_t, a_s = model.A_T(b["B"]), model.A_S(b["A"])
    model.config.attention_threshold = float(a_t.median())  # a mask that keeps about half the pixels
    att2, gen2 = snapshot(model.A_S) + snapshot(model.A_T), snapshot(model.F_ST)
    for step in (2, 3):
        seen.clear()
        out = model.train_step(b, step)
        assert out["attention_frozen"] == 1.0
        assert same(torch.nn.ModuleList([model.A_S, model.A_T]), att2)  # frozen
        assert not same(model.F_ST, gen2)  # generators still train
        gen2 = snapshot(model.F_ST)
        tau = model.config.attention_threshold
        keep_t = (a_t > tau).float()
        assert 0.05 < keep_t.mean() < 0.95
        assert torch.equal(seen[1], b["B"] * keep_t)  # real target masked by A_T(t) > tau
        for fake in (seen[0], seen[2]):  # fake s' masked by the attention A_S(s) that made it
            assert not fake[(a_s <= tau).expand_as(fake)].any()
            assert fake[(a_s > tau).expand_as(fake)].abs().sum() > 0


def test_tiny_run_cycle_loss_falls():
    torch.manual_seed(0)
    model = tiny_model(freeze_attention_after=90, train=TrainConfig(pool_size=10))
    g = torch.Generator().manual_seed(1)
    hist = [model.train_step({"A": scene(4, g=g, fg=1.0), "B": scene(4, g=g, fg=-1.0)}, s) for s in range(120)]
    for key in ("cycle_A", "cycle_B"):
        first = statistics.mean(h[key] for h in hist[:20])
        last = statistics.mean(h[key] for h in hist[-20:])
        assert last < 0.5 * first, (key, first, last)
    assert all(np.isfinite(h["G_total"]) and np.isfinite(h["D_T"]) for h in hist)
    assert [h["attention_frozen"] for h in hist] == [0.0] * 90 + [1.0] * 30
    assert set(model.extra_state()) == {"A", "B"} and len(model.extra_state()["B"]["images"]) == 10


def test_translator_returns_image_and_attention(tmp_path):
    model = tiny_model()
    path = checkpoint.save(tmp_path / "att.safetensors", model)
    tr = im2im_core.load(path, device="cpu", precision="fp32")
    assert tr.family == "attention_cycle_gan"
    img = np.random.default_rng(0).integers(0, 4096, (30, 36), dtype=np.uint16)
    res = tr.translate(img, "AtoB", return_attention=True)
    assert set(res) == {"image", "attention"}
    assert res["image"].shape == img.shape and res["image"].dtype == np.uint16
    att = res["attention"]
    assert att.shape == img.shape and att.dtype == np.float32 and att.min() >= 0 and att.max() <= 1
    plain = tr.translate(img, "BtoA")
    assert isinstance(plain, np.ndarray) and plain.shape == img.shape
    with pytest.raises(InputError):
        tr.translate(img, "AtoB", n_samples=2)


def test_config_round_trip_and_validation():
    cfg = tiny_config(attention_threshold=0.2, freeze_attention_after=500, domains=("horse", "zebra"))
    back = config_from_dict("attention_cycle_gan", json.loads(json.dumps(to_dict(cfg))))
    assert back == cfg and isinstance(back.generator, GeneratorConfig)
    with pytest.raises(ConfigError):
        AttentionCycleGAN(tiny_config(in_channels=1, out_channels=3))
    with pytest.raises(ConfigError):
        AttentionCycleGAN(tiny_config(attention_threshold=1.5))
