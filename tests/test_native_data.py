"""Native 1 mm MNI training data: held-out slabs never reach training, crops and their augmentation,
the real T1 template as domain A, and the training-free baselines of the translation benchmark."""
import numpy as np
import pytest
import torch

pytest.importorskip("nilearn")

from im2im_core.data import mni  # noqa: E402
from im2im_core.data.build import build_dataset  # noqa: E402
from im2im_core.data.datasets import DataConfig  # noqa: E402
from im2im_core.data.volume_crops import VolumeCrops  # noqa: E402


@pytest.fixture(scope="module")
def tissues():
    return mni.load_mni_tissues()


def test_held_out_slabs_and_guards_never_reach_the_training_subvolumes(tissues):
    split = mni.native_split(tissues["brain"], axis=2)
    held = np.concatenate([split["val"], split["test"]])
    assert len(split["val"]) >= 8 and len(split["test"]) >= 20
    assert not set(split["val"]) & set(split["test"])
    train = np.concatenate([np.arange(a, b) for a, b in split["train"]])
    # no training slice lies within the guard gap of a held-out slice, along the split axis
    assert np.abs(train[:, None] - held[None, :]).min() > mni.NATIVE_GAP
    # the sub-volumes are exactly those slices: every orientation slices only training voxels
    coords = np.arange(tissues["brain"].shape[2])
    parts = mni.training_subvolumes(np.broadcast_to(coords, tissues["brain"].shape), split)
    seen = np.unique(np.concatenate([p.ravel() for p in parts]))
    assert np.array_equal(seen, np.sort(train))


def test_t1_domain_is_the_real_template_scaled_like_the_napari_sample(tissues):
    from napari_im2im._sample_data import mni_t1

    t1 = mni.contrast_volume(tissues, "T1w")
    sample = mni_t1()[0][0]  # (z, y, x) as napari shows it
    np.testing.assert_array_equal(sample, t1.T[:, ::-1])  # rows anterior first
    syn = mni.contrast_volume(tissues, "T1w", t1_source="synthetic")
    assert not np.allclose(syn, t1)
    with pytest.raises(ValueError, match="t1_source"):
        mni.contrast_volume(tissues, "T1w", t1_source="other")


def _volumes(seed=0, shape=(40, 50, 30)):
    rng = np.random.default_rng(seed)
    v = -np.ones(shape, np.float32)
    v[5:35, 5:45, 3:27] = rng.uniform(-0.5, 1, (30, 40, 24))
    return v


def test_crops_have_the_size_range_and_draws_are_reproducible():
    ds = VolumeCrops([_volumes(0)], [_volumes(1)], crop=32, length=10)
    torch.manual_seed(3)
    a = ds[0]
    torch.manual_seed(3)
    b = ds[0]
    assert a["A"].shape == (1, 32, 32) and a["B"].shape == (1, 32, 32)
    assert a["A"].min() >= -1 and a["A"].max() <= 1
    assert torch.equal(a["A"], b["A"]) and torch.equal(a["B"], b["B"])
    assert (a["A"] > -1).float().mean() > 0.2  # crops are centred near foreground, not on empty space
    c = ds[0]  # a further draw differs
    assert not torch.equal(a["A"], c["A"])
    # all three orientations are used
    assert {ax for _, ax, _ in ds.slices["A"]} == {0, 1, 2}


def test_paired_crops_share_every_geometric_draw_and_unpaired_do_not():
    v = _volumes(0)
    paired = VolumeCrops([v], [v.copy()], crop=24, paired=True, gamma=0.0)
    unpaired = VolumeCrops([v], [v.copy()], crop=24, paired=False, gamma=0.0)
    torch.manual_seed(0)
    for _ in range(5):
        item = paired[0]
        assert torch.equal(item["A"], item["B"])
    torch.manual_seed(0)
    assert any(not torch.equal(it["A"], it["B"]) for it in (unpaired[0] for _ in range(5)))
    # the intensity curve touches the input of a pair only
    with_gamma = VolumeCrops([v], [v.copy()], crop=24, paired=True, gamma=0.3, rotate=0, zoom=0, flip=False)
    torch.manual_seed(1)
    diffs = [float((it["A"] - it["B"]).abs().max()) for it in (with_gamma[0] for _ in range(5))]
    assert max(diffs) > 1e-3


def test_native_mni_dataset_records_its_spacing_and_trains_on_template_crops(tissues):
    ds = build_dataset(DataConfig(kind="mni", crop_size=64))
    assert ds.spacing == (1.0, 1.0)
    assert "template" in ds.description and "cut out" in ds.description
    torch.manual_seed(0)
    item = ds[0]
    assert item["A"].shape == (1, 64, 64) and item["B"].shape == (1, 64, 64)
    thumb = build_dataset(DataConfig(kind="mni", size=32, t1_source="synthetic"))
    assert thumb[0]["A"].shape[-1] == 32


def test_bad_crop_options_are_clear_errors():
    from im2im_core.errors import ConfigError, InputError

    with pytest.raises(InputError, match="crop"):
        VolumeCrops([_volumes()], [_volumes()], crop=4)
    with pytest.raises(InputError, match="axes"):
        VolumeCrops([_volumes()], [_volumes()], axes=(3,))
    with pytest.raises(InputError, match="paired volumes"):
        VolumeCrops([_volumes()], [_volumes(shape=(40, 50, 31))], paired=True)
    with pytest.raises(ConfigError, match="t1_source"):
        build_dataset(DataConfig(kind="mni", t1_source="real"))


def test_multi_domain_native_crops_cover_every_contrast():
    ds = build_dataset(DataConfig(kind="mni", crop_size=48, contrasts=("T1w", "T2w", "PD")), domains=("T1w", "T2w", "PD"))
    assert ds.domains == ("T1w", "T2w", "PD") and ds.spacing == (1.0, 1.0)
    assert ds.counts() == {"T1w": 1000, "T2w": 1000, "PD": 1000}
    torch.manual_seed(0)
    item = ds[len(ds) - 1]
    assert item["image"].shape == (1, 48, 48) and int(item["label"]) == 2


def test_balanced_centres_oversample_rare_intensities():
    """On a slice where 2% of the foreground is bright, balanced crops centre there about half the
    time (16 bins, two occupied), plain crops about 2% of the time."""
    v = -np.ones((1, 64, 64), np.float32)
    v[0, 8:56, 8:56] = 0.0
    v[0, 30:37, 30:35] = 0.9  # a small bright structure: 35 of 2304 foreground pixels
    vols = [np.repeat(v, 3, axis=0)]
    hits = {}
    for balance in (False, True):
        ds = VolumeCrops(vols, vols, crop=8, axes=(0,), rotate=0, zoom=0, gamma=0, flip=False, balance=balance)
        torch.manual_seed(0)
        hits[balance] = np.mean([float(ds[0]["A"][0, 4, 4]) > 0.5 for _ in range(300)])
    assert hits[False] < 0.1 and hits[True] > 0.3, hits
