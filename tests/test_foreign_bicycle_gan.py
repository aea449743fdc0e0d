"""junyanz/BicycleGAN `latest_net_G.pth` + `latest_net_E.pth` against goldens written by the official
models/networks.py (training/official/bicycle_gan.py)."""
import shutil

import pytest
import torch

import im2im_core
from im2im_core.errors import CheckpointError
from foreign_parity import TOL, assert_bit_identical, golden, load, max_err, round_trip, translate

FOLDER, G, META = golden("bicycle_gan")
WEIGHTS = FOLDER / META["weights"]
#: the issue's call form, at the golden's widths
CONFIG = {"netG": "unet_256", "netE": "resnet_256", "nz": 8, "ngf": 2, "nef": 4, "encoder": "latest_net_E.pth"}


@pytest.fixture(scope="module")
def tr():
    return load("bicycle_gan", config=CONFIG, file=META["weights"])


def test_config_is_inferred_and_official(tr):
    c = tr.model.config
    assert (tr.family, c.arch, c.num_downs, c.e_blocks, c.nz, c.ngf, c.nef) == ("bicycle_gan", "official", 8, 5, 8, 2, 4)


@pytest.mark.parametrize("i", [0, 1])
def test_parity_with_the_official_forward(tr, i):
    x = G[f"x{i}"]
    with torch.no_grad():
        assert max_err(tr.model.encode_reference(G[f"ref{i}"]), G[f"mu{i}"]) <= TOL
        if i == 0:  # a random code at 256 x 256, a reference's (through the Translator) at 256 x 512
            assert max_err(tr.model.inference_forward(x, "AtoB", z=G["z0"]), G["y_z0"]) <= TOL
            return
        assert max_err(tr.model.inference_forward(x, "AtoB", z=G[f"mu{i}"]), G[f"y_ref{i}"]) <= TOL
    # the Translator: z is the encoder's mean of the reference
    assert max_err(translate(tr, x, style_from=G[f"ref{i}"]), G[f"y_ref{i}"]) <= TOL


def test_encoder_is_found_beside_the_generator(tmp_path):
    for f in (META["weights"], META["encoder"]):
        shutil.copy(FOLDER / f, tmp_path / f)
    assert im2im_core.load(tmp_path / META["weights"], device="cpu").family == "bicycle_gan"
    (tmp_path / META["encoder"]).unlink()
    with pytest.raises(CheckpointError, match="needs its encoder too"):
        im2im_core.load(tmp_path / META["weights"], device="cpu")


def test_round_trip_is_bit_identical(tmp_path):
    original, back = round_trip(WEIGHTS, tmp_path, set="encoder=" + str(FOLDER / META["encoder"]))
    assert_bit_identical(original, back)
    assert_bit_identical(torch.load(FOLDER / META["encoder"], weights_only=True),
                         torch.load(tmp_path / "back_E.pth", weights_only=True))


def test_wrong_config_is_named():
    with pytest.raises(CheckpointError, match="netG='unet_128' but the weights have 8 U-Net levels"):
        im2im_core.load(WEIGHTS, device="cpu", config={**CONFIG, "netG": "unet_128"})
    with pytest.raises(CheckpointError, match=r"ngf=64 but the weights say 2 \(model.down.0.weight"):
        im2im_core.load(WEIGHTS, device="cpu", config={**CONFIG, "ngf": 64})
    with pytest.raises(CheckpointError, match="where_add='input' is not supported"):
        im2im_core.load(WEIGHTS, device="cpu", config={**CONFIG, "where_add": "input"})


def test_missing_encoder_keys_are_named(tmp_path):
    sd = torch.load(FOLDER / META["encoder"], weights_only=True)
    sd.pop("conv.2.shortcut.1.bias")
    torch.save(sd, tmp_path / "bad_E.pth")
    with pytest.raises(CheckpointError, match=r"bad_E.pth: keys do not match the E_ResNet \(missing \['conv.2.shortcut.1.bias'\]"):
        im2im_core.load(WEIGHTS, device="cpu", config={**CONFIG, "encoder": str(tmp_path / "bad_E.pth")})
