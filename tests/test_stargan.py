"""StarGAN (Choi et al. 2018): N domains in one model, the paper's losses and update schedule, a tiny
learning run, target-label inference, multi-domain data, checkpoints and the CLI.

Tiny shapes (32x32, widths of 8) on CPU with one thread.
"""
import json
import statistics

import numpy as np
import pytest
import torch

import im2im_core
from im2im_core import checkpoint
from im2im_core.cli import main as cli_main
from im2im_core.config import to_dict
from im2im_core.data.datasets import ArrayPairs, MultiDomainArrays
from im2im_core.engine.config import OptimConfig, TrainConfig
from im2im_core.engine.factory import train_from_config
from im2im_core.engine.trainer import Trainer
from im2im_core.errors import ConfigError, InputError
from im2im_core.models import build, config_from_dict, list_models
from im2im_core.models.stargan import StarGAN, StarGANConfig
from im2im_core.nets.prior import QuantileMap

DOMAINS = ("T1w", "T2w", "PD")
TINY = dict(domains=DOMAINS, dim=8, n_res=2, ndf=8, d_layers=4)
# (background, shape) intensity of each domain: the label has to decide both
LEVELS = {0: (-1.0, 1.0), 1: (1.0, -1.0), 2: (0.0, -1.0)}


def tiny_model(seed=0, **kw) -> StarGAN:
    torch.manual_seed(seed)
    model = build(StarGANConfig(**{**TINY, **kw}))
    model.optimizers = model.configure_optimizers(TrainConfig())
    return model


def masks(n, size=32, g=None):
    """Boolean masks of one random disc or square each."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    out = torch.zeros(n, 1, size, size, dtype=torch.bool)
    for i in range(n):
        cy, cx = torch.randint(10, size - 10, (2,), generator=g)
        r = torch.randint(4, 8, (1,), generator=g)
        disc = torch.rand(1, generator=g) < 0.5
        out[i, 0] = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2 if disc else ((yy - cy).abs() <= r) & ((xx - cx).abs() <= r)
    return out


def render(m, labels):
    """Images of masks `m` in the domains `labels`."""
    bg = torch.tensor([LEVELS[int(k)][0] for k in labels])[:, None, None, None]
    fg = torch.tensor([LEVELS[int(k)][1] for k in labels])[:, None, None, None]
    return torch.where(m, fg, bg)


def batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(3, (n,), generator=g)
    return {"image": render(masks(n, g=g), labels), "label": labels}


def test_registered_config_round_trip_and_bad_configs():
    assert "stargan" in list_models()
    cfg = StarGANConfig(**TINY, n_critic=2, lambda_rec=5.0)
    back = config_from_dict("stargan", json.loads(json.dumps(to_dict(cfg))))
    assert back == cfg and back.domains == DOMAINS
    # paper defaults
    d = StarGANConfig()
    assert (d.lambda_cls, d.lambda_rec, d.lambda_gp, d.n_critic, d.lr, d.n_res) == (1.0, 10.0, 10.0, 5, 1e-4, 6)
    for bad, msg in [(dict(in_channels=1, out_channels=3), "in_channels"), (dict(n_critic=0), "n_critic"),
                     (dict(domains=("A", "A")), "distinct"), (dict(domains=("A",)), "distinct"),
                     (dict(lambda_id=-1.0), "lambda_id")]:
        with pytest.raises(ConfigError, match=msg):
            StarGAN(StarGANConfig(**{**TINY, **bad}))


def test_d_every_step_g_every_n_critic():
    model = tiny_model(n_critic=3)
    g0 = [p.detach().clone() for p in model.G.parameters()]
    d0 = [p.detach().clone() for p in model.D.parameters()]
    out = model.train_step(batch(), 0)  # (0 + 1) % 3 != 0: critic only
    assert {"D_real", "D_fake", "D_cls", "D_gp"} <= set(out) and "G_rec" not in out
    assert all(torch.equal(a, b) for a, b in zip(g0, model.G.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(d0, model.D.parameters()))
    model.train_step(batch(seed=1), 1)
    out = model.train_step(batch(seed=2), 2)  # third iteration: G as well
    assert {"G_fake", "G_cls", "G_rec"} <= set(out)
    assert not all(torch.equal(a, b) for a, b in zip(g0, model.G.parameters()))
    assert all(np.isfinite(v) for v in out.values())
    assert out["D_gp"] >= 0 and out["G_rec"] > 0


def test_loss_weights_scale_their_terms():
    out = tiny_model(seed=3, n_critic=1).train_step(batch(), 0)
    out2 = tiny_model(seed=3, n_critic=1, lambda_cls=2.0, lambda_gp=20.0, lambda_rec=20.0).train_step(batch(), 0)
    for k in ("D_cls", "D_gp"):  # the D step runs first on identical weights and draws
        assert out2[k] == pytest.approx(2 * out[k], rel=1e-4), k
    assert out2["D_real"] == pytest.approx(out["D_real"], rel=1e-5)


def test_identity_term_is_off_by_default_and_weighted():
    """lambda_id (not in the paper) adds ||G(x, c_org) - x||_1 to the generator's loss only when set."""
    assert StarGANConfig().lambda_id == 0.0
    plain = tiny_model(seed=3, n_critic=1).train_step(batch(), 0)
    one = tiny_model(seed=3, n_critic=1, lambda_id=1.0).train_step(batch(), 0)
    two = tiny_model(seed=3, n_critic=1, lambda_id=2.0).train_step(batch(), 0)
    assert "G_id" not in plain and one["G_id"] > 0
    assert two["G_id"] == pytest.approx(2 * one["G_id"], rel=1e-4)
    assert one["G_rec"] == pytest.approx(plain["G_rec"], rel=1e-5)  # same weights and draws before the G step


