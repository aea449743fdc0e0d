"""Packed (oneDNN-layout) convolutions give the eager results, fall back where they cannot, and
follow weight changes; through the Translator the official nets stay within bf16 tolerance."""
import copy

import numpy as np
import pytest
import torch
from torch import nn

import im2im_core
from im2im_core.nets import packed
from training.benchmarks import reference_nets as ref_nets

pytestmark = pytest.mark.skipif(not packed.available(), reason="this torch build has no oneDNN")

LAYERS = [
    lambda: nn.Conv2d(6, 8, 3, padding=1),
    lambda: nn.Conv2d(6, 8, 4, stride=2, padding=1, bias=False),
    lambda: nn.Conv2d(6, 8, 7, padding=3, padding_mode="reflect"),
    lambda: nn.Conv2d(6, 12, 3, padding=2, dilation=2, groups=3),
    lambda: nn.ConvTranspose2d(6, 8, 3, stride=2, padding=1, output_padding=1),
    lambda: nn.ConvTranspose2d(6, 8, 4, stride=2, padding=1, bias=False),
]


@pytest.mark.parametrize("make", LAYERS)
@pytest.mark.parametrize("mode", ["fp32", "bf16", "autocast"])
def test_packed_layers_equal_eager(make, mode):
    torch.manual_seed(0)
    eager = make().eval()
    fast = packed.pack(copy.deepcopy(eager))
    assert type(fast) is not type(eager) and fast.state_dict().keys() == eager.state_dict().keys()
    x = torch.randn(2, 6, 19, 23)
    if mode == "bf16":
        eager, fast, x = eager.to(torch.bfloat16), fast.to(torch.bfloat16), x.to(torch.bfloat16)
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=mode == "autocast"):
        a, b = eager(x), fast(x)
        c = fast(x.contiguous(memory_format=torch.channels_last))
    assert a.dtype == b.dtype and a.shape == b.shape
    tol = 1e-5 if mode == "fp32" else 2e-2  # bf16: the same kernels up to accumulation order
    for y in (b, c):
        assert torch.allclose(a.float(), y.float(), atol=tol, rtol=tol)


def test_a_changed_weight_is_repacked_and_training_takes_the_eager_path():
    torch.manual_seed(0)
    conv = packed.pack(nn.Conv2d(4, 4, 3, padding=1))
    x = torch.randn(1, 4, 16, 16)
    with torch.no_grad():
        before = conv(x)
        conv.weight.mul_(2)
        after = conv(x)
    assert torch.allclose(after - conv.bias.view(1, -1, 1, 1), 2 * (before - conv.bias.view(1, -1, 1, 1)), atol=1e-5)
    y = conv(x.requires_grad_())  # grad mode: eager, so backward works
    y.sum().backward()
    assert x.grad is not None and conv.weight.grad is not None


def test_translator_on_the_official_nets_stays_within_bf16_tolerance(tmp_path):
    """Ours (bf16, packed, batch-norm statistics for instance norm) against the official fp32
    net on a real photo: the error of bf16, not of a different computation."""
    from skimage import data

    img = data.astronaut()[64:320, 128:384]  # 256²: the official U-Net needs multiples of 128
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1
    for net in (ref_nets.ResnetGenerator(3, 3, "instance", 6, ngf=16), ref_nets.UnetGenerator(3, 3, 7, ngf=16)):
        torch.manual_seed(0)
        net.eval()
        path = tmp_path / "net.pth"
        torch.save(net.state_dict(), path)
        tr = im2im_core.load(path, device="cpu", precision="bf16")
        with torch.no_grad():
            want = (net(x)[0].permute(1, 2, 0).numpy() + 1) * 127.5
        got = tr.translate(img, out_dtype="float32")
        psnr = 10 * np.log10(255 ** 2 / np.mean((got - want) ** 2))
        assert psnr > 35, (type(net).__name__, psnr)
        assert tr.translate(img).dtype == np.uint8
