"""Every tileable family: a tiled translation (an image larger than `tile`) equals the whole-image
one, with the options that change what the network computes (style codes from a seed or a
reference, target domain, council member, attention output, official architectures). Tiled
translation streams the traced network over the whole image (im2im_core.stream), so the
normalisation statistics, AdaIN parameters and codes are the whole image's."""
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from im2im_core import stream
from im2im_core.inference import Translator
from im2im_core.intensity import Intensity
from im2im_core.models import build, config_from_dict
from im2im_core.models._registry import family_class, list_models

torch.set_num_threads(1)

SIZE, TILE, OVERLAP = 200, 64, 16
TOL = 1e-4  # max abs difference on [-1, 1], fp32
#: dB on [0, 1], as tests/test_stream.py asks of tiles; bf16 rounds differently per band: measured 47-67 dB
#: here, where bf16 against fp32 on the same whole image gives 41-62 dB
BF16_PSNR = 40


def _image(size, seed=0, channels=1):
    g = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    img = 0.5 + 0.3 * np.sin(9 * xx + 4 * yy ** 2) * np.cos(7 * yy) + 0.05 * g.standard_normal((size, size))
    img = img.astype(np.float32)
    return img if channels == 1 else np.stack([np.roll(img, 7 * k, 1) for k in range(channels)], -1)


def _model(family, cfg):
    torch.manual_seed(0)
    model = build(config_from_dict(family, cfg))
    for m in model.modules():  # random, not zero, last layers: the output must depend on everything
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and not m.weight.abs().sum():
            nn.init.normal_(m.weight, std=0.05)
    return model.eval()


def _translator(family, cfg, precision="fp32"):
    return Translator(_model(family, cfg), {"intensity": Intensity("fixed", 0.0, 1.0)}, torch.device("cpu"),
                      precision=precision)


REF = {"ref": True}  # stands for a reference image of the output domain (style_from)
TINY = {"munit": {"dim": 8, "n_res": 1, "mlp_dim": 16, "ndf": 8, "n_scales": 1},
        "drit": {"dim": 8, "n_res": 2, "n_dec_res": 1, "ndf": 8, "n_scales": 1, "ndf_content": 8},
        "council_gan": {"dim": 8, "n_res": 1, "mlp_dim": 16, "ndf": 8, "members": 2},
        "acl_gan": {"dim": 8, "n_res": 1, "mlp_dim": 16, "ndf": 8},
        "augmented_cycle_gan": {"ngf": 8, "n_res": 1, "nef": 8, "ndf": 8, "ndf_z": 8},
        "bicycle_gan": {"ngf": 8, "num_downs": 5, "nef": 8, "ndf": 8, "n_scales": 1},
        "stargan": {"dim": 8, "n_res": 1, "ndf": 8, "d_layers": 3}}
#: (family, config, direction, options) for every tileable family; the families whose output depends
#: on a code, label or member get each such option
CASES = [
    ("munit", {}, "AtoB", {}), ("munit", {}, "BtoA", {"seed": 3}), ("munit", {}, "AtoB", REF),
    ("munit", {"arch": "official", "intensity_prior": "none"}, "AtoB", {"seed": 1}),
    ("munit", {"intensity_prior": "match"}, "AtoB", {"seed": 2}),
    ("drit", {}, "AtoB", {}), ("drit", {}, "BtoA", {"seed": 5}), ("drit", {}, "AtoB", REF),
    ("drit", {"arch": "official", "concat": 1, "dim": 8, "attr_dim": 4}, "AtoB", {"seed": 1}),
    ("drit", {"arch": "official", "concat": 0, "dim": 8, "attr_dim": 4}, "BtoA", {"seed": 1}),
    ("council_gan", {}, "AtoB", {}), ("council_gan", {}, "AtoB", {"seed": 4, "member": 1, "return_attention": True}),
    ("council_gan", {"arch": "official", "n_masks": 2}, "AtoB", {"seed": 2, "member": 1}),
    ("council_gan", {"intensity_prior": "match", "residual": True}, "AtoB", {"seed": 2}),
    ("acl_gan", {}, "AtoB", {}), ("acl_gan", {}, "BtoA", {"seed": 6, "return_attention": True}),
    ("augmented_cycle_gan", {}, "AtoB", {}), ("augmented_cycle_gan", {}, "BtoA", {"seed": 7}),
    ("augmented_cycle_gan", {}, "AtoB", REF),
    ("bicycle_gan", {}, "AtoB", {}), ("bicycle_gan", {}, "AtoB", {"seed": 8}), ("bicycle_gan", {}, "AtoB", REF),
    ("bicycle_gan", {"arch": "official"}, "AtoB", {"seed": 8}),
    ("stargan", {}, "to_target", {"target": "B"}), ("stargan", {}, "to_target", {"target": "C"}),
    ("stargan", {"skips": True}, "to_target", {"target": "A"}),
    ("stargan", {"intensity_prior": "match", "invert_pairs": ["A:B"]}, "B->A", {}),
    ("stargan", {"arch": "official"}, "to_target", {"target": "B"}),
]
OTHERS = {"attention_cycle_gan": {"generator": {"ngf": 8, "n_blocks": 1}, "attention_ngf": 8},
          "cycle_gan": {"generator": {"ngf": 8, "n_blocks": 1}}, "generator": {"generator": {"ngf": 8, "n_blocks": 1}},
          "pix2pix": {"generator": {"ngf": 8, "num_downs": 5}},
          "super_resolution": {"scale": 2, "nf": 8, "n_blocks": 1},
          "unit": {"dim": 8, "n_res": 1, "ndf": 8, "n_scales": 1}}
