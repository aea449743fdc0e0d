"""Text conditioning: the caption vocabulary, the joint embedding and its ranking loss, the
synthetic scenes with exact edit targets, and the GAN-CLS and SisGAN families (registered,
learning, seeded, checkpoint round trip with the vocabulary, clear errors, and the
matching-aware discriminator term shown to matter). Tiny widths on CPU with one thread."""
import warnings

import numpy as np
import pytest
import torch

import im2im_core
from im2im_core import checkpoint
from im2im_core.data import text_scenes as ts
from im2im_core.data.datasets import CaptionedArrays, ArrayPairs
from im2im_core.engine.config import TrainConfig
from im2im_core.engine.trainer import Trainer
from im2im_core.errors import ConfigError, InputError
from im2im_core.intensity import Intensity
from im2im_core.models import build, list_models
from im2im_core.models.gan_cls import GANCLSConfig
from im2im_core.models.sisgan import SisGANConfig
from im2im_core.nets.text import JointEmbedding
from im2im_core.text import build_vocabulary, encode, fit_embedding, pairwise_ranking, recall_at_k

from shapes import round_trips

torch.set_num_threads(1)

TINY = {"ngf": 8, "ndf": 8, "text_dim": 32, "embed_steps": 30, "embed_batch": 32, "image_size": 32}


def scenes(n, seed, n_captions=3, size=32):
    rng = np.random.default_rng(seed)
    sc = [ts.random_scene(rng) for _ in range(n)]
    imgs = np.stack([ts.render(s, size).transpose(1, 2, 0) for s in sc])
    return sc, imgs, [[ts.caption(s, rng) for _ in range(n_captions)] for s in sc]


@pytest.fixture(scope="module")
def data():
    return scenes(96, 0)


def edits(data, seed=5):
    """Captions of two random edits of each scene: relevant, but mismatching."""
    rng = np.random.default_rng(seed)
    return [[ts.caption(ts.edit(s, rng), rng) for _ in range(2)] for s in data[0]]


def trained(family, data, tmp_path, iterations=60, relevant=None, **kw):
    cfg = {"gan_cls": GANCLSConfig, "sisgan": SisGANConfig}[family](**{**TINY, **kw})
    if family == "sisgan":
        cfg.n_res = 1
    _, imgs, caps = data
    ds = CaptionedArrays(imgs, caps, intensity=Intensity("dtype"), relevant=relevant)
    torch.manual_seed(0)
    model = build(cfg)
    res = Trainer(model, ds, TrainConfig(iterations=iterations, batch_size=16, out_dir=str(tmp_path / family),
                                              progress=False, tensorboard=False, save_every=iterations, log_every=1,
                                              sample_every=iterations)).fit()
    return res, model


# ---- vocabulary and embedding ------------------------------------------------------------------
def test_vocabulary_encode_and_clear_text_errors():
    vocab = build_vocabulary(["a red circle", "a blue square, top left"])
    assert vocab[:2] == ("<pad>", "<unk>") and vocab[2] == "a" and set(vocab[2:]) == {"a", "red", "circle", "blue",
                                                                                     "square", "top", "left"}
    ids, lengths = encode(["A RED circle", "blue"], vocab)
    assert ids.shape == (2, 3) and lengths.tolist() == [3, 1] and ids[1, 1:].eq(0).all()
    with pytest.warns(UserWarning, match="unknown word.*purple"):
        ids, _ = encode("a purple circle", vocab)
    assert ids.shape == (1, 2)
    with pytest.raises(InputError, match="empty"):
        encode("  ", vocab)
    with pytest.raises(InputError, match="no word the model knows.*circle"):
        encode("zebra giraffe", vocab)
    with pytest.raises(InputError, match="must be a string"):
        encode([3], vocab)


def test_ranking_loss_and_recall():
    e = torch.nn.functional.normalize(torch.randn(100, 16), dim=1)
    assert pairwise_ranking(e, e, margin=0.0) == 0  # every match is at least as close as any mismatch
    assert pairwise_ranking(e, e.roll(1, 0)) > 1
    assert recall_at_k(e, e) == {"t2i_R@1": 1.0, "t2i_R@5": 1.0, "i2t_R@1": 1.0, "i2t_R@5": 1.0}
    shuffled = recall_at_k(e, e[torch.randperm(100, generator=torch.Generator().manual_seed(0))])
    assert shuffled["t2i_R@5"] < 0.2
    with pytest.raises(InputError, match="at least 100"):
        recall_at_k(e[:50], e[:50])


