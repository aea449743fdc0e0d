"""The lesion-removal data: lesions sit in white matter, masks and contrasts match what was painted,
the truth is the same slice without them, and training never sees a held-out slice."""
import numpy as np
import pytest

from im2im_core.data import lesions


@pytest.fixture(scope="module")
def data():
    return lesions.lesion_data()


def test_add_lesions_paints_what_the_mask_and_contrast_say():
    rng = np.random.default_rng(0)
    img = np.full((60, 50), 0.5, np.float32)
    wm = np.zeros((60, 50), np.float32)
    wm[20:40, 15:35] = 1.0
    out, mask, delta = lesions.add_lesions(img, wm, rng, count=(3, 3))
    assert mask.any() and (delta[~mask] == 0).all() and (delta[mask] != 0).all()
    np.testing.assert_allclose(out, np.clip(img + delta, 0, 1))
    ys, xs = np.nonzero(mask)  # centres in the white-matter core, radii <= 5 px (x 1.3)
    assert ys.min() >= 20 - 8 and ys.max() <= 40 + 8 and xs.min() >= 15 - 8 and xs.max() <= 35 + 8
    empty = lesions.add_lesions(img, np.zeros_like(wm), rng)
    assert not empty[1].any() and np.array_equal(empty[0], img)


def test_split_shapes_truth_and_determinism(data):
    h, w = data["A"].shape[1:]
    idx = data["index"]
    assert data["B"].shape[1:] == (h, w) and len(data["A"]) == 4 * len(idx["A"]) and len(data["B"]) == len(idx["B"])
    for name in ("val", "test"):
        s = data[name]
        assert s["image"].shape == s["truth"].shape == s["mask"].shape and len(s["image"]) >= 5
        assert all(m.any() for m in s["mask"])  # every held-out slice has a lesion
        np.testing.assert_allclose(s["image"][~s["mask"]], s["truth"][~s["mask"]])
        assert (np.abs(s["image"] - s["truth"])[s["mask"]].mean()) > 0.1
        assert s["mask"][~s["brain"]].mean() < 0.05  # lesions lie in the brain
    again = lesions.lesion_data()
    assert np.array_equal(again["A"], data["A"]) and np.array_equal(again["test"]["mask"], data["test"]["mask"])
    assert 0.0 <= data["A"].min() and data["A"].max() <= 1.0


def test_training_never_sees_a_held_out_slice(data):
    idx = data["index"]
    train, held = set(idx["A"]) | set(idx["B"]), set(idx["val"]) | set(idx["test"])
    assert not set(idx["A"]) & set(idx["B"])  # A and B come from disjoint slices
    assert min(abs(a - b) for a in train for b in held) >= 3  # the guard (2 slices) lies between
    assert not {t.tobytes() for t in data["B"]} & {t.tobytes() for t in data["test"]["truth"]}
    assert lesions.volumes_2mm()["t1"].shape == tuple(-(-s // 2) for s in (197, 233, 189))


def test_report_reprints_every_committed_result():
    """`--report` rebuilds the README's table from the committed JSONs, one row per result."""
    import json

    from training.benchmarks import lesion_removal as lr

    files = sorted(lr.RESULTS.glob("*.json"))
    assert {f.stem for f in files} >= {"identity", "cycle_gan", "council_gan", "acl_gan"}
    text = lr.report()
    for f in files:
        r = json.loads(f.read_text())
        t = r["metrics"]["test"]
        assert f"| {r['name']} | {t['ssim_mask']:.3f} | {t['psnr_mask']:.2f} dB |" in text
