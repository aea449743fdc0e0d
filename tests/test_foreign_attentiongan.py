"""Ha0Tang/AttentionGAN `latest_net_G_*.pth` (ResnetGenerator_our) against goldens written by the
official models/networks.py (training/official/attentiongan.py)."""
import pytest
import torch

import im2im_core
from im2im_core.errors import CheckpointError
from foreign_parity import TOL, assert_bit_identical, golden, load, max_err, round_trip, translate

FOLDER, G, META = golden("attentiongan")
WEIGHTS = FOLDER / META["weights"]


@pytest.fixture(scope="module")
def tr():
    return load("attentiongan", config=META["config"], file=META["weights"])


def test_config_is_inferred(tr):
    g = tr.model.config.generator
    assert (tr.family, g.arch, g.ngf, g.n_blocks) == ("generator", "attentiongan", 8, 2)


@pytest.mark.parametrize("i", [0, 1])
def test_parity_with_the_official_forward(tr, i):
    with torch.no_grad():
        assert max_err(tr.model.inference_forward(G[f"x{i}"], "AtoB"), G[f"y{i}"]) <= TOL
    assert max_err(translate(tr, G[f"x{i}"]), G[f"y{i}"]) <= TOL


def test_issue_config_form_is_accepted_and_checked():
    with pytest.raises(CheckpointError, match=r"ngf=64 but the weights say 8 \(conv1.weight is \(8, 3, 7, 7\)\)"):
        im2im_core.load(WEIGHTS, device="cpu", config={"netG": "our", "ngf": 64, "n_blocks": 9})
    with pytest.raises(CheckpointError, match="n_blocks=9 but the weights say 2"):
        im2im_core.load(WEIGHTS, device="cpu", config={"netG": "our", "n_blocks": 9})


def test_round_trip_is_bit_identical(tmp_path):
    original, back = round_trip(WEIGHTS, tmp_path, config=None)
    assert_bit_identical(original, back)


def test_missing_and_misshaped_keys_are_named(tmp_path):
    sd = torch.load(WEIGHTS, weights_only=True)
    sd.pop("deconv2_attention.bias")
    sd["resnet_blocks.1.conv2.weight"] = torch.zeros(32, 32, 1, 1)
    path = tmp_path / "latest_net_G_B.pth"
    torch.save({f"module.{k}": v for k, v in sd.items()}, path)
    with pytest.raises(CheckpointError, match=r"missing \['deconv2_attention.bias'\]; wrong shape "
                                              r"\['resnet_blocks.1.conv2.weight \(32, 32, 1, 1\)"):
        im2im_core.load(path, device="cpu")


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "latest_net_G_A.pth"
    path.write_bytes(WEIGHTS.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="is not a readable"):
        im2im_core.load(path, device="cpu")


def test_tiled_equals_whole_image(tr):
    """The attention blend is one pointwise step for the tiled executor, so tiles are seamless."""
    import numpy as np

    img = (np.random.default_rng(0).random((256, 256, 3)) * 255).astype(np.float32)
    whole = tr.translate(img, out_dtype="float32", precision="fp32")
    tiled = tr.translate(img, out_dtype="float32", precision="fp32", tile=64, overlap=16)
    assert np.abs(whole - tiled).max() / 127.5 <= TOL
