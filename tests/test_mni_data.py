"""Tests for im2im_core.data.mni: offline MNI anatomy, physical contrasts, leak-free splits."""
import socket

import numpy as np
import pytest

pytest.importorskip("nilearn")
pytest.importorskip("skimage")

from im2im_core.data import mni  # noqa: E402

MNI_SHAPE = (197, 233, 189)


@pytest.fixture(scope="module")
def tissues():
    """Tissues loaded once for the module (lru_cache also shares them)."""
    return mni.load_mni_tissues()


def test_loads_offline(tmp_path, monkeypatch):
    """The template must come from files inside the wheel: no cache dir, no network."""
    monkeypatch.setenv("NILEARN_DATA", str(tmp_path))
    monkeypatch.setenv("NILEARN_SHARED_DATA", str(tmp_path))

    def _no_network(*args, **kwargs):
        raise RuntimeError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    mni._load_cached.cache_clear()
    t = mni.load_mni_tissues()
    assert t["t1_template"].shape == MNI_SHAPE
    assert list(tmp_path.iterdir()) == []  # nothing was downloaded / cached


def test_shapes_ranges_and_metadata(tissues):
    """Shapes, dtypes, probability ranges, CSF definition, affine and voxel size."""
    for key in ("t1_template", "gm", "wm", "csf"):
        v = tissues[key]
        assert v.shape == MNI_SHAPE and v.dtype == np.float32
        assert v.min() >= 0.0 and v.max() <= 1.0 + 1e-6
    brain = tissues["brain"]
    assert brain.dtype == bool and brain.shape == MNI_SHAPE
    assert 1.5e6 < brain.sum() < 2.2e6  # ~1.9 L of brain at 1 mm
    assert (tissues["csf"] >= 0).all() and tissues["csf"][~brain].max() == 0
    total = tissues["gm"] + tissues["wm"] + tissues["csf"]
    np.testing.assert_allclose(total[brain], 1.0, atol=1e-5)
    assert tissues["affine"].shape == (4, 4)
    assert tissues["voxel_size"] == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        tissues["gm"][0, 0, 0] = 1.0  # cached arrays are read-only


def _tissue_means(tissues, vol):
    """Mean signal over nearly pure (p > 0.9) voxels of each tissue."""
    return {t: float(vol[tissues[t] > 0.9].mean()) for t in ("wm", "gm", "csf")}


def test_contrasts_physical_ordering(tissues):
    """T1w: WM > GM > CSF; T2w and PD: CSF > GM > WM; all in [0, 1], zero outside brain."""
    vols = {c: mni.synthesize_contrast(tissues, c) for c in ("T1w", "T2w", "PD")}
    for v in vols.values():
        assert v.dtype == np.float32 and v.min() >= 0 and v.max() <= 1
        assert v[~tissues["brain"]].max() == 0  # skull-stripped by default
    m = _tissue_means(tissues, vols["T1w"])
    assert m["wm"] > m["gm"] > m["csf"]
    m = _tissue_means(tissues, vols["T2w"])
    assert m["csf"] > m["gm"] > m["wm"]
    m = _tissue_means(tissues, vols["PD"])
    assert m["csf"] > m["gm"] > m["wm"]
    with pytest.raises(ValueError):
        mni.synthesize_contrast(tissues, "FLAIR")
    with pytest.raises(ValueError):
        mni.synthesize_contrast(tissues, "T2w", skull_stripped=False)
    scalp = mni.synthesize_contrast(tissues, "T1w", skull_stripped=False)
    np.testing.assert_array_equal(scalp[tissues["brain"]], vols["T1w"][tissues["brain"]])


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_split_disjoint_and_deterministic(tissues, axis):
    """A and B disjoint, neither touches the test slab or its guard gap; same result twice."""
    gap = 4
    s = mni.split_slices(tissues["brain"], axis=axis, gap=gap)
    s2 = mni.split_slices(tissues["brain"], axis=axis, gap=gap)
    for k in ("A", "B", "test"):
        np.testing.assert_array_equal(s[k], s2[k])
        assert len(s[k]) > 10
    a, b, test = set(s["A"]), set(s["B"]), s["test"]
    assert not a & b
    assert np.all(np.diff(test) == 1)  # one contiguous slab
    guarded = set(range(test.min() - gap, test.max() + gap + 1))
    assert not (a | b) & guarded
    frac = tissues["brain"].mean(axis=tuple(i for i in range(3) if i != axis))
    assert (frac[np.concatenate([s["A"], s["B"], test])] > 0.05).all()


def test_split_sagittal_mirror_images_never_cross(tissues):
    """The symmetric template makes sagittal x and 2c-x identical: they must share a set."""
    brain = tissues["brain"]
    c2 = mni._mirror_sum(brain, 0)
    assert c2 is not None and mni._mirror_sum(brain, 2) is None
    np.testing.assert_array_equal(tissues["gm"][c2 // 2 - 20], tissues["gm"][c2 // 2 + 20])
    s = mni.split_slices(brain, axis=0, test_slabs=((0.1, 0.25),))  # off-centre slab
    for k in ("A", "B", "test"):
        assert set(c2 - s[k]) == set(s[k])
    guard = {i + d for i in s["test"] for d in range(-4, 5)}
    assert not set(s["A"]) & set(s["B"]) and not (set(s["A"]) | set(s["B"])) & guard


def test_translation_dataset_axial(tissues):
    """Train = unpaired disjoint slices; test = paired, aligned slices with brain masks."""
    train = mni.mri_translation_dataset(axis=2, size=64, split="train")
    test = mni.mri_translation_dataset(axis=2, size=64, split="test")
    s = mni.split_slices(tissues["brain"], axis=2)
    assert train["A"].shape == (len(s["A"]), 64, 64) and train["A"].dtype == np.float32
    assert train["B"].shape == (len(s["B"]), 64, 64)
    assert test["A"].shape == test["B"].shape == (len(s["test"]), 64, 64)
    mask = mni.brain_mask_slices(axis=2, size=64, split="test")
    assert mask.shape == test["A"].shape and mask.dtype == bool
    # paired test: same anatomy -> supports coincide; T2w CSF-bright vs T1w CSF-dark
    inside = mask & (test["A"] > 0.05)
    assert (test["B"][inside] > 0).mean() > 0.99
    assert np.corrcoef(test["A"][mask], test["B"][mask])[0, 1] < 0  # inverse contrast
    assert 0 <= test["A"].min() and test["A"].max() <= 1.0 + 1e-5


@pytest.mark.parametrize("axis", [0, 1])
def test_translation_dataset_other_axes(axis):
    """Sagittal and coronal slices work and are square at the requested size."""
    test = mni.mri_translation_dataset(axis=axis, size=32, contrasts=("T1w", "PD"),
                                       split="test")
    assert test["A"].shape[1:] == (32, 32) and test["A"].shape == test["B"].shape
    assert mni.brain_mask_slices(axis=axis, size=32).shape == test["A"].shape
