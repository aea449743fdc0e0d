"""Onr/Council-GAN member files (a2b_gen_{i}_{iter}.pt) against goldens written by the official
networks.py (training/official/council_gan.py)."""
import shutil

import pytest
import torch

import im2im_core
from im2im_core.errors import CheckpointError
from foreign_parity import TOL, assert_bit_identical, golden, load, max_err, round_trip, translate

FOLDER, G, META = golden("council_gan")
WEIGHTS, CONFIG = FOLDER / META["weights"], FOLDER / META["config"]


@pytest.fixture(scope="module")
def tr():
    return load("council_gan", config=CONFIG, file=META["weights"])


def test_council_and_config_are_inferred(tr):
    c = tr.model.config
    assert (tr.family, c.arch, c.members, c.dim, c.style_dim, c.n_masks, c.pad_type) == \
        ("council_gan", "official", 2, 4, 8, 3, "zero")


@pytest.mark.parametrize("i", [0, 1])
@pytest.mark.parametrize("k", [0, 1])
def test_parity_with_the_official_forward(tr, i, k):
    x = G[f"x{i}"]
    with torch.no_grad():
        assert max_err(tr.model.inference_forward(x, "AtoB", member=k, style=G[f"rand{i}"]), G[f"y{i}_m{k}"]) <= TOL
    assert max_err(translate(tr, x, member=k), G[f"y{i}_m{k}_zero"]) <= TOL


def test_round_trip_is_bit_identical(tmp_path):
    original, back = round_trip(WEIGHTS, tmp_path / "a2b_gen_0_00010000.pt", config=CONFIG)
    assert_bit_identical(original, back)
    assert_bit_identical(torch.load(FOLDER / "a2b_gen_1_00010000.pt", weights_only=True),
                         torch.load(tmp_path / "a2b_gen_1_00010000.pt", weights_only=True))


def test_one_member_alone_loads_and_wrong_config_is_named(tmp_path):
    shutil.copy(WEIGHTS, tmp_path / "a2b_gen_0_00020000.pt")
    assert im2im_core.load(tmp_path / "a2b_gen_0_00020000.pt", device="cpu").model.config.members == 1
    with pytest.raises(CheckpointError, match=r"style_dim=64 but the weights say 8 \(enc_style.model.6.weight\)"):
        im2im_core.load(WEIGHTS, device="cpu", config={"gen": {"style_dim": 64}})
    sd = torch.load(WEIGHTS, weights_only=True)
    sd["a2b"].pop("dec.model.2.norm.running_var")
    torch.save(sd, tmp_path / "a2b_gen_0_00030000.pt")
    with pytest.raises(CheckpointError, match=r"missing \['dec.model.2.norm.running_var'\]"):
        im2im_core.load(tmp_path / "a2b_gen_0_00030000.pt", device="cpu")
