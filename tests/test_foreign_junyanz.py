"""pytorch-CycleGAN-and-pix2pix generators: official -> ours -> official is bit-identical."""
import torch

from foreign_parity import assert_bit_identical, round_trip
from training.benchmarks import reference_nets as ref_nets


def test_junyanz_round_trip_is_bit_identical(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "latest_net_G_A.pth"
    torch.save(ref_nets.ResnetGenerator(3, 3, "instance", 6, False, ngf=8).state_dict(), path)
    original, back = round_trip(path, tmp_path / "out")
    assert_bit_identical(original, back)
