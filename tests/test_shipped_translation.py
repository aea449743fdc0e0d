"""The shipped T1w <-> T2w models on what a user brings: whole held-out 1 mm slices of the real
MNI152 T1 template (the napari sample), against the synthetic T2w truth. Each must beat identity,
plain histogram matching and a 0.80 SSIM floor; the training-free brain histogram matching
(inverted where it helps on the validation slab) is the strong baseline of docs/benchmarks.md."""
import numpy as np
import pytest

import im2im_core
from im2im_core.checkpoint import read_metadata
from im2im_core.inference import shipped_models

#: (shipped model, direction) of the translation models, all trained at 1 mm
MODELS = (("pix2pix_t1w_t2w", "T1w->T2w"), ("pix2pix_t2w_t1w", "T2w->T1w"), ("cyclegan_t1w_t2w", "T1w->T2w"),
          ("cyclegan_t1w_t2w", "T2w->T1w"), ("attention_t1w_t2w", "T1w->T2w"), ("attention_t1w_t2w", "T2w->T1w"),
          ("unit_t1w_t2w", "T1w->T2w"), ("unit_t1w_t2w", "T2w->T1w"), ("stargan_mri", "T1w->T2w"),
          ("stargan_mri", "T2w->T1w"), ("stargan_mri", "T2w->PD"), ("stargan_mri", "PD->T1w"))
#: how far below the strong training-free baseline (brain histogram matching) a model may stay. The
#: T2w->T1w pix2pix has no prior and its target is >= 0.95: 0.942 against 0.972 on these slices when
#: written (four slices make their own intensity window; with the whole volume's, the benchmark
#: measures 0.958). The T1w->T2w pix2pix (prior) measured 0.983 against 0.973. The unpaired models
#: (intensity prior) beat it in the benchmark both ways; T2w->T1w on four slices with their own
#: window they stay a little below it (see the note under the dict).
BRAIN_HIST_MARGIN = {("pix2pix_t1w_t2w", "T1w->T2w"): 0.0, ("pix2pix_t2w_t1w", "T2w->T1w"): 0.04,
                     ("cyclegan_t1w_t2w", "T1w->T2w"): 0.0, ("cyclegan_t1w_t2w", "T2w->T1w"): 0.015,
                     ("attention_t1w_t2w", "T1w->T2w"): 0.0, ("attention_t1w_t2w", "T2w->T1w"): 0.015,
                     ("unit_t1w_t2w", "T1w->T2w"): 0.0, ("unit_t1w_t2w", "T2w->T1w"): 0.015,
                     ("stargan_mri", "T1w->T2w"): 0.0, ("stargan_mri", "T2w->T1w"): 0.015,
                     ("stargan_mri", "T2w->PD"): 0.015, ("stargan_mri", "PD->T1w"): 0.015}
#: T2w and PD share their contrast order; every other pair flips it
SAME_ORDER = ("T2w->PD", "PD->T2w")
# T2w->T1w: CycleGAN 0.975, attention 0.977 and UNIT 0.978 against 0.972 in the benchmark (one
# window for the whole volume); four slices with their own window give 0.961 and 0.963 (CycleGAN,
# attention) against 0.972 here. StarGAN, benchmark against four slices here: T2w->T1w 0.978 / 0.963
# (brain histogram matching 0.972 / 0.972), T2w->PD 0.995 / 0.979 (0.989 / 0.989), PD->T1w
# 0.974 / 0.971 (0.971 / 0.971).
N_SLICES = 4


@pytest.fixture(scope="module")
def native():
    from training.benchmarks import translation_baselines as tb

    data = tb.native_data("template")
    rows = tb.held_out(data, "test")
    pick = rows[np.linspace(0, len(rows) - 1, N_SLICES).round().astype(int)]
    return data, pick


def _ssim(pred, gt):
    from skimage.metrics import structural_similarity

    return float(np.mean([structural_similarity(g.astype(np.float64), np.clip(p, 0, 1).astype(np.float64),
                                                data_range=1.0) for p, g in zip(pred, gt)]))


@pytest.mark.parametrize("name, direction", MODELS)
def test_shipped_translation_beats_training_free_baselines_at_1mm(native, name, direction):
    from training.benchmarks import translation_baselines as tb

    data, pick = native
    path = shipped_models().get(name)
    assert path is not None, f"{name} is not shipped"
    assert read_metadata(path)["spacing"] == (1.0, 1.0)
    src, dst = direction.split("->")
    x, gt = data["stack"][src][pick], data["stack"][dst][pick]
    tr = im2im_core.load(name, device="cpu")
    pred = tr.translate(x, direction=direction if len(tr.directions()) > 1 else None, out_dtype="float32",
                        spacing=(1.0, 1.0, 1.0))
    ours = _ssim(pred, gt)
    assert ours >= 0.80
    assert ours > _ssim(x, gt) + (0.1 if direction in SAME_ORDER else 0.2)  # identity (T2w->PD: 0.81 on its own)
    assert ours > _ssim(tb.plain_hist(data)(x, direction), gt) + 0.2
    strong = _ssim(tb.brain_hist(data, {direction: direction not in SAME_ORDER})(x, direction), gt)
    print(f"{name} {direction}: SSIM {ours:.3f}, brain histogram matching {strong:.3f}")
    assert ours > strong - BRAIN_HIST_MARGIN[name, direction], (ours, strong)


