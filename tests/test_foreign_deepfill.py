"""nipponjo/deepfillv2-pytorch `{'G': ...}` files (DeepFill v2) against goldens written by their
model/networks.py (training/official/deepfill.py): the completed image, holes from the refinement stage."""
import pytest
import torch

import im2im_core
from im2im_core.errors import CheckpointError
from foreign_parity import TOL, assert_bit_identical, golden, load, max_err, round_trip, translate

FOLDER, G, META = golden("deepfill")
WEIGHTS = FOLDER / META["weights"]


@pytest.fixture(scope="module")
def tr():
    return load("deepfill", config=META["config"], file=META["weights"])


def test_config_is_inferred_and_official(tr):
    c = tr.model.config
    assert (tr.family, c.arch, c.ngf, c.in_channels, c.residual, c.prefill) == ("inpaint", "official", 8, 3, False, "zero")


@pytest.mark.parametrize("i", [0, 1])
def test_parity_with_the_official_forward(tr, i):
    x, m = G[f"x{i}"], G[f"mask{i}"]
    with torch.no_grad():
        assert max_err(tr.model.inference_forward(x, "AtoB", mask=m.bool()), G[f"y{i}"]) <= TOL
    assert max_err(translate(tr, x, mask=m[0, 0].numpy().astype(bool)), G[f"y{i}"]) <= TOL


def test_round_trip_is_bit_identical(tmp_path):
    original, back = round_trip(WEIGHTS, tmp_path)
    assert_bit_identical(original, back)


def test_wrong_config_and_keys_are_named(tmp_path):
    with pytest.raises(CheckpointError, match=r"cnum=48 but the weights say 8 \(stage1.conv1.conv.weight is \(8, 5, 5, 5\)\)"):
        im2im_core.load(WEIGHTS, device="cpu", config={"cnum": 48})
    sd = torch.load(WEIGHTS, weights_only=True)
    sd["G"].pop("stage2.contextual_attention.fuse_weight")
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=r"missing \['stage2.contextual_attention.fuse_weight'\]"):
        im2im_core.load(tmp_path / "bad.pth", device="cpu")
