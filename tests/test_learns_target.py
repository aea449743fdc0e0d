"""Each unpaired translation family learns something about the target domain that no cycle or
reconstruction loss can teach it, on a toy of `translation_toy`: swap the colours of a disc and a
square (the histograms of both domains are the same), or, for the families that do not learn the
swap within a test's budget, brighten the shapes.

Every family runs three times: trained, it must beat the identity (and on the swap, histogram
matching) by a wide margin; untrained, and trained with every adversarial term switched off (the
`switch_off` fixture), the same check must fail. The mutated runs are the proof that the test has
teeth. (Paired families learn from their L1 term; StarGAN, Council-GAN and ACL-GAN have their own
target-domain tests in their files.) DRIT is not here: on the swap its verdict followed the seed and
the CPU's kernels (docs/testing.md), so no bar separated its trained runs from its mutated ones.
"""
import pytest
import torch

import translation_toy as toy
from im2im_core.engine.config import OptimConfig, TrainConfig
from im2im_core.engine.trainer import seed_everything
from im2im_core.models import build, config_from_dict

torch.set_num_threads(1)

# family -> (tiny config, iterations, lr, toy, bar on the toy's error). "swap": identity and histogram
# matching score 1.0; "bright": the identity scores 0.5 (histogram matching solves it; see translation_toy)
FAMILIES = {
    # the swap followed the kernels (oneDNN off: 0.91 at 300 iterations, seeded): the brightness toy
    "cycle_gan": ({"generator": {"ngf": 8, "n_blocks": 2}, "discriminator": {"ndf": 8, "n_layers": 2},
                   "lambda_identity": 0.0}, 300, 5e-4, "bright", 0.35),
    "unit": ({"dim": 8, "n_res": 2, "n_shared": 1, "ndf": 8, "d_layers": 2, "n_scales": 1}, 300, 5e-4, "swap", 0.3),
    # the swap stayed at 0.35-0.7 (MUNIT), 0.34-0.9 (Augmented CycleGAN), 0.8-1.0 (attention) in 600
    # iterations over the settings tried (docs/testing.md); the brightness toy, measured 0.13, 0.27, 0.07
    # MUNIT learns it between iterations 200 and 400; at 500 it is past the steep part (0.13-0.17)
    "munit": ({"dim": 8, "n_res": 2, "mlp_dim": 32, "ndf": 8, "d_layers": 2, "n_scales": 1, "style_dim": 2,
               "lr": 1e-3, "weight_decay": 0.0}, 500, 1e-3, "bright", 0.35),
    "augmented_cycle_gan": ({"z_dim": 2, "ngf": 8, "n_res": 1, "nef": 8, "ndf": 8, "d_layers": 2, "ndf_z": 16},
                            300, 2e-4, "bright", 0.35),
    # lambda_cyc 1: with 10 the masks close on the shapes in the first 100 iterations and stay shut
    "attention_cycle_gan": ({"generator": {"ngf": 8, "n_blocks": 2}, "discriminator": {"ndf": 8, "n_layers": 2},
                             "attention_ngf": 8, "lambda_cyc": 1.0, "freeze_attention_after": 100_000},
                            300, 1e-3, "bright", 0.35),
}
TOYS = {"swap": (toy.batch, toy.heldout, toy.error), "bright": (toy.bright_batch, toy.bright_heldout, toy.bright_error)}


def toy_error(family: str, iterations: int) -> float:
    """Train `iterations` unpaired steps on the family's toy (seeded) and return the held-out error."""
    cfg, _, lr, which, _ = FAMILIES[family]
    make_batch, heldout, error = TOYS[which]
    seed_everything(0)  # python's random too: the image pools draw from it, so the run would follow test order
    model = build(config_from_dict(family, cfg))
    model.optimizers = model.configure_optimizers(TrainConfig(pool_size=10, optim=OptimConfig(lr=lr)))
    g = torch.Generator().manual_seed(1)
    for step in range(iterations):
        model.train_step(make_batch(4, g), step)
    x = heldout()
    model.eval()
    with torch.no_grad():
        torch.manual_seed(5)  # multimodal families draw their style here
        y = model.inference_forward(x, "AtoB")
    return error(y["image"] if isinstance(y, dict) else y, x)


def test_the_baselines_cannot_solve_the_toy():
    x = toy.heldout()
    assert min(toy.baselines(x).values()) > 0.95
    assert toy.error(-x, x) == 0.0
    xb = toy.bright_heldout()
    assert toy.bright_error(xb, xb) == 0.5 and toy.bright_error(torch.where(xb > -1, 1.0, -1.0), xb) == 0.0


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("mutation", [None, "untrained", "gan"])
def test_family_learns_the_target_domain(family, mutation, switch_off):
    _, iterations, _, _, bar = FAMILIES[family]
    if mutation == "gan":
        switch_off("gan")
    err = toy_error(family, 0 if mutation == "untrained" else iterations)
    if mutation is None:
        assert err < bar, (family, err)
    else:  # the mutation defeats the model, and the test notices
        assert err >= bar, (family, mutation, err)
