"""HsinYingLee/DRIT checkpoints (concat 1 and 0) against goldens written by the official
src/networks.py (training/official/drit.py). Their widths are fixed (tens of MB a file), so the
goldens hold the state_dict's names, shapes and seed; the weights are redrawn here."""
import pytest
import torch

import im2im_core
from im2im_core.errors import CheckpointError
from foreign_parity import TOL, assert_bit_identical, golden, max_err, round_trip, translate
from training.official.common import seeded_state_dict


def official_file(concat, tmp_path):
    """The checkpoint their trainer would save (weights, plus epoch counters), written to tmp_path."""
    _, g, meta = golden(f"drit_concat{concat}")
    sd = seeded_state_dict(meta["shapes"], meta["seed"])
    obj = {p: {k[len(p) + 1:]: v for k, v in sd.items() if k.startswith(p + ".")} for p in ("enc_c", "enc_a", "gen")}
    obj.update(ep=1199, total_it=200000)
    path = tmp_path / f"drit{concat}_01199.pth"
    torch.save(obj, path)
    return path, g, meta


@pytest.fixture(scope="module", params=[1, 0])
def case(request, tmp_path_factory):
    path, g, meta = official_file(request.param, tmp_path_factory.mktemp("drit"))
    return im2im_core.load(path, device="cpu", precision="fp32", config={"concat": request.param}), g, path


def test_config_is_inferred_and_official(case):
    tr, g, _ = case
    c = tr.model.config
    assert (tr.family, c.arch, c.dim, c.attr_dim, c.in_channels, c.out_channels) == ("drit", "official", 64, 8, 3, 1)
    assert tr.model.nets["Ec_X"].share is tr.model.nets["Ec_Y"].share  # their shared content block


@pytest.mark.parametrize("i", [0, 1])
def test_parity_with_the_official_forward(case, i):
    tr, g, _ = case
    with torch.no_grad():
        assert max_err(tr.model.reference_attribute(g[f"ref_b{i}"], "AtoB"), g[f"z_b{i}"]) <= TOL
        assert max_err(tr.model.inference_forward(g[f"x_a{i}"], "AtoB", attr=g[f"rand{i}"]), g[f"ab_rand{i}"]) <= TOL
    assert max_err(translate(tr, g[f"x_a{i}"], style_from=g[f"ref_b{i}"]), g[f"ab_ref{i}"]) <= TOL
    assert max_err(translate(tr, g[f"x_b{i}"], direction="BtoA", style_from=g[f"ref_a{i}"]), g[f"ba_ref{i}"]) <= TOL


def test_round_trip_is_bit_identical(case, tmp_path):
    _, _, path = case
    original, back = round_trip(path, tmp_path)
    assert_bit_identical({p: original[p] for p in ("enc_c", "enc_a", "gen")}, back)


def test_wrong_config_and_keys_are_named(tmp_path):
    path, _, _ = official_file(0, tmp_path)
    with pytest.raises(CheckpointError, match=r"concat=1 but the weights say 0 \(enc_a has model_a.16.weight\)"):
        im2im_core.load(path, device="cpu", config={"concat": 1})
    obj = torch.load(path, weights_only=True)
    obj["gen"].pop("decB3.blk2.2.bias")
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match=r"missing \['gen.decB3.blk2.2.bias'\]"):
        im2im_core.load(path, device="cpu")