def test_embedding_learns_to_retrieve_held_out_captions():
    _, train_imgs, train_caps = scenes(400, 1)
    _, test_imgs, test_caps = scenes(100, 2, 1)
    vocab = build_vocabulary(c for cs in train_caps for c in cs)
    to_t = lambda a: torch.from_numpy(a.transpose(0, 3, 1, 2)).float() * 2 - 1  # noqa: E731
    torch.manual_seed(0)
    emb = JointEmbedding(len(vocab), 3, 32, kind="bow")
    losses = fit_embedding(emb, to_t(train_imgs), train_caps, vocab, 150, batch_size=32)
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])
    with torch.no_grad():
        r = recall_at_k(emb.image(to_t(test_imgs)), emb.text(*encode([c[0] for c in test_caps], vocab)))
    assert r["t2i_R@5"] > 0.3 and r["i2t_R@5"] > 0.3  # chance: 0.05


# ---- scenes ------------------------------------------------------------------------------------
def test_scenes_render_exactly_and_edits_have_exact_targets():
    rng = np.random.default_rng(5)
    for _ in range(20):
        s = ts.random_scene(rng)
        assert np.array_equal(ts.render(s), ts.render(s))
        assert 1 <= len(s.things) <= 2 and len({t.position for t in s.things}) == len(s.things)
        e = ts.edit(s, rng)
        changed = [h for h in ts.HEADS if ts.labels(s)[h] != ts.labels(e)[h]]
        assert 1 <= len(changed) <= 2 and all(not h.endswith("background") for h in changed)
        keep = ts.unchanged_mask(s, e)
        assert 0 < keep.mean() < 1
        diff = np.abs(ts.render(s) - ts.render(e)).max(0)
        assert (diff[keep] == 0).all() and (diff[~keep] > 0).all()
        words = set(ts.caption(e, rng).split())
        for t in e.things:  # every attribute is named, with one of its synonyms
            for value in (t.shape, t.colour, t.size):
                assert any(set(syn.split()) <= words for syn in ts.SYNONYMS[value])


def test_mri_scenes_captions_and_exact_edits():
    from im2im_core.data import mri_text as mt

    rng = np.random.default_rng(3)
    for _ in range(12):
        s = mt.random_scene(rng, "test")
        assert s.slice in mt._volumes()["split"]["test"] and s.slice not in mt._volumes()["split"]["train"]
        img = mt.render(s)
        assert img.shape == (1, 64, 64) and 0 <= img.min() and img.max() <= 1 and np.array_equal(img, mt.render(s))
        e = mt.edit(s, rng)
        assert e.slice == s.slice and mt.labels(e) != mt.labels(s)
        keep = mt.unchanged_mask(s, e)
        assert (np.abs(mt.render(s) - mt.render(e))[0][keep] < 1e-6).all() and 0 < keep.mean() < 1
        words = mt.caption(e, rng)
        assert any(syn in words for syn in mt.SYNONYMS[e.contrast])
        assert (e.lesion == "none") == any(w in words for w in ("no lesion", "healthy", "without"))
        if e.lesion != "none":
            assert e.side in words and any(syn in words for syn in mt.SYNONYMS[e.lesion])
    s = mt.Scene(mt._volumes()["split"]["test"][0], "T1w", "bright", "left", 1)
    healthy = mt.render(mt.Scene(s.slice, "T1w", "none", "left", 1))[0]
    lesion = mt.render(s)[0] - healthy
    assert lesion.max() > 0.2 and lesion.min() >= 0  # a bright lesion, only brighter
    assert lesion[:, 32:].sum() > 0 and lesion[:, :32].sum() == 0  # the subject's left: the image's right half