def test_skips_are_off_by_default_and_carry_encoder_features():
    """skips (not in the paper) add projected encoder features to the decoder at each up-sampled resolution."""
    assert StarGANConfig().skips is False
    assert not any("skips" in k for k in tiny_model().G.state_dict())  # the paper's generator, unchanged keys
    model = tiny_model(skips=True)
    assert len(model.G.skips) == model.config.n_down
    x, labels = batch()["image"], torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        y = model.G(x, labels)
        for proj in model.G.skips:
            proj.weight.zero_()
            proj.bias.zero_()
        assert y.shape == x.shape and (y - model.G(x, labels)).abs().mean() > 1e-3
    model.G(x, labels).mean().backward()  # zeroed projections still get a gradient: they can learn back
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.G.skips[0].parameters())
    # one projection per target domain: only the rows of the labels in the batch get a gradient
    model.G.zero_grad()
    model.G(x, torch.zeros(4, dtype=torch.int64)).mean().backward()
    per_domain = model.G.skips[0].weight.grad.unflatten(0, (len(DOMAINS), -1)).abs().sum((1, 2, 3, 4))
    assert per_domain[0] > 0 and per_domain[1:].sum() == 0


def test_critic_head_depth_is_the_last_layer_by_default_and_can_be_local():
    """d_src_layers=k (not in the paper) moves D_src to D's k-th layer; D_cls stays on the whole trunk."""
    assert StarGANConfig().d_src_layers == 0
    x = batch()["image"]
    with torch.no_grad():
        src, cls = tiny_model().D(x)
        local, cls2 = tiny_model(d_src_layers=2).D(x)
    assert src.shape[-1] == 32 // 2 ** 4 and local.shape[-1] == 32 // 2 ** 2 and cls.shape == cls2.shape == (4, 3)
    same = dict(tiny_model(d_src_layers=4).D.named_parameters())  # k = d_layers: the paper's layout
    assert {k: v.shape for k, v in same.items()} == {k: v.shape for k, v in tiny_model().D.named_parameters()}
    out = tiny_model(n_critic=1, d_src_layers=2).train_step(batch(), 0)
    assert all(np.isfinite(v) for v in out.values()) and out["D_gp"] > 0
    for bad in (5, -1):
        with pytest.raises(ConfigError, match="src_layers"):
            tiny_model(d_src_layers=bad)


@pytest.mark.parametrize("skips", [False, True])
def test_tiny_run_losses_fall_and_label_selects_domain(skips, seed=0):
    """n_critic=1 and 5x the paper's lr keep the run short; everything else is the paper's."""
    model = tiny_model(seed=seed, n_critic=1, lr=5e-4, skips=skips)
    hist = [model.train_step(batch(4, seed=1000 * seed + s), s) for s in range(250)]
    for key, factor in (("G_rec", 0.5), ("D_cls", 0.3)):
        first = statistics.mean(h[key] for h in hist[:20])
        last = statistics.mean(h[key] for h in hist[-20:])
        assert last < factor * first, (key, first, last)
    # new T1w shapes: the label decides the output. T2w is the domain with a bright background, so
    # its translations must be far brighter there than those to T1w and PD (dark/mid backgrounds)
    m = masks(8, g=torch.Generator().manual_seed(123))
    x = render(m, [0] * 8)
    model.eval()
    with torch.no_grad():
        outs = {k: model.inference_forward(x, f"to_{DOMAINS[k]}") for k in range(3)}
    bg = {k: y[~m].mean().item() for k, y in outs.items()}
    assert bg[1] - bg[0] > 0.3 and bg[1] - bg[2] > 0.3, bg
    assert (outs[0] - outs[2]).abs().mean() > 0.05


