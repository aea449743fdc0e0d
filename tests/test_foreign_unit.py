"""mingyuliutw/UNIT (master) `gen_*.pt` against goldens written by the official networks.py
(training/official/unit.py)."""
import pytest
import torch

import im2im_core
from im2im_core.errors import CheckpointError
from foreign_parity import TOL, assert_bit_identical, golden, load, max_err, round_trip, translate

FOLDER, G, META = golden("unit")
WEIGHTS, CONFIG = FOLDER / META["weights"], FOLDER / META["config"]


@pytest.fixture(scope="module")
def tr():
    return load("unit", config=CONFIG, file=META["weights"])


def test_config_is_inferred_and_official(tr):
    c = tr.model.config
    assert (tr.family, c.arch, c.dim, c.n_res, c.n_shared, c.in_channels, c.out_channels) == \
        ("unit", "official", 8, 2, 0, 3, 1)


@pytest.mark.parametrize("i", [0, 1])
def test_parity_with_the_official_forward(tr, i):
    with torch.no_grad():
        assert max_err(tr.model.inference_forward(G[f"x_a{i}"], "AtoB"), G[f"ab{i}"]) <= TOL
    assert max_err(translate(tr, G[f"x_a{i}"]), G[f"ab{i}"]) <= TOL
    assert max_err(translate(tr, G[f"x_b{i}"], direction="BtoA"), G[f"ba{i}"]) <= TOL


def test_round_trip_is_bit_identical(tmp_path):
    original, back = round_trip(WEIGHTS, tmp_path, config=CONFIG)
    assert_bit_identical(original, back)


def test_wrong_config_and_keys_are_named(tmp_path):
    with pytest.raises(CheckpointError, match=r"n_res=4 but the weights say 2 \(enc residual blocks\)"):
        im2im_core.load(WEIGHTS, device="cpu", config={"gen": {"n_res": 4}})
    sd = torch.load(WEIGHTS, weights_only=True)
    sd["a"].pop("dec.model.4.norm.beta")
    path = tmp_path / "gen_bad.pt"
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match=r"\['a'\]: keys do not match the UNIT VAEGen \(missing \['dec.model.4.norm.beta'\]"):
        im2im_core.load(path, device="cpu")


def test_non_finite_weights_are_named(tmp_path):
    sd = torch.load(WEIGHTS, weights_only=True)
    sd["b"]["dec.model.5.conv.weight"][0, 0, 0, 0] = float("nan")
    torch.save(sd, tmp_path / "gen_nan.pt")
    with pytest.raises(CheckpointError, match=r"weights \['dec.model.5.conv.weight'\] contain NaN/Inf"):
        im2im_core.load(tmp_path / "gen_nan.pt", device="cpu")
