"""The demo's text row: the shipped GAN-CLS draws held-out captions of the shapes world, and the
shipped SisGAN edits held-out scenes to match a changed caption, next to the exact rendered target."""
from __future__ import annotations

import textwrap

import numpy as np

GAN_CLS, SISGAN = "gan_cls_shapes", "sisgan_shapes"
#: the benchmark's held-out seed (training.benchmarks.text_conditioning uses 1 for training)
TEST_SEED = 2


def _title(text: str) -> str:
    return "\n".join(textwrap.wrap(f'"{text}"', 26)[:4])


def text_panels(available, n: int = 2) -> tuple[list, list, dict]:
    """(metric rows, figure panels, napari layers) for the shipped text models among `available`."""
    from . import load
    from .data import text_scenes as ts

    rows, panels, layers = [], [], {}
    rng = np.random.default_rng(TEST_SEED)
    if available(GAN_CLS):
        scenes = [ts.random_scene(rng) for _ in range(n)]
        captions = [ts.caption(s, rng) for s in scenes]
        gen = load(GAN_CLS, device="auto").generate(captions, n_samples=2, seed=0)
        row = []
        for i, cap in enumerate(captions):
            row += [(_title(cap), gen[2 * i]), ("sample 2", gen[2 * i + 1])]
        panels.append(("GAN-CLS: text -> image (held-out captions)", row))
        layers["generated from text"] = gen
    if available(SISGAN):
        src = [ts.random_scene(rng) for _ in range(n)]
        dst = [ts.edit(s, rng) for s in src]
        captions = [ts.caption(d, rng) for d in dst]
        x = np.stack([ts.render(s).transpose(1, 2, 0) for s in src])
        y = np.stack([ts.render(d).transpose(1, 2, 0) for d in dst])
        out = load(SISGAN, device="auto").translate(x, text=captions, out_dtype="float32")
        for name, pred in (("identity (input)", x), (SISGAN, out)):
            psnr = np.mean([10 * np.log10(1 / max(np.mean((np.clip(p, 0, 1) - t) ** 2), 1e-12)) for p, t in zip(pred, y)])
            rows.append(("Text edit vs exact target (shapes)", name, float(psnr), float("nan")))
        row = []
        for i in range(n):
            row += [("input", x[i]), (_title(captions[i]), out[i]), ("exact target", y[i])]
        panels.append(("SisGAN: image + text -> image (held-out scenes)", row))
        layers.update({"scene": x, "edited from text": out})
    return rows, panels, layers