def test_directions_and_targets_resolve_with_clear_errors():
    model = tiny_model().eval()
    assert model.directions() == ["to_target"]
    assert model.resolve_direction(None) == "to_target"
    for spelled in ("T1w->T2w", "to_T2w", "T2w", "PD->T2w"):
        assert model.resolve_direction(spelled) == "to_T2w"
    assert model.resolve_samples("to_target", {"target": "PD"}, "cpu") == [{"target_index": 2}]
    assert model.resolve_samples("to_T2w", {}, "cpu") == [{"target_index": 1}]
    with pytest.raises(InputError, match=r"'FLAIR'.*\['T1w', 'T2w', 'PD'\]"):
        model.resolve_samples("to_target", {"target": "FLAIR"}, "cpu")
    with pytest.raises(InputError, match="needs a target"):
        model.resolve_samples("to_target", {}, "cpu")
    with pytest.raises(InputError, match="disagree"):
        model.resolve_samples("to_T2w", {"target": "PD"}, "cpu")
    with pytest.raises(InputError, match="FLAIR"):
        model.resolve_direction("FLAIR->T2w")


def test_translator_target_changes_output_and_bad_options(tmp_path):
    model = tiny_model()
    for s in range(3):
        model.train_step(batch(seed=s), s)
    path = checkpoint.save(tmp_path / "star.safetensors", model)
    tr = im2im_core.load(path, device="cpu", precision="fp32")
    assert tr.family == "stargan" and tr.domains == list(DOMAINS)
    img = np.random.default_rng(0).integers(0, 255, (32, 28), dtype=np.uint8)
    to_t2 = tr.translate(img, target="T2w", out_dtype="float32")
    to_pd = tr.translate(img, target="PD", out_dtype="float32")
    assert to_t2.shape == img.shape
    assert np.abs(to_t2 - to_pd).mean() > 1e-3  # the label changes the output
    np.testing.assert_array_equal(to_t2, tr.translate(img, direction="T1w->T2w", out_dtype="float32"))
    # identical to the in-memory model on the normalised input (round trip through .safetensors)
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        ref = model.eval().inference_forward(x, "to_PD")
    got = tr.forward_tensor(x, target="PD", precision="fp32")[0]["image"]
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-5)  # channels_last kernels round differently
    ref_sd = model.state_dict()
    assert all(torch.equal(v, ref_sd[k]) for k, v in checkpoint.inference_state(tr.model).items())
    assert set(checkpoint.inference_state(tr.model)) == {k for k in ref_sd if k.startswith("G.")}
    with pytest.raises(InputError, match=r"valid domains: \['T1w', 'T2w', 'PD'\]"):
        tr.translate(img, target="T2")
    with pytest.raises(InputError, match="needs a target"):
        tr.translate(img)
    with pytest.raises(InputError, match=r"\['n_samples'\] not supported by family 'stargan'"):
        tr.translate(img, target="T2w", n_samples=3)
    with pytest.raises(InputError, match=r"\['style_from'\] not supported"):
        tr.translate(img, target="T2w", style_from=img)


def test_target_on_a_two_domain_family_is_a_clear_error(tiny_generator_ckpt):
    tr = im2im_core.load(tiny_generator_ckpt, device="cpu", precision="fp32")
    with pytest.raises(InputError, match=r"\['target'\] not supported by family"):
        tr.translate(np.zeros((16, 16), np.float32), target="T2w")


def test_cli_translate_with_target(tmp_path, capsys):
    from PIL import Image

    path = checkpoint.save(tmp_path / "star.safetensors", tiny_model())
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 32), dtype=np.uint8)).save(tmp_path / "in.png")
    out = tmp_path / "out"
    assert cli_main(["translate", str(path), str(tmp_path / "in.png"), "-o", str(out), "--target", "PD"]) == 0
    a = np.asarray(Image.open(out / "in.png"))
    tr = im2im_core.load(path, device="cpu")
    np.testing.assert_array_equal(a, tr.translate(np.asarray(Image.open(tmp_path / "in.png")), target="PD"))
    capsys.readouterr()
    assert cli_main(["translate", str(path), str(tmp_path / "in.png"), "-o", str(out), "--target", "FLAIR"]) == 2
    assert "valid domains: ['T1w', 'T2w', 'PD']" in capsys.readouterr().err
    assert cli_main(["translate", str(path), str(tmp_path / "in.png"), "-o", str(out), "--target", "PD",
                     "--n-samples", "2"]) == 2
    assert "n_samples" in capsys.readouterr().err