CASES += [(f, {}, None, {}) for f in OTHERS]


def _cfg(family, extra):
    base = {**TINY.get(family, {}), **OTHERS.get(family, {})}
    return {**base, **extra}


def _options(opts, tr, direction):
    if opts is not REF:
        return dict(opts)
    out_ch = tr.model.channels(tr.model.resolve_direction(direction))[1]
    return {"style_from": _image(96, 9, out_ch)}


def test_every_tileable_family_is_covered():
    tileable = {f for f in list_models() if family_class(f).tileable}
    assert tileable == {c[0] for c in CASES}


@pytest.mark.parametrize("family, extra, direction, opts", CASES,
                         ids=[f"{c[0]}-{c[2]}-{'-'.join(f'{k}' for k in c[1]) or 'ours'}-"
                              f"{'ref' if c[3] is REF else '-'.join(f'{k}{v}' for k, v in c[3].items()) or 'zero'}"
                              for c in CASES])
def test_tiled_translation_equals_whole_image(family, extra, direction, opts):
    """fp32: within 1e-4 on [-1, 1], and no NotStreamable warning (the tiled call streams). Before
    the fix MUNIT, DRIT, Council-GAN, ACL-GAN, StarGAN (ours), Augmented CycleGAN and BicycleGAN
    were 0.05-1.7 off here."""
    try:
        tr = _translator(family, _cfg(family, extra))
    except Exception as exc:  # noqa: BLE001 - a config the family does not take is a test bug
        pytest.fail(f"config: {exc}")
    opts = _options(opts, tr, direction)
    img = _image(SIZE, 1, tr.model.channels(tr.model.resolve_direction(direction))[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning: the tiled call streams
        whole = tr.translate(img, direction, tile=1024, out_dtype="float32", **opts)
        tiled = tr.translate(img, direction, tile=TILE, overlap=OVERLAP, out_dtype="float32", **opts)
    pairs = [(whole[k], tiled[k]) for k in whole] if isinstance(whole, dict) else [(whole, tiled)]
    for w, t in pairs:
        diff = float(np.abs(np.asarray(w) - np.asarray(t)).max()) * 2
        assert diff <= TOL, f"{family}: tiled differs from whole by {diff:.3g}"


def psnr(a, b):
    return 10 * np.log10(1.0 / max(np.mean((np.asarray(a, np.float64) - b) ** 2), 1e-30))


BF16_CASES = [("munit", {}, "AtoB", {"seed": 3}), ("drit", {}, "AtoB", REF), ("council_gan", {}, "AtoB", {"member": 1}),
              ("acl_gan", {}, "AtoB", {"seed": 6}), ("augmented_cycle_gan", {}, "AtoB", REF),
              ("bicycle_gan", {}, "AtoB", {"seed": 8}), ("stargan", {}, "to_target", {"target": "B"})]


@pytest.mark.parametrize("family, extra, direction, opts", BF16_CASES, ids=[c[0] for c in BF16_CASES])
def test_tiled_translation_in_bf16_is_close_to_whole_image(family, extra, direction, opts):
    tr = _translator(family, _cfg(family, extra), precision="bf16")
    opts = _options(opts, tr, direction)
    img = _image(SIZE, 1, tr.model.channels(tr.model.resolve_direction(direction))[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        whole = tr.translate(img, direction, tile=1024, out_dtype="float32", **opts)
        tiled = tr.translate(img, direction, tile=TILE, overlap=OVERLAP, out_dtype="float32", **opts)
    assert psnr(whole, tiled) >= BF16_PSNR, f"{family}: {psnr(whole, tiled):.1f} dB"


def test_tracing_leaves_no_traced_values_on_the_model():
    """Council-GAN's official decoder hands AdaIN parameters to its layers as attributes: the graph
    records them, and the model keeps no traced values afterwards (exports and copies stay clean)."""
    model = _model("council_gan", _cfg("council_gan", {"arch": "official", "n_masks": 2}))
    gm = stream.trace(model, lambda t: model.inference_forward(t, "AtoB", style=torch.randn(1, 8)))
    assert any("stream_attrs" in n.meta for n in gm.graph.nodes)
    assert not [k for m in model.modules() for k, v in vars(m).items() if isinstance(v, torch.fx.Proxy)]