# ---- families ----------------------------------------------------------------------------------
def test_families_registered_and_configs_round_trip():
    assert {"gan_cls", "sisgan"} <= set(list_models())
    assert round_trips("gan_cls", GANCLSConfig(vocabulary=("<pad>", "<unk>", "red")))
    assert round_trips("sisgan", SisGANConfig(lambda_rec=1.0))
    with pytest.raises(ConfigError, match="text_encoder"):
        build(GANCLSConfig(text_encoder="lstm"))
    with pytest.raises(ConfigError, match="image_size"):
        build(GANCLSConfig(image_size=48))
    with pytest.raises(ConfigError, match="in_channels"):
        build(SisGANConfig(in_channels=1))


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    d = tmp_path_factory.mktemp("text_runs")
    return {f: (*trained(f, data, d, **({"lambda_rec": 1.0} if f == "sisgan" else {})), d) for f in ("gan_cls", "sisgan")}


@pytest.mark.parametrize("family", ["gan_cls", "sisgan"])
def test_train_save_load_seeded_and_bad_text(family, data, runs):
    res, model, tmp_path = runs[family]
    assert res["status"] == "completed"
    falls = lambda v: np.mean(v[-10:]) < 0.8 * np.mean(v[:10])  # noqa: E731
    assert falls(model.embed_losses)  # the text embedding's ranking loss
    if family == "sisgan":
        import csv

        assert falls([float(r["rec"]) for r in csv.DictReader(open(tmp_path / family / "losses.csv"))])
    tr = im2im_core.load(res["export"], device="cpu", precision="fp32")
    vocab = tr.model.config.vocabulary
    assert "circle" in vocab and len(vocab) > 20  # the vocabulary travels in the checkpoint
    meta = checkpoint.read_metadata(res["export"])
    assert "circle" in meta["config"]["vocabulary"]
    probe = ["a red circle at the top left", "a big blue square on a grey background"]
    torch.testing.assert_close(tr.model.embed(probe), model.embed(probe))  # the fitted encoder travels too
    text = "a small red circle at the top left on a black background"
    if family == "gan_cls":
        a, b = tr.generate(text, n_samples=3, seed=4), tr.generate(text, n_samples=3, seed=4)
        assert a.shape == (3, 32, 32, 3) and np.array_equal(a, b)
        assert not np.array_equal(a, tr.generate(text, n_samples=3, seed=5))
        assert not np.allclose(a[0], a[1])  # z matters
        with pytest.raises(InputError, match="n_samples"):
            tr.generate(text, n_samples=0)
    else:
        img = data[1][0]
        out = tr.translate(img, text=text, out_dtype="float32")
        assert out.shape == img.shape and np.array_equal(out, tr.translate(img, text=text, out_dtype="float32"))
        two = tr.translate(data[1][:2], text=[text, "a big blue square at the bottom right on grey"], out_dtype="float32")
        assert two.shape == (2, 32, 32, 3)
        with pytest.raises(InputError, match="needs text"):
            tr.translate(img)
        with pytest.raises(InputError, match="generate"):
            tr.generate(text)
    with pytest.raises(InputError, match="no word the model knows"):
        tr.model.embed(["zebra"])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        tr.model.embed(["a red zebra"])
    assert any("zebra" in str(x.message) for x in w)


def test_captioned_data_is_checked(data):
    _, imgs, caps = data
    with pytest.raises(InputError, match="caption list"):
        CaptionedArrays(imgs, caps[:-1])
    with pytest.raises(InputError, match="no caption"):
        CaptionedArrays(imgs[:2], [["a red circle"], [""]])
    with pytest.raises(InputError, match="relevant caption list"):
        CaptionedArrays(imgs, caps, relevant=caps[:-1])
    with pytest.raises(InputError, match="no relevant caption"):
        CaptionedArrays(imgs[:2], caps[:2], relevant=[["a red circle"], []])
    item = CaptionedArrays(imgs, caps, relevant=edits(data))[3]
    assert item["text"] in caps[3] and item["relevant"] in edits(data)[3]
    model = build(GANCLSConfig(**TINY))
    with pytest.raises(ConfigError, match="captions"):
        Trainer(model, ArrayPairs(imgs, imgs, channels=(3, 3)), TrainConfig(iterations=1, progress=False))


