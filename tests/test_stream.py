"""Large images: the streamed layer-by-layer path (im2im_core.stream) equals whole-image inference."""
import glob
import os
import tempfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import im2im_core
from im2im_core import stream
from im2im_core.errors import Cancelled
from im2im_core.inference import Translator
from im2im_core.intensity import Intensity
from im2im_core.models import build, config_from_dict
from im2im_core.nets.generators import ResnetGenerator, UnetGenerator

torch.set_num_threads(2)


def psnr(a, b, peak=1.0):
    return 10 * np.log10(peak ** 2 / max(np.mean((np.asarray(a, np.float64) - b) ** 2), 1e-30))


def _translator(family, cfg, seed=0):
    torch.manual_seed(seed)
    model = build(config_from_dict(family, cfg))
    for m in model.modules():  # random, not zero, last layers: the output must depend on everything
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and not m.weight.abs().sum():
            nn.init.normal_(m.weight, std=0.05)
    return Translator(model, {"intensity": Intensity("fixed", 0.0, 1.0)}, torch.device("cpu"), precision="fp32")


def _image(size, seed=0):
    """Smooth structure plus noise, so every layer's statistics depend on the whole image."""
    g = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    return (0.5 + 0.3 * np.sin(9 * xx + 4 * yy ** 2) * np.cos(7 * yy) + 0.05 * g.standard_normal((size, size)))


@pytest.mark.parametrize("size", [1024, 2048, 4096])
def test_streamed_tiles_equal_whole_image_at_three_sizes(size):
    """Default (exact) large-image path against one whole-image pass: >= 40 dB; per-tile
    statistics (no correction) would be far off, and the thumbnail approximation is worse."""
    tr = _translator("generator", {"generator": {"ngf": 4, "n_blocks": 1}})
    img = _image(size).astype(np.float32)
    whole = tr.translate(img, tile=size, out_dtype="float32")
    tiled = tr.translate(img, tile=256, out_dtype="float32")
    assert psnr(whole, tiled) >= 40
    if size == 1024:
        thumb = tr.translate(img, tile=256, norm_stats="thumbnail", out_dtype="float32")
        assert psnr(whole, tiled) > psnr(whole, thumb) + 10


@pytest.mark.parametrize("family, cfg, direction", [
    ("cycle_gan", {"generator": {"arch": "unet", "num_downs": 5, "ngf": 8, "norm": "instance"},
                   "lambda_identity": 0.0}, "AtoB"),
    ("unit", {"dim": 8, "n_res": 2, "ndf": 8, "n_scales": 1}, "BtoA"),
    ("cycle_gan", {"generator": {"ngf": 8, "n_blocks": 2}, "lambda_identity": 0.0, "intensity_prior": "invert"},
     "BtoA"),
    ("super_resolution", {"scale": 4, "nf": 8, "n_blocks": 2}, "AtoB"),
])
def test_streamed_families_equal_whole_image(family, cfg, direction):
    """U-Net (skips across the whole image), UNIT (nearest up-sampling, layer norm free), a
    prior-wrapped generator (the pointwise quantile map), SRResNet (pixel shuffle, bicubic skip):
    all stream, all exact."""
    tr = _translator(family, cfg)
    img = _image(320, 1).astype(np.float32)
    gm = stream.trace(tr.model, lambda t: tr.model.inference_forward(t, direction))
    assert stream.n_steps(gm) > 3
    whole = tr.translate(img, direction, tile=512, out_dtype="float32")
    tiled = tr.translate(img, direction, tile=96, out_dtype="float32")
    assert psnr(whole, tiled) >= 60


