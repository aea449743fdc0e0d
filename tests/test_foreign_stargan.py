"""yunjey/stargan `*-G.ckpt` against goldens written by the official model.py (training/official/stargan.py)."""
import pytest
import torch

import im2im_core
from im2im_core.errors import CheckpointError, InputError
from foreign_parity import TOL, assert_bit_identical, golden, load, max_err, round_trip, translate

FOLDER, G, META = golden("stargan")
WEIGHTS, CONFIG = FOLDER / META["weights"], META["config"]


@pytest.fixture(scope="module")
def tr():
    return load("stargan", config=CONFIG, file=META["weights"])


def test_config_is_inferred_and_official(tr):
    c = tr.model.config
    assert (tr.family, c.arch, c.dim, c.n_res, len(c.domains)) == ("stargan", "official", 8, 2, 5)
    assert tr.domains == ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]
    assert im2im_core.load(WEIGHTS, device="cpu").model.config.dim == 8  # every value is in the shapes


@pytest.mark.parametrize("i", [0, 1])
@pytest.mark.parametrize("j", [0, 1, 2])
def test_parity_with_the_official_forward(tr, i, j):
    x, label, want = G[f"x{i}"], META["labels"][j], G[f"y{i}_{j}"]
    with torch.no_grad():  # a batch of two: every image has its own instance-norm statistics
        assert max_err(tr.model.inference_forward(x, "to_target", target_vector=tuple(label)), want) <= TOL
    for k in range(2):
        assert max_err(translate(tr, x[k:k + 1], target=label), want[k:k + 1]) <= TOL
    if sum(label) == 1:  # a one-hot label is a domain name
        assert max_err(translate(tr, x[:1], target=tr.domains[label.index(1)]), want[:1]) <= TOL


def test_bad_label_vector_is_refused(tr):
    with pytest.raises(InputError, match="label vector of 5 numbers"):
        tr.translate(G["x0"][0, 0].numpy(), target=[1, 0])


def test_round_trip_is_bit_identical(tmp_path):
    original, back = round_trip(WEIGHTS, tmp_path, config=None)
    assert_bit_identical(original, back)


def test_pytorch_03_file_without_num_batches_tracked_loads(tmp_path, tr):
    sd = {k: v for k, v in torch.load(WEIGHTS, weights_only=True).items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old-G.ckpt"
    torch.save(sd, path)
    old = im2im_core.load(path, device="cpu", precision="fp32")
    assert max_err(translate(old, G["x0"][:1], target=META["labels"][0]), G["y0_0"][:1]) <= TOL


def test_wrong_config_and_keys_are_named(tmp_path):
    with pytest.raises(CheckpointError, match=r"c_dim=8 but the weights say 5 \(main.0.weight is \(8, 8, 7, 7\)\)"):
        im2im_core.load(WEIGHTS, device="cpu", config={"c_dim": 8})
    with pytest.raises(CheckpointError, match="g_repeat_num=6 but the weights say 2"):
        im2im_core.load(WEIGHTS, device="cpu", config={"g_repeat_num": 6})
    sd = torch.load(WEIGHTS, weights_only=True)
    sd.pop("main.9.main.1.weight")
    sd["main.12.weight"] = torch.zeros(3)
    path = tmp_path / "bad-G.ckpt"
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match=r"missing \['main.9.main.1.weight'\]; wrong shape \['main.12.weight \(3,\)"):
        im2im_core.load(path, device="cpu")


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "cut-G.ckpt"
    path.write_bytes(WEIGHTS.read_bytes()[:3000])
    with pytest.raises(CheckpointError, match="cut-G.ckpt is not a readable"):
        im2im_core.load(path, device="cpu")


def test_tiled_equals_whole_image(tr):
    """The label concatenation is one pointwise step for the tiled executor, so tiles are seamless."""
    import numpy as np

    img = (np.random.default_rng(0).random((256, 256, 3)) * 255).astype(np.float32)
    for target in ([1, 0, 0, 1, 0], "Male"):
        whole = tr.translate(img, out_dtype="float32", precision="fp32", target=target)
        tiled = tr.translate(img, out_dtype="float32", precision="fp32", target=target, tile=64, overlap=16)
        assert np.abs(whole - tiled).max() / 127.5 <= TOL