def _arrays(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {name: render(masks(n, g=g), [k] * n)[:, 0].numpy() for k, name in enumerate(DOMAINS)}


def test_multi_domain_dataset_and_trainer(tmp_path):
    ds = MultiDomainArrays(_arrays())
    assert ds.domains == DOMAINS and len(ds) == 18 and ds.counts() == {"T1w": 6, "T2w": 6, "PD": 6}
    item = ds[7]
    assert item["image"].shape == (1, 32, 32) and int(item["label"]) == 1
    torch.manual_seed(0)
    cfg = StarGANConfig(**TINY, n_critic=2)
    tcfg = TrainConfig(iterations=4, batch_size=3, out_dir=str(tmp_path / "run"), sample_every=2, save_every=0,
                       progress=False, tensorboard=False, optim=OptimConfig(lr_policy="constant"))
    res = Trainer(build(cfg), ds, tcfg).fit()
    assert res["status"] == "completed" and "G_rec" in res["losses"]
    tr = im2im_core.load(res["export"], device="cpu", precision="fp32")
    assert tr.family == "stargan" and tr.translate(np.zeros((32, 32), np.float32), target="T2w").shape == (32, 32)
    # data and model must agree on being multi-domain, and on the domain names
    with pytest.raises(ConfigError, match="multi-domain data"):
        Trainer(build(cfg), ArrayPairs(np.zeros((2, 32, 32)), np.zeros((2, 32, 32))), tcfg)
    with pytest.raises(ConfigError, match="two domains A and B"):
        Trainer(build(config_from_dict("cycle_gan", {"generator": {"ngf": 8, "n_blocks": 1}})), ds, tcfg)
    with pytest.raises(ConfigError, match="differ from the model's"):
        Trainer(build(StarGANConfig(**{**TINY, "domains": ("T1w", "PD", "T2w")})), ds, tcfg)
    with pytest.raises(InputError, match="distinct"):
        MultiDomainArrays({"T1w": np.zeros((2, 8, 8))})


def test_train_from_config_mni_three_contrasts(tmp_path):
    raw = {"model": {"family": "stargan", **{**TINY, "domains": list(DOMAINS)}},
           "data": {"kind": "mni", "size": 32},
           "train": {"iterations": 2, "batch_size": 2, "out_dir": str(tmp_path / "mni"), "progress": False,
                     "tensorboard": False, "sample_every": 0}}
    trainer = train_from_config(raw)
    counts = trainer.dataset.counts()
    assert set(counts) == set(DOMAINS) and min(counts.values()) > 10
    assert trainer.result["status"] == "completed"
    with pytest.raises(ConfigError, match="FLAIR"):
        train_from_config({**raw, "model": {**raw["model"], "domains": ["T1w", "FLAIR"]}})
    from im2im_core.data import mni

    tis = mni.load_mni_tissues()
    groups = mni.split_slices(tis["brain"], n_groups=len(DOMAINS))["groups"]
    flat = np.concatenate(groups)
    assert len(flat) == len(set(flat.tolist()))  # disjoint groups...
    # ...and the trainer's data is one group per contrast, not every training slice for each
    assert sorted(counts.values()) == sorted(len(g) for g in groups), (counts, [len(g) for g in groups])
    two = mni.split_slices(tis["brain"])
    assert "groups" not in two  # the two-domain split is unchanged


# ---- intensity prior (not in the paper) ------------------------------------------------------------
PRIOR = dict(intensity_prior="match", invert_pairs=("T1w:T2w", "T1w:PD"))
#: (outer, inner) tissue levels: T1w's order flips in T2w and PD, T2w and PD share an order
TISSUE = {"T1w": (0.8, 0.0), "T2w": (-0.2, 0.9), "PD": (0.3, 0.6)}


def tissue(n, domain, seed=0):
    """Discs of one domain's outer tissue with a core of its inner tissue, on background -1."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    out = torch.full((n, 1, 32, 32), -1.0)
    for i in range(n):
        cy, cx = (int(v) for v in torch.randint(12, 20, (2,), generator=g))
        r2 = (yy - cy) ** 2 + (xx - cx) ** 2
        out[i, 0][r2 <= 100] = TISSUE[domain][0]
        out[i, 0][r2 <= 25] = TISSUE[domain][1]
    return out


def test_intensity_prior_starts_as_the_fitted_mappings_and_round_trips(tmp_path):
    """Untrained, the model is q_{s->t}: T1w's bright shape becomes T2w's dark one (inverted pair),
    T2w -> PD keeps the order (matched pair); a checkpoint keeps the fitted knots and the directions."""
    model = tiny_model(**PRIOR)
    ds = MultiDomainArrays({name: tissue(8, name)[:, 0].numpy() for name in DOMAINS})  # same discs in each
    model.prepare_data(ds)
    assert model.directions() == ["T1w->T2w", "T1w->PD", "T2w->T1w", "T2w->PD", "PD->T1w", "PD->T2w"]
    assert model.prior.maps["T1w_to_T2w"].invert and not model.prior.maps["T2w_to_PD"].invert
    images = {name: torch.stack([ds[8 * k + i]["image"] for i in range(8)]) for k, name in enumerate(DOMAINS)}

    def level(name, t):
        """Domain `name`'s windowed level of tissue t (0 outer, 1 inner): windowing keeps the order."""
        rank = 1 + sorted(TISSUE[name]).index(TISSUE[name][t])
        return float(images[name].unique()[rank])

    x = images["T1w"]
    with torch.no_grad():
        y = {d: model.eval().inference_forward(x, d, **model.resolve_samples(d, {}, "cpu")[0])
             for d in ("T1w->T2w", "T1w->PD")}
    for d, y_d in y.items():  # each tissue gets the target domain's level of that tissue
        dst = d.split("->")[1]
        for t in (0, 1):
            assert abs(float(y_d[x == level("T1w", t)].median()) - level(dst, t)) < 0.05, (d, t)
        assert float(y_d[x == -1].max()) == -1.0  # background stays background
    x, y = x[:2], y["T1w->T2w"][:2]
    path = checkpoint.save(tmp_path / "prior.safetensors", model)
    tr = im2im_core.load(path, device="cpu", precision="fp32")
    assert tr.directions() == model.directions()
    got = tr.forward_tensor(x, direction="T1w->T2w", precision="fp32")[0]["image"]
    torch.testing.assert_close(got, y, rtol=0, atol=1e-5)
    img = ((x[0, 0].numpy() + 1) * 127.5).astype(np.uint8)
    np.testing.assert_array_equal(tr.translate(img), tr.translate(img, direction="T1w->T2w"))  # the first pair
    with pytest.raises(InputError, match="per source domain.*'S->T'"):
        tr.translate(img, direction="to_T2w")
    with pytest.raises(InputError, match="to itself"):
        tr.translate(img, direction="T2w->T2w")
    with pytest.raises(InputError, match=r"\['target'\] not supported"):
        tr.translate(img, target="T2w")


def test_intensity_prior_config_errors_and_training_step():
    with pytest.raises(ConfigError, match="invert_pairs entry 'T1w:FLAIR'"):
        tiny_model(intensity_prior="match", invert_pairs=("T1w:FLAIR",))
    with pytest.raises(ConfigError, match="need intensity_prior"):
        tiny_model(lambda_prior=1.0)
    with pytest.raises(ConfigError, match="intensity_prior 'inverse' unknown"):
        tiny_model(intensity_prior="inverse")
    model = tiny_model(**PRIOR, n_critic=1, lambda_prior=1.0, lambda_id=1.0)
    model.prepare_data(MultiDomainArrays({name: tissue(4, name)[:, 0].numpy() for name in DOMAINS}))
    knots = model.prior.maps["PD_to_T1w"].src.clone()
    out = model.train_step(batch(), 0)
    assert {"G_rec", "G_prior", "G_id", "D_gp"} <= set(out) and all(np.isfinite(v) for v in out.values())
    assert torch.equal(model.prior.maps["PD_to_T1w"].src, knots)  # buffers: fixed while training
    assert "G.decoder" in "".join(n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0)


def test_intensity_prior_trains_with_ema_and_exports_the_mappings(tmp_path):
    ds = MultiDomainArrays({name: tissue(6, name)[:, 0].numpy() for name in DOMAINS})
    torch.manual_seed(0)
    model = build(StarGANConfig(**TINY, **PRIOR, n_critic=1))
    tcfg = TrainConfig(iterations=3, batch_size=3, out_dir=str(tmp_path / "run"), sample_every=2, save_every=0,
                       ema=0.9, progress=False, tensorboard=False, optim=OptimConfig(lr_policy="constant"))
    res = Trainer(model, ds, tcfg).fit()
    assert res["status"] == "completed"
    tr = im2im_core.load(res["export"], device="cpu", precision="fp32")
    assert tr.directions()[0] == "T1w->T2w"
    for key, q in model.prior.maps.items():
        assert torch.equal(tr.model.prior.maps[key].dst, q.dst) and not torch.equal(q.dst, QuantileMap(False).dst)