def test_spilled_activations_equal_ram_ones_and_leave_no_files():
    """Tiny strips and a RAM budget of a few kB put every activation in a temporary file: the
    result is the same, and the files are gone afterwards."""
    torch.manual_seed(0)
    net = ResnetGenerator(1, 1, 8, "instance", n_blocks=2).eval()
    x = torch.from_numpy(_image(96, 2)[None, None].astype(np.float32))
    gm = stream.trace(net, net.forward)
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "im2im-stream-*")))
    with torch.no_grad():
        ref = net(x)
        disk = stream.stream(gm, x, strip_bytes=2048, ram_bytes=4096)["image"]
    assert torch.allclose(ref, disk, atol=1e-5)
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "im2im-stream-*"))) == before


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic"])
@pytest.mark.parametrize("scale", [2, 3])
def test_interpolation_and_pixel_shuffle_stream_exactly(mode, scale):
    """Up-sampling reads a halo and clamps at the borders as the kernel does; strips of a few rows
    make every strip boundary count."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2 * scale * scale, 3, padding=1)
            self.shuffle = nn.PixelShuffle(scale)
            self.up = nn.Upsample(scale_factor=scale, mode=mode)

        def forward(self, x):
            return self.shuffle(self.conv(x)) + self.up(x) + F.interpolate(x, scale_factor=scale, mode=mode)

    torch.manual_seed(0)
    net = Net().eval()
    x = torch.randn(1, 2, 37, 29)
    with torch.no_grad():
        out = stream.stream(stream.trace(net, net.forward), x, strip_bytes=512)["image"]
        assert torch.allclose(net(x), out, atol=1e-4)  # the kernels' weights round differently per band


def test_unet_with_batch_norm_streams_exactly():
    torch.manual_seed(1)
    net = UnetGenerator(3, 3, 4, 8, "batch").eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(1, 3, 80, 112)
    with torch.no_grad():
        ref = net(x)
        out = stream.stream(stream.trace(net, net.forward), x, strip_bytes=4096)["image"]
    assert torch.allclose(ref, out, atol=1e-5)


class _Bilinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)

    def forward(self, x):
        return self.up(self.conv(x))


def test_what_cannot_stream_says_so():
    for net in (_Bilinear(), UnetGenerator(1, 1, 3, 4, "batch").train()):
        with pytest.raises(stream.Unsupported):
            gm = stream.trace(net, net.forward)
            stream.stream(gm, torch.randn(1, 1, 32, 32))


def test_cancel_stops_a_streamed_image_and_cleans_up():
    tr = _translator("generator", {"generator": {"ngf": 4, "n_blocks": 1}})
    img = _image(512).astype(np.float32)
    ticks = []
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "im2im-stream-*")))
    with pytest.raises(Cancelled):
        tr.translate(img, tile=128, progress=lambda d, t: ticks.append((d, t)), cancel=lambda: len(ticks) >= 3)
    assert len(ticks) == 3 and ticks[-1][1] > 3
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "im2im-stream-*"))) == before


def test_shipped_unit_streams_exactly_where_thumbnails_fail():
    """The issue's worst case: the shipped UNIT with thumbnail statistics was 23 dB off."""
    tr = im2im_core.load("unit_t1w_t2w", device="cpu", precision="fp32")
    img = _image(640, 3).astype(np.float32)
    whole = tr.translate(img, "T1w->T2w", tile=1024, out_dtype="float32", resample=False)
    tiled = tr.translate(img, "T1w->T2w", tile=256, out_dtype="float32", resample=False)
    assert psnr(whole, tiled) >= 60


def _untraceable(tr):
    """The model with a Python branch on the image's size in its inference: not traceable."""
    forward = tr.model.inference_forward
    tr.model.inference_forward = lambda t, d, **o: forward(t, d, **o) if t.shape[-1] > 0 else t
    return tr


def test_unstreamable_model_runs_whole_images_up_to_four_tiles():
    """A network the tracer cannot follow: up to four tiles' pixels the image runs in one whole
    pass (the same output as an untiled call); above, tiles with a pass per norm, still close to
    it, with a NotStreamable warning that says why."""
    from im2im_core.errors import NotStreamable

    tr = _untraceable(_translator("generator", {"generator": {"ngf": 8, "n_blocks": 2}}))
    with pytest.raises(stream.Unsupported):
        stream.trace(tr.model, lambda t: tr.model.inference_forward(t, "AtoB"))
    img = _image(320, 3).astype(np.float32)
    whole = tr.translate(img, tile=512, out_dtype="float32")
    ticks = []
    np.testing.assert_array_equal(tr.translate(img, tile=160, out_dtype="float32",
                                               progress=lambda i, n: ticks.append((i, n))), whole)
    assert ticks == [(1, 1)]  # one unit: the whole image
    ticks.clear()
    with pytest.warns(NotStreamable, match="not traceable.*tiles with a statistics pass"):
        tiled = tr.translate(img, tile=128, out_dtype="float32", progress=lambda i, n: ticks.append((i, n)))
    assert len(ticks) > 4 and ticks[-1][0] == ticks[-1][1]
    assert psnr(whole, tiled) >= 30


def test_unstreamable_multimodal_model_runs_whole_with_a_warning():
    """Families whose codes or labels enter every tile (here MUNIT with a seeded style) never tile
    when they cannot stream: one whole-image pass, equal to the untiled call, and a warning."""
    from im2im_core.errors import NotStreamable

    tr = _untraceable(_translator("munit", {"dim": 8, "n_res": 1, "mlp_dim": 16, "ndf": 8, "n_scales": 1}))
    img = _image(320, 3).astype(np.float32)
    whole = tr.translate(img, tile=512, out_dtype="float32", seed=3)
    with pytest.warns(NotStreamable, match="munit: .*not traceable.*one whole-image pass"):
        tiled = tr.translate(img, tile=64, overlap=16, out_dtype="float32", seed=3)
    np.testing.assert_array_equal(tiled, whole)
