"""Spacing-aware inference: checkpoints record the pixel size they were trained at, and the
Translator resamples other pixel sizes to it and back."""
import numpy as np
import pytest
import torch

import im2im_core
from im2im_core import checkpoint
from im2im_core.errors import CheckpointError, InputError


@pytest.fixture(scope="module")
def spaced_ckpt(tmp_path_factory):
    from im2im_core.intensity import Intensity
    from im2im_core.models import build
    from im2im_core.models.generator import GeneratorOnlyConfig
    from im2im_core.nets import GeneratorConfig

    torch.manual_seed(0)
    model = build(GeneratorOnlyConfig(domains=("T1w", "T2w"), generator=GeneratorConfig(ngf=8, n_blocks=1)))
    path = tmp_path_factory.mktemp("ckpt") / "spaced.safetensors"
    checkpoint.save(path, model, Intensity(), {"iterations": 0}, spacing=(1.0, 1.0))
    return path


def test_spacing_round_trips_and_old_checkpoints_have_none(spaced_ckpt, tiny_generator_ckpt):
    assert checkpoint.read_metadata(spaced_ckpt)["spacing"] == (1.0, 1.0)
    assert im2im_core.load(spaced_ckpt).spacing == (1.0, 1.0)
    assert im2im_core.load(tiny_generator_ckpt).spacing is None


def test_resampling_happens_only_when_spacings_differ(spaced_ckpt, tiny_generator_ckpt):
    tr = im2im_core.load(spaced_ckpt, device="cpu", precision="fp32")
    img = np.random.default_rng(0).random((60, 44), dtype=np.float32)
    same = tr.translate(img, spacing=(1.0, 1.0))
    np.testing.assert_array_equal(same, tr.translate(img))  # 1 mm in a 1 mm model: untouched
    coarse = tr.translate(img, spacing=(2.0, 2.0))
    assert coarse.shape == img.shape and np.isfinite(coarse).all()
    assert not np.allclose(coarse, same)  # the model ran on a 120 x 88 grid
    np.testing.assert_array_equal(tr.translate(img, spacing=(2.0, 2.0), resample=False), same)
    assert tr.model_grid((60, 44), (2.0, 2.0)) == (120, 88)
    assert tr.model_grid((60, 44), (0.5, 0.25)) == (30, 11)
    assert tr.model_grid((10, 10, 60, 44), (3.0, 1.0, 1.0), 3) is None  # (Z, Y, X) spacing: in-plane only
    # a checkpoint that does not know its spacing never resamples
    old = im2im_core.load(tiny_generator_ckpt, device="cpu", precision="fp32")
    np.testing.assert_array_equal(old.translate(img, spacing=(5.0, 5.0)), old.translate(img))


@pytest.mark.parametrize("spacing, match", [((0.0, 1.0), "positive"), ((1.0,), "spacing"), ("a", "number"),
                                            ((1.0, float("nan")), "positive"), ((1, 1, 1, 1), "spacing"),
                                            ((1000.0, 1000.0), "units"), ((0.001, 1.0), "units")])
def test_bad_spacing_is_a_clear_error(spaced_ckpt, spacing, match):
    tr = im2im_core.load(spaced_ckpt, device="cpu")
    with pytest.raises(InputError, match=match):
        tr.translate(np.zeros((16, 16), np.float32), spacing=spacing)


def test_resampling_never_allocates_a_huge_grid(spaced_ckpt):
    tr = im2im_core.load(spaced_ckpt, device="cpu")
    with pytest.raises(InputError, match="per slice"):
        tr.translate(np.zeros((4000, 4000), np.float32), spacing=(8.0, 8.0))


def test_bad_spacing_metadata_is_refused(tmp_path, spaced_ckpt):
    from safetensors.torch import load_file, save_file

    raw = {k: v for k, v in __import__("safetensors").safe_open(str(spaced_ckpt), "pt").metadata().items()}
    raw["spacing"] = "[-1, 2]"
    bad = tmp_path / "bad.safetensors"
    save_file(load_file(str(spaced_ckpt)), str(bad), metadata=raw)
    with pytest.raises(CheckpointError, match="spacing"):
        im2im_core.load(bad)
