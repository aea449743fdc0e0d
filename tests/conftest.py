"""Shared fixtures: tiny real checkpoints written with the library's own save()."""
from __future__ import annotations

import numpy as np
import pytest


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