def test_pix2pix_beats_its_own_quantile_prior(native):
    """Issue 36 item 6: the shipped T1w->T2w pix2pix learns what its prior q misses. With the learned
    residual removed (q alone, same windowing) the same check fails. Measured when written, these four
    slices: 0.9827 against 0.9798 (oneDNN on and off alike)."""
    import torch

    data, pick = native
    x, gt = data["stack"]["T1w"][pick], data["stack"]["T2w"][pick]
    tr, prior = (im2im_core.load("pix2pix_t1w_t2w", device="cpu") for _ in range(2))

    class NoResidual(torch.nn.Module):
        def forward(self, t):
            return torch.zeros_like(t)

    prior.model.netG.net = NoResidual()
    ours, q = (_ssim(t.translate(x, out_dtype="float32", spacing=(1.0, 1.0, 1.0)), gt) for t in (tr, prior))
    assert ours > q + 0.0015, (ours, q)


def test_spacing_aware_inference_agrees_between_1mm_and_other_pixel_sizes(native):
    """A 2 mm and a 0.5 mm copy of a 1 mm slice, each translated at its spacing, match the 1 mm
    result brought to that grid: >= 25.5 dB at 2 mm and >= 32.5 dB at 0.5 mm on [0, 1] (pix2pix
    T2w->T1w, measured 26.5-28.7 and 33.5-36.5 dB on the four held-out slices). Without resampling
    the 0.5 mm copy shows structures twice their trained size and lands further away (5.3 dB on
    this slice). The models with an intensity prior are left out: their pointwise q turns the
    partial-volume rim of the head into a bright one-pixel ring whose resampled copies disagree
    (19-21 dB for pix2pix T1w->T2w and CycleGAN, resampled or not)."""
    from skimage.metrics import peak_signal_noise_ratio
    from skimage.transform import rescale

    data, pick = native
    tr = im2im_core.load("pix2pix_t2w_t1w", device="cpu", precision="fp32")
    x1 = data["stack"]["T2w"][pick[1]]
    y1 = tr.translate(x1, out_dtype="float32", spacing=(1.0, 1.0))

    def psnr(ref, y):
        return peak_signal_noise_ratio(ref, np.clip(y, 0, 1), data_range=1.0)

    for factor, floor in ((0.5, 25.5), (2.0, 32.5)):
        x = rescale(x1, factor, anti_aliasing=factor < 1, order=1).astype(np.float32)
        ref = rescale(y1, factor, anti_aliasing=factor < 1, order=1)[: x.shape[0], : x.shape[1]]
        y = tr.translate(x, out_dtype="float32", spacing=(1 / factor, 1 / factor))
        raw = tr.translate(x, out_dtype="float32", resample=False)
        assert y.shape == x.shape
        good, bad = psnr(ref, y), psnr(ref, raw)
        assert good >= floor and good >= bad, (factor, good, bad)
        if factor > 1:
            assert good > bad + 4.0, (good, bad)


#: multimodal models -> the diversity (mean pairwise L1 on [0, 1]) their samples must exceed: a model
#: that ignored its code would give exactly 0. Measured on these slices when written: MUNIT
#: 4e-4 / 4e-4; the benchmark (whole volumes): MUNIT 6e-4 / 5e-4, DRIT 1.2e-4 / 4.8e-5 (their codes
#: barely change the output, README Limits), Augmented CycleGAN 7.2e-3 / 1.05e-2.
MULTIMODAL = {"munit_t1w_t2w": 1e-4, "drit_t1w_t2w": 1e-5, "augcgan_t1w_t2w": 1e-3,
              "bicyclegan_t1w_t2w": 1e-4, "bicyclegan_t2w_t1w": 1e-4}  # BicycleGAN: 7e-4 / 5e-4 in the benchmark
#: BicycleGAN is paired: one model per direction
ONE_WAY = {"bicyclegan_t1w_t2w": "T1w->T2w", "bicyclegan_t2w_t1w": "T2w->T1w"}
CASES = [(n, d) for n in MULTIMODAL for d in ("T1w->T2w", "T2w->T1w") if ONE_WAY.get(n, d) == d]


@pytest.mark.parametrize("name, direction", CASES)
def test_shipped_multimodal_samples_differ_and_each_clears_the_floor(native, name, direction):
    """A multimodal model: K codes give K different outputs (diversity > 0), and every one of them
    clears the 0.80 floor and the identity / plain histogram baselines by 0.2, and their mean stays
    within the single-output models' margin of the strong baseline, brain histogram matching."""
    from training.benchmarks import translation_baselines as tb

    data, pick = native
    src, dst = direction.split("->")
    x, gt = data["stack"][src][pick], data["stack"][dst][pick]
    tr = im2im_core.load(name, device="cpu")
    preds = tr.translate(x, direction=None if name in ONE_WAY else direction, n_samples=3, seed=0, out_dtype="float32", spacing=(1.0, 1.0, 1.0))
    assert preds.shape == (3, *x.shape)
    diversity = np.mean([np.abs(preds[a] - preds[b]).mean() for a in range(3) for b in range(a)])
    assert diversity > MULTIMODAL[name]
    floor = max(0.80, _ssim(x, gt) + 0.2, _ssim(tb.plain_hist(data)(x, direction), gt) + 0.2)
    scores = [_ssim(p, gt) for p in preds]
    strong = _ssim(tb.brain_hist(data, {direction: True})(x, direction), gt)
    print(f"{name} {direction}: SSIM per sample {np.round(scores, 3)}, brain histogram matching {strong:.3f}, "
          f"diversity {diversity:.2e}")
    assert min(scores) >= floor, (scores, floor)
    # the samples' mean (one of Augmented CycleGAN's three T2w->T1w samples is 0.016 below it here)
    assert np.mean(scores) > strong - (0.015 if direction == "T2w->T1w" else 0.0), (scores, strong)
