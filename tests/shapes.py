"""Tiny synthetic domains for the GAN family tests: one white disc or square on black."""
import torch


def shapes(n: int, size: int = 32, g: torch.Generator | None = None) -> torch.Tensor:
    """(n, 1, size, size) images in [-1, 1], each with one random disc or square."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    out = torch.full((n, 1, size, size), -1.0)
    for i in range(n):
        cy, cx = torch.randint(8, size - 8, (2,), generator=g)
        r = torch.randint(4, 8, (1,), generator=g)
        disc = torch.rand(1, generator=g) < 0.5
        m = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2 if disc else ((yy - cy).abs() <= r) & ((xx - cx).abs() <= r)
        out[i, 0][m] = 1.0
    return out


def grey_level_batch(n: int = 2, seed: int = 0) -> dict:
    """Unpaired multimodal domains: shapes (A) and inverted shapes at a random grey level (B; the
    level is the style/attribute/latent that a one-to-many model has to capture)."""
    g = torch.Generator().manual_seed(seed)
    level = torch.rand(n, 1, 1, 1, generator=g) * 0.8 + 0.2
    return {"A": shapes(n, g=g), "B": -shapes(n, g=g) * level}


def tiny_family(config_cls, tiny: dict, seed: int = 0, **kw):
    """A seeded model of a family's `config_cls` with the test file's `tiny` sizes (and `kw` on
    top), its optimizers configured from the default TrainConfig."""
    from im2im_core.engine.config import TrainConfig
    from im2im_core.models import build

    torch.manual_seed(seed)
    model = build(config_cls(**{**tiny, **kw}))
    model.optimizers = model.configure_optimizers(TrainConfig())
    return model


def saved_after(model, steps: int, path):
    """(model, checkpoint path) after `steps` training steps on the grey-level shapes."""
    from im2im_core import checkpoint

    for s in range(steps):
        model.train_step(grey_level_batch(seed=s), s)
    return model, checkpoint.save(path, model)


def round_trips(family: str, cfg) -> bool:
    """The config survives JSON (as in a checkpoint's metadata) and comes back equal."""
    import json

    from im2im_core.config import to_dict
    from im2im_core.models import config_from_dict

    return config_from_dict(family, json.loads(json.dumps(to_dict(cfg)))) == cfg


def follows_reference(model, batch_fn, n: int = 16) -> tuple[float, float]:
    """Does the latent carry what varies in domain B? One A image is translated with the code of
    each of `n` B references (`style_from`); returns the correlation between the references' grey
    level and the translations' (medians: the background level), and the translations' spread as a
    fraction of the references'. A model whose latent learned nothing about B scores low on both."""
    import numpy as np

    refs, x = batch_fn(n, seed=777)["B"], batch_fn(1, seed=999)["A"]
    was = model.training
    model.eval()
    with torch.no_grad():
        outs = [model.inference_forward(x, "AtoB", **model.resolve_samples("AtoB", {"style_from": refs[i:i + 1]},
                                                                             "cpu")[0]) for i in range(n)]
    model.train(was)
    level = [float(r.flatten().median()) for r in refs]
    got = [float(y.flatten().median()) for y in outs]
    if np.std(got) == 0:
        return 0.0, 0.0
    return float(np.corrcoef(level, got)[0, 1]), float(np.std(got) / np.std(level))


def engine_run(config, out_dir) -> tuple[dict, object]:
    """Three iterations of the shared Trainer (visuals included) on shapes against inverted shapes;
    returns the fit result and the Translator of its export."""
    import im2im_core
    from im2im_core.data.datasets import ArrayPairs
    from im2im_core.engine.config import OptimConfig, TrainConfig
    from im2im_core.engine.trainer import Trainer
    from im2im_core.models import build

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    ds = ArrayPairs(shapes(4, g=g)[:, 0].numpy() * 0.5 + 0.5, (-shapes(4, g=g)[:, 0]).numpy() * 0.5 + 0.5)
    tcfg = TrainConfig(iterations=3, batch_size=2, out_dir=str(out_dir), sample_every=2, save_every=0,
                       progress=False, tensorboard=False, optim=OptimConfig(lr_policy="constant"))
    res = Trainer(build(config), ds, tcfg).fit()
    return res, im2im_core.load(res["export"], device="cpu", precision="fp32")