def discriminator_gap(model, data, n=64, wrong=None) -> float:
    """Mean D logit on (image, own caption) minus (image, `wrong` captions: by default another
    image's)."""
    _, imgs, caps = data
    x = torch.from_numpy(imgs[:n].transpose(0, 3, 1, 2)).float() * 2 - 1
    phi = model.embed([c[0] for c in caps[:n]])
    phi_wrong = phi.roll(1, 0) if wrong is None else model.embed([c[0] for c in wrong[:n]])
    model.netD.eval()
    with torch.no_grad():
        return float((model.netD(x, phi) - model.netD(x, phi_wrong)).mean())


def test_the_mismatch_term_teaches_d_to_judge_text(data, tmp_path):
    gaps = {}
    for w in (0.5, 0.0):
        _, model = trained("gan_cls", data, tmp_path / str(w), iterations=150, lambda_mismatch=w, embed_steps=200,
                           text_encoder="bow")
        gaps[w] = discriminator_gap(model, data)
    assert gaps[0.5] > 0.3 and gaps[0.5] > 10 * abs(gaps[0.0])  # measured 0.60 against 0.006


def test_relevant_captions_are_the_hard_half_of_the_mismatches(data):
    """With relevant captions in the batch, D's mismatching text is rolled captions for the first
    half and those captions (edits of the same scene) for the second half."""
    _, _, caps = data
    model = build(GANCLSConfig(**TINY, vocabulary=build_vocabulary(t for c in caps for t in c)))
    own, rel = [c[0] for c in caps[:8]], [c[0] for c in edits(data)[:8]]
    phi = model.embed(own)
    assert torch.equal(model.mismatching({"text": own}, phi), phi.roll(1, 0))
    mixed = model.mismatching({"text": own, "relevant": rel}, phi)
    assert torch.equal(mixed[:4], phi.roll(1, 0)[:4]) and torch.allclose(mixed[4:], model.embed(rel[4:]))


def test_sisgan_relevant_text_is_half_mismatched():
    from im2im_core.models.sisgan import SisGAN

    phi = torch.arange(8.0)[:, None]
    assert SisGAN.relevant(phi).flatten().tolist() == [1, 2, 3, 0, 4, 5, 6, 7]
    edit = -torch.arange(8.0)[:, None]
    assert SisGAN.relevant(phi, edit).flatten().tolist() == [0, -1, -2, -3, 4, 5, 6, 7]


def test_cli_generate_and_translate_with_text(runs, data, tmp_path):
    import imageio.v3 as iio

    from im2im_core.cli import main

    gan, sis = runs["gan_cls"][0]["export"], runs["sisgan"][0]["export"]
    assert main(["generate", str(gan), "a red circle at the top left", "-o", str(tmp_path / "g.png"),
                 "--n-samples", "2", "--seed", "7"]) == 0
    tr = im2im_core.load(gan)
    for k in range(2):
        img = iio.imread(tmp_path / f"g_{k}.png")
        assert img.shape == (32, 32, 3) and img.dtype == np.uint8
        want = (np.clip(tr.generate("a red circle at the top left", 1, 7 + k)[0], 0, 1) * 255).round()
        assert np.abs(img.astype(float) - want).max() <= 1
    iio.imwrite(tmp_path / "in.png", (data[1][0] * 255).astype(np.uint8))
    assert main(["translate", str(sis), str(tmp_path / "in.png"), "-o", str(tmp_path / "out"),
                 "--text", "a big blue square at the bottom right"]) == 0
    assert iio.imread(tmp_path / "out" / "in.png").shape == (32, 32, 3)
    assert main(["generate", str(gan), "zebra", "-o", str(tmp_path / "z.png")]) != 0
    assert not (tmp_path / "z.png").exists()


def test_demo_shows_the_text_models(runs, tmp_path, monkeypatch):
    """The demo's text row: GAN-CLS samples per held-out caption, SisGAN's edit next to the exact
    target, and a PSNR row for the edit against leaving the input unchanged."""
    from im2im_core import demo, demo_text

    paths = {f: str(runs[f][0]["export"]) for f in ("gan_cls", "sisgan")}
    monkeypatch.setattr(demo_text, "GAN_CLS", paths["gan_cls"])
    monkeypatch.setattr(demo_text, "SISGAN", paths["sisgan"])
    monkeypatch.setattr(demo, "_available", lambda name: name in paths.values())
    out = demo.run_demo(tmp_path, quick=True)
    rows = [r for r in out["rows"] if r[0].startswith("Text edit")]
    assert [r[1] for r in rows] == ["identity (input)", paths["sisgan"]] and all(np.isfinite(r[2]) for r in rows)
    assert out["layers"]["generated from text"].shape[0] == 4  # two captions, two samples each
    assert out["layers"]["edited from text"].shape == out["layers"]["scene"].shape
    assert (tmp_path / "demo.png").stat().st_size > 10_000


