"""Skull removal on a real head (issue 36): the data's splits, and every shipped `skull_*` model held to
the targets on held-out slices, where identity and the quantile map q fail the same check."""
import numpy as np
import pytest

import im2im_core
from im2im_core.data import skull
from training.benchmarks import skull_removal as bench

from im2im_core.inference import shipped_models

SHIPPED = sorted(m for m in shipped_models() if m.startswith("skull_"))


@pytest.fixture(scope="module")
def data():
    return skull.skull_data()


@pytest.fixture(scope="module")
def few(data):
    """Four held-out test slices spread over the test block."""
    t = data["test"]
    idx = np.linspace(0, len(t["image"]) - 1, 4).round().astype(int)
    return {k: v[idx] for k, v in t.items()}


def meets_targets(m: dict) -> bool:
    return (m["dice"] >= bench.TARGETS["dice"] and m["ssim_brain"] >= bench.TARGETS["ssim_brain"]
            and m["residual"] <= bench.TARGETS["residual"])


def test_splits_are_disjoint_guarded_and_unpaired(data):
    idx = data["index"]
    held = np.concatenate([idx["val"], idx["test"]])
    for name in ("A", "B"):
        assert np.abs(idx[name][:, None] - held[None, :]).min() > skull.GAP  # no training slice near a held-out one
    assert not set(idx["A"]) & set(idx["B"])  # unpaired: no slice is in both domains
    assert np.all(data["test"]["truth"][~data["test"]["brain"]] == 0)
    inside = data["test"]["brain"]
    assert np.array_equal(data["test"]["truth"][inside], data["test"]["image"][inside])  # ch2bet = ch2 in the brain


def test_identity_and_the_quantile_map_fail_the_targets(data, few):
    for fn in (lambda x: x, lambda x: bench.quantile_map(x, data)):
        assert not meets_targets(bench.evaluate(fn, None, few))


def test_skull_models_are_shipped():
    assert {"skull_attention"} <= set(SHIPPED), SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_skull_model_meets_its_targets_on_held_out_slices(name, few):
    tr = im2im_core.load(name, device="cpu")
    head = (few["image"] * 254).astype(np.uint8)  # as a user's 8-bit volume: dtype and scale come back
    out = tr.translate(head)
    assert out.dtype == np.uint8 and out.shape == head.shape
    m = bench.evaluate(lambda x: tr.translate(x, out_dtype="float32"), None, few)
    assert meets_targets(m), m
