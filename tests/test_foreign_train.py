"""Every official architecture trains here (one step, tiny widths), so a model trained with
arch='official' can be exported to its repository's format and run in its code."""
import pytest
import torch

from im2im_core.engine.config import TrainConfig
from im2im_core.models import build, config_from_dict

SMALL_D = {"ndf": 8, "n_scales": 1}
CASES = {
    "munit": {"dim": 8, "mlp_dim": 16, "n_res": 1, **SMALL_D},
    "unit": {"dim": 8, "n_res": 1, "n_shared": 0, **SMALL_D},
    "stargan": {"dim": 8, "n_res": 1, "ndf": 8, "d_layers": 3, "domains": ["a", "b", "c"]},
    "bicycle_gan": {"ngf": 4, "nef": 4, "num_downs": 5, "e_blocks": 3, **SMALL_D},
    "drit": {"dim": 8, "ndf_content": 8, "concat": 1, **SMALL_D},
    "drit_concat0": {"dim": 8, "ndf_content": 8, "concat": 0, **SMALL_D},
    "council_gan": {"dim": 8, "n_res": 1, "mlp_dim": 16, "members": 2, **SMALL_D},
    "inpaint": {"ngf": 8, "residual": False, "prefill": "zero"},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_training_step_in_the_official_architecture(case):
    family = case.split("_concat")[0]
    model = build(config_from_dict(family, {"in_channels": 1, "out_channels": 1, "arch": "official", **CASES[case]}))
    model.train()
    model.optimizers = model.configure_optimizers(TrainConfig())
    g = torch.Generator().manual_seed(0)

    def x():
        return torch.rand(2, 1, 64, 64, generator=g) * 2 - 1
    batch = {"image": x(), "label": torch.tensor([0, 2])} if family == "stargan" else \
        {"A": x()} if family == "inpaint" else {"A": x(), "B": x()}
    losses = model.train_step(batch, 0)
    assert losses and all(torch.isfinite(torch.tensor(v)) for v in losses.values())