def test_projection_discriminator_adds_text_times_pooled_features():
    """d_projection: logit = concat head + <V phi, sum of D's last features> (Miyato & Koyama 2018)."""
    from im2im_core.nets.text import TextConditionedDiscriminator

    torch.manual_seed(0)
    x, phi = torch.rand(3, 3, 16, 16) * 2 - 1, torch.randn(3, 8)
    plain = TextConditionedDiscriminator(3, 8, ndf=4, size=16, text_proj=4, spectral=True).eval()
    proj = TextConditionedDiscriminator(3, 8, ndf=4, size=16, text_proj=4, spectral=True, projection=True).eval()
    proj.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        expected = plain(x, phi) + (proj.project(phi) * proj.body(x).sum((2, 3))).sum(1)
        assert torch.allclose(proj(x, phi), expected, atol=1e-5)
        assert not torch.allclose(proj(x, phi), plain(x, phi))
    assert plain.project is None
    model = build(GANCLSConfig(**TINY, d_projection=True))
    assert model.netD.project is not None and build(GANCLSConfig(**TINY)).netD.project is None


def generated_matching_loss(model, data) -> float:
    _, _, caps = data
    phi = model.embed([c[0] for c in caps[:32]])
    with torch.no_grad():
        z = torch.randn(32, model.config.z_dim, generator=torch.Generator().manual_seed(1))
        return float(model.matching_loss(model.netG(z, phi), phi))


def test_matching_loss_ranks_images_with_their_captions_and_trains_only_g(data, tmp_path):
    """lambda_match: the frozen embedding scores (image, own caption) above other captions, and a
    generator trained with the term makes images the embedding matches to their captions better."""
    runs = {w: trained("gan_cls", data, tmp_path / str(w), iterations=150, lambda_match=w, embed_steps=200,
                       text_encoder="bow")[1] for w in (0.0, 1.0)}
    model = runs[1.0]
    _, imgs, caps = data
    x = torch.from_numpy(imgs[:32].transpose(0, 3, 1, 2)).float() * 2 - 1
    phi = model.embed([c[0] for c in caps[:32]])
    with torch.no_grad():
        assert model.matching_loss(x, phi) < 0.5 * model.matching_loss(x, phi.roll(1, 0))  # measured 0.04, 19.8
    before = {k: v.clone() for k, v in model.embedding.state_dict().items()}
    model.train()
    losses = model.train_step({"B": x, "text": [c[0] for c in caps[:32]]}, 0)
    assert losses["match"] > 0 and "match" not in runs[0.0].train_step({"B": x, "text": [c[0] for c in caps[:32]]}, 0)
    assert all(torch.equal(v, model.embedding.state_dict()[k]) for k, v in before.items())
    assert generated_matching_loss(model, data) < 0.8 * generated_matching_loss(runs[0.0], data)  # 9.2 against 15.3
    with pytest.raises(ConfigError, match="lambda_match"):
        build(SisGANConfig(**TINY, lambda_match=-1))


def test_sisgan_coordinate_channels_reach_the_fusion():
    """coord_channels: the fusion conv sees y and x maps in [-1, 1] after the features and the text."""
    model = build(SisGANConfig(**{**TINY, "n_res": 1}, coord_channels=True))
    assert round_trips("sisgan", model.config)
    seen = []
    model.netG.fuse[0].register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    model.netG(torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(2, 32))
    grid = torch.linspace(-1, 1, 8)
    assert seen[0].shape[1] == 4 * 8 + model.config.ca_dim + 2
    assert torch.equal(seen[0][:, -2], grid[:, None].expand(2, 8, 8))
    assert torch.equal(seen[0][:, -1], grid[None, :].expand(2, 8, 8))
    assert build(SisGANConfig(**{**TINY, "n_res": 1})).netG.fuse[0].in_channels == 4 * 8 + 128
