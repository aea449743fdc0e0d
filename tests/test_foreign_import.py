"""Import of pytorch-CycleGAN-and-pix2pix generators, checked against an independent reference.

`training.benchmarks.reference_nets` restates junyanz's layouts from their published description
(not from our nets), so a key or wiring mistake in `im2im_core.nets` would show here.
"""
import pickle

import numpy as np
import pytest
import torch
from torch import nn

import im2im_core
from im2im_core.errors import CheckpointError
from im2im_core.nets import ResnetGenerator, UnetGenerator
from training.benchmarks import reference_nets as ref_nets


def _count(m):
    return sum(p.numel() for p in m.parameters())


def test_reference_parameter_counts():
    assert _count(ResnetGenerator(3, 3, n_blocks=9)) == 11_378_179
    assert _count(ResnetGenerator(3, 3, n_blocks=6)) == 7_837_699
    assert _count(UnetGenerator(3, 3, 8, norm="batch")) == 54_413_955
    assert _count(ref_nets.ResnetGenerator(3, 3)) == 11_378_179


@pytest.mark.parametrize("norm,blocks,dropout", [("instance", 9, False), ("instance", 6, True),
                                                 ("batch", 6, False), ("none", 6, False)])
def test_junyanz_resnet_state_dict_imports_and_matches(tmp_path, norm, blocks, dropout):
    torch.manual_seed(0)
    ref = ref_nets.ResnetGenerator(3, 3, norm, blocks, dropout, ngf=16).eval()
    sd = ref.state_dict()
    if norm == "instance":  # old torch versions saved these for InstanceNorm; they must be dropped
        sd["model.2.running_mean"] = torch.zeros(16)
        sd["model.2.running_var"] = torch.ones(16)
        sd["model.2.num_batches_tracked"] = torch.tensor(0)
    path = tmp_path / "latest_net_G_A.pth"
    torch.save(sd, path)
    tr = im2im_core.load(path, device="cpu", precision="fp32")
    g = tr.model.config.generator
    assert (g.arch, g.n_blocks, g.norm, g.dropout, g.ngf) == ("resnet", blocks, norm, dropout, 16)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(tr.model.inference_forward(x, "AtoB"), ref(x), atol=1e-5)
    # their pre/post-processing: (x/255-0.5)/0.5 in, (y+1)/2*255 out
    img = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    out = tr.translate(img, out_dtype="float32")
    with torch.no_grad():
        y = ref(torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255 * 2 - 1)
    expected = ((y[0].permute(1, 2, 0).numpy() + 1) / 2 * 255)
    assert np.abs(out - expected).max() < 1e-3


def test_junyanz_unet256_imports(tmp_path):
    torch.manual_seed(0)
    src = ref_nets.UnetGenerator(3, 3, 8, norm="batch").eval()
    for m in src.modules():  # non-trivial running statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    keys = list(src.state_dict())
    assert "model.model.1.model.3.model.1.weight" in keys  # nesting as in their files
    path = tmp_path / "latest_net_G.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}, path)
    tr = im2im_core.load(path, device="cpu", precision="fp32")
    g = tr.model.config.generator
    assert (g.arch, g.num_downs, g.norm, g.ngf) == ("unet", 8, "batch", 64)
    assert _count(tr.model) == _count(src) == 54_413_955
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(tr.model.inference_forward(x, "AtoB"), src(x.clone()), atol=1e-5)


def test_unknown_architecture_names_what_is_missing(tmp_path):
    path = tmp_path / "weird.pth"
    torch.save({"encoder.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(CheckpointError, match="cannot infer the generator architecture"):
        im2im_core.load(path, device="cpu")


class _Evil:
    """Unpickling this would create a file: the classic pickle code-execution payload."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump({"model.1.weight": _Evil(str(marker))}, fh)
    with pytest.raises(CheckpointError, match="refused"):
        im2im_core.load(path, device="cpu")
    assert not marker.exists()
    # and the payload really is live: plain pickle would have run it
    with open(path, "rb") as fh:
        pickle.load(fh)
    assert marker.exists()
