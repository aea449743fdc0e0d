"""NVlabs/MUNIT `gen_*.pt` against goldens written by the official networks.py (training/official/munit.py)."""
import pytest
import torch
import yaml

import im2im_core
from im2im_core.errors import CheckpointError
from foreign_parity import TOL, assert_bit_identical, golden, load, max_err, round_trip, translate

FOLDER, G, META = golden("munit")
WEIGHTS, CONFIG = FOLDER / META["weights"], FOLDER / META["config"]


@pytest.fixture(scope="module")
def tr():
    return load("munit", config=CONFIG, file=META["weights"])


def test_config_is_inferred_and_official(tr):
    c = tr.model.config
    assert (tr.family, c.arch, c.dim, c.n_res, c.mlp_dim, c.in_channels, c.out_channels) == \
        ("munit", "official", 4, 2, 16, 3, 1)
    assert tr.meta["provenance"]["official"]["config"]["gen"]["dim"] == 4


@pytest.mark.parametrize("i", [0, 1])
def test_parity_with_the_official_forward(tr, i):
    x = G[f"x_a{i}"]
    with torch.no_grad():
        assert max_err(tr.model.inference_forward(x, "AtoB"), G[f"ab_zero{i}"]) <= TOL
        assert max_err(tr.model.inference_forward(x, "AtoB", style=G[f"rand{i}"]), G[f"ab_rand{i}"]) <= TOL
        assert max_err(tr.model.reference_style(G[f"ref_b{i}"], "AtoB"), G[f"style_b{i}"]) <= TOL
    # the Translator: official [0, 255] pre/post-processing, the style of a reference image
    assert max_err(translate(tr, x, style_from=G[f"ref_b{i}"]), G[f"ab_ref{i}"]) <= TOL
    assert max_err(translate(tr, G[f"x_b{i}"], direction="BtoA", style_from=G[f"ref_a{i}"]), G[f"ba_ref{i}"]) <= TOL


def test_shipped_yaml_layout_is_read(tmp_path):
    """A config in the official edges2shoes_folder.yaml layout (gen/dis blocks, training keys)."""
    cfg = yaml.safe_load(CONFIG.read_text())
    cfg.update({"max_iter": 1000000, "dis": {"dim": 64, "norm": "none", "n_layer": 4}, "new_size": 256})
    path = tmp_path / "edges2shoes_folder.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert im2im_core.load(WEIGHTS, device="cpu", config=str(path)).model.config.pad_type == "reflect"


def test_round_trip_is_bit_identical(tmp_path):
    original, back = round_trip(WEIGHTS, tmp_path, config=CONFIG)
    assert_bit_identical(original, back)


def test_wrong_config_names_the_keys(tmp_path):
    with pytest.raises(CheckpointError, match=r"dim=64 but the weights say 4 \(enc_content.model.0.conv.weight is"):
        im2im_core.load(WEIGHTS, device="cpu", config={"gen": {"dim": 64}})
    with pytest.raises(CheckpointError, match="input_dim_b=3 but the weights say 1"):
        im2im_core.load(WEIGHTS, device="cpu", config={"input_dim_b": 3})


def test_missing_unexpected_and_misshaped_keys_are_named(tmp_path):
    sd = torch.load(WEIGHTS, weights_only=True)
    sd["b"].pop("dec.model.2.norm.gamma")
    sd["b"]["extra.weight"] = torch.zeros(1)
    sd["a"]["dec.model.5.conv.bias"] = torch.zeros(7)
    path = tmp_path / "gen_bad.pt"
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match=r"wrong shape \['dec.model.5.conv.bias \(7,\)"):
        im2im_core.load(path, device="cpu")
    sd["a"]["dec.model.5.conv.bias"] = torch.zeros(3)
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match=r"\['b'\].*missing \['dec.model.2.norm.gamma'\]; unexpected \['extra.weight'\]"):
        im2im_core.load(path, device="cpu")


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "gen_trunc.pt"
    path.write_bytes(WEIGHTS.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="gen_trunc.pt is not a readable"):
        im2im_core.load(path, device="cpu")


def test_pytorch_03_instance_norm_buffers_are_ignored(tmp_path, tr):
    """PyTorch 0.3 saved running statistics for affine-free InstanceNorm2d; no forward reads them."""
    sd = torch.load(WEIGHTS, weights_only=True)
    for d in ("a", "b"):
        for k in ("enc_content.model.0.norm", "enc_content.model.3.model.1.model.0.norm"):
            sd[d][f"{k}.running_mean"], sd[d][f"{k}.running_var"] = torch.rand(4 if "model.0" in k else 16), torch.rand(16)
    path = tmp_path / "gen_old.pt"
    torch.save(sd, path)
    old = im2im_core.load(path, device="cpu", precision="fp32", config=CONFIG)
    assert max_err(translate(old, G["x_a0"], style_from=G["ref_b0"]), G["ab_ref0"]) <= TOL
