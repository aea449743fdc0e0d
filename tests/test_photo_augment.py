"""PhotoAugment: zoomed-out crops of a real photo in 8 orientations with a gamma curve."""
import numpy as np
import pytest
import torch
from skimage.data import camera

from im2im_core.data.transforms import PhotoAugment
from im2im_core.errors import InputError


@pytest.fixture(scope="module")
def photo():
    return torch.from_numpy(camera().astype(np.float32) / 127.5 - 1)[None]


def dihedral(x):
    """The 8 rotations and reflections of a (C, H, W) square."""
    return [torch.rot90(v, k, (-2, -1)) for v in (x, x.flip(-1)) for k in range(4)]


def test_crops_are_the_size_asked_in_range_and_reproducible(photo):
    aug = PhotoAugment(crop_size=96)
    torch.manual_seed(3)
    a = [aug([photo])[0] for _ in range(6)]
    torch.manual_seed(3)
    b = [aug([photo])[0] for _ in range(6)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert all(x.shape == (1, 96, 96) and x.min() >= -1 and x.max() <= 1 for x in a)
    assert len({x.sum().item() for x in a}) == 6


def test_without_zoom_or_gamma_it_draws_the_eight_orientations(photo):
    """A crop as large as the image, zoom_out=1, gamma=0: each output is exactly one of its 8
    dihedral views, and 40 draws see all of them."""
    img = photo[:, 100:164, 200:264]
    aug = PhotoAugment(crop_size=64, zoom_out=1.0, gamma=0.0)
    views = dihedral(img)
    torch.manual_seed(0)
    seen = set()
    for _ in range(40):
        y = aug([img])[0]
        hits = [i for i, v in enumerate(views) if torch.equal(y, v)]
        assert hits, "output is not an orientation of the image"
        seen.add(hits[0])
    assert seen == set(range(8))


def test_gamma_is_a_monotone_curve_of_an_orientation(photo):
    img = photo[:, 100:164, 200:264]
    torch.manual_seed(1)
    for _ in range(5):
        y = PhotoAugment(crop_size=64, zoom_out=1.0, gamma=0.5)([img])[0].flatten()
        monotone = [bool((y[torch.argsort(v.flatten())].diff() >= -1e-6).all()) for v in dihedral(img)]
        assert any(monotone) and not any(torch.allclose(y, v.flatten(), atol=1e-4) for v in dihedral(img))


def test_zoomed_out_crops_hold_more_detail_per_pixel(photo):
    """zoom_out=4 shrinks windows up to 4x the crop: mean gradient above plain crops'."""
    def detail(aug):
        torch.manual_seed(2)
        return np.mean([float(aug([photo])[0].diff(dim=-1).abs().mean()) for _ in range(20)])

    assert detail(PhotoAugment(crop_size=64, zoom_out=4.0, gamma=0.0)) > detail(
        PhotoAugment(crop_size=64, zoom_out=1.0, gamma=0.0))


def test_paired_images_share_the_draw(photo):
    torch.manual_seed(5)
    a, b = PhotoAugment(crop_size=64)([photo, photo])
    assert torch.equal(a, b)


@pytest.mark.parametrize("bad", [{"crop_size": 0}, {"crop_size": 64, "zoom_out": 0.5}, {"crop_size": 64, "gamma": -1}])
def test_bad_settings_are_clear_errors(bad):
    with pytest.raises(InputError, match="PhotoAugment"):
        PhotoAugment(**bad)
