"""Shared fixtures: tiny real checkpoints written with the library's own save()."""
from __future__ import annotations

import os

import numpy as np
import pytest

# Tests that train a model and assert what it learned (mutation cases included). Their verdicts must
# not depend on the CPU's convolution kernels: .ci/run runs them a second time with
# IM2IM_MKLDNN=0 (oneDNN off), and `pytest -m learning` selects them.
LEARNING = (
    "::test_tiny_run_",
    "test_bicycle_gan.py::test_latent_regression_falls",
    "test_munit.py::test_style_reaches_the_image_and_is_recovered",
    "test_learns_target.py::",
    "test_council_acl.py::test_tiny_run_learns_to_remove_the_disc",
    "test_drit.py::test_latent_regression_trains_generators_not_attribute_encoders",
    "test_pix2pix_cyclegan.py::test_pix2pix_overfits_one_pair",
    "test_prior.py::test_bicycle_gan_prior_starts_at_the_mapping_learns",
    "test_prior.py::test_pix2pix_prior_starts_at_the_mapping_learns",
    "test_recon_inpaint_sr.py::test_recon_beats_zero_filled_on_real_slice",
    "test_recon_inpaint_sr.py::test_dc_cascade_learns_and_keeps_measured_kspace",
    "test_recon_inpaint_sr.py::test_inpaint_learns_beyond_biharmonic",
    "test_recon_inpaint_sr.py::test_sr_short_run_beats_bicubic",
    "test_text_families.py::test_embedding_learns_to_retrieve_held_out_captions",
    "test_text_families.py::test_the_mismatch_term_teaches_d_to_judge_text",
    "test_text_families.py::test_matching_loss_ranks_images_with_their_captions_and_trains_only_g",
)


def pytest_configure(config):
    config.addinivalue_line("markers", "learning: trains a model and asserts what it learned (see LEARNING)")
    if os.environ.get("IM2IM_MKLDNN", "1") == "0":
        import torch

        torch.backends.mkldnn.enabled = False


def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(key in item.nodeid for key in LEARNING):
            item.add_marker(pytest.mark.learning)


#: modules of independent long trainings (no module fixtures): under `--dist loadscope` each of their
#: tests is a scope of its own, so two workers share them; elsewhere a module stays on one worker, so its
#: module fixtures (some train a model) are built once
SPREAD = ("test_learns_target.py::",)


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadscope` with the SPREAD modules' tests as scopes of their own."""
    if config.getoption("dist", None) != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Spread(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return nodeid if any(key in nodeid for key in SPREAD) else super()._split_scope(nodeid)

    return Spread(config, log)


def pytest_report_header(config):
    return f"IM2IM_MKLDNN={os.environ.get('IM2IM_MKLDNN', '1')} (0: torch.backends.mkldnn.enabled = False)"


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Two shared cores: oversubscribed intra-op threads make tiny convs up to 50x slower."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def tiny_generator_model(seed: int = 0):
    """The model inside `tiny_generator_ckpt` (rebuilt from its seed, to compare a load against)."""
    import torch

    from im2im_core.models import build
    from im2im_core.models.generator import GeneratorOnlyConfig
    from im2im_core.nets import GeneratorConfig

    torch.manual_seed(seed)
    return build(GeneratorOnlyConfig(domains=("T1w", "T2w"), generator=GeneratorConfig(ngf=8, n_blocks=2))).eval()


@pytest.fixture(scope="session")
def tiny_generator_ckpt(tmp_path_factory):
    """A small ResNet `generator`-family checkpoint (1 channel, instance norm)."""
    from im2im_core import checkpoint
    from im2im_core.intensity import Intensity

    model = tiny_generator_model()
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    checkpoint.save(path, model, Intensity("percentile", 0.5, 99.5), {"iterations": 0, "dataset": "none (random init)"})
    return path


@pytest.fixture(scope="session")
def tiny_rgb_ckpt(tmp_path_factory):
    import torch

    from im2im_core import checkpoint
    from im2im_core.intensity import Intensity
    from im2im_core.models import build
    from im2im_core.models.generator import GeneratorOnlyConfig
    from im2im_core.nets import GeneratorConfig

    torch.manual_seed(1)
    model = build(GeneratorOnlyConfig(in_channels=3, out_channels=3, generator=GeneratorConfig(ngf=8, n_blocks=1)))
    path = tmp_path_factory.mktemp("ckpt") / "tiny_rgb.safetensors"
    checkpoint.save(path, model, Intensity("dtype"))
    return path


@pytest.fixture(scope="session")
def camera():
    from skimage import data

    return data.camera()  # real 512x512 uint8 photograph


def psnr(a, b, data_range):
    from skimage.metrics import peak_signal_noise_ratio

    return peak_signal_noise_ratio(np.asarray(a, np.float64), np.asarray(b, np.float64), data_range=data_range)


@pytest.fixture
def switch_off(monkeypatch):
    """Mutation helper for tests with teeth: `switch_off("gan")` makes every adversarial term 0
    (generators and discriminators); `switch_off("lambda_X", config)` zeroes a named loss weight
    in a model config dict. A test that still passes under its mutation tests nothing."""
    def off(term: str, config: dict | None = None):
        if term == "gan":
            from im2im_core.losses import GANLoss

            monkeypatch.setattr(GANLoss, "forward", lambda self, pred, *a, **k: pred.float().sum() * 0.0)
            return config
        if config is None or term not in config:
            raise KeyError(f"switch_off: no loss weight {term!r} in the given config")
        return {**config, term: 0.0}
    return off
