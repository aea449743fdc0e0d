"""Issue 40, item 1: a tiny `.pth` cannot make the loader (or `im2im info`) allocate gigabytes."""
import resource
import time

import pytest
import torch

import im2im_core
from im2im_core.cli import main
from im2im_core.errors import CheckpointError
from training.benchmarks import reference_nets as ref_nets


def _shapes(ngf: int) -> dict:
    with torch.device("meta"):
        return {k: v.shape for k, v in ref_nets.ResnetGenerator(3, 3, "instance", 6, False, ngf=ngf).state_dict().items()}


BOMBS = {
    "stride-0 expansion": lambda shape: torch.zeros(1).expand(*shape),
    "meta": lambda shape: torch.empty(shape, device="meta"),
    "sparse": lambda shape: torch.zeros(1).expand(*shape).to_sparse() if len(shape) < 2 else
    torch.sparse_coo_tensor(torch.zeros(len(shape), 0, dtype=torch.long), torch.zeros(0), shape),
    "float8": lambda shape: torch.zeros(shape, dtype=torch.float8_e4m3fn) if len(shape) < 2 else
    torch.zeros(1, dtype=torch.float8_e4m3fn).expand(*shape),
}


@pytest.mark.parametrize("kind", list(BOMBS))
def test_a_pth_claiming_ngf_2048_is_refused_before_building(tmp_path, kind, capsys):
    sd = {k: BOMBS[kind](s) for k, s in _shapes(2048).items()}
    path = tmp_path / "latest_net_G.pth"
    torch.save(sd, path)
    assert path.stat().st_size < 200_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError) as err:
        im2im_core.load(path, device="cpu")
    assert time.perf_counter() - t0 < 20
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 300_000  # KiB
    assert "model.1.weight" in str(err.value) or "model." in str(err.value)
    assert main(["info", str(path)]) == 2
    out = capsys.readouterr().err.strip().splitlines()
    assert len(out) == 1 and "Traceback" not in out[0]


def test_an_honest_small_pth_still_loads(tmp_path):
    torch.manual_seed(0)
    ref = ref_nets.ResnetGenerator(3, 3, "instance", 6, False, ngf=8).eval()
    torch.save(ref.state_dict(), tmp_path / "ok.pth")
    tr = im2im_core.load(tmp_path / "ok.pth", device="cpu")
    assert sum(p.numel() for p in tr.model.parameters()) == sum(p.numel() for p in ref.parameters())
