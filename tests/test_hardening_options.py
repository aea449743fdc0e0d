"""Issue 40, items 7 and 8 (options): every count, size and seed option is bounded and checked,
and a bad one is the project's InputError naming it, before any work."""
import numpy as np
import pytest

import im2im_core
from im2im_core.errors import InputError

IMAGE = np.random.default_rng(0).random((32, 32)).astype(np.float32)


@pytest.fixture(scope="module")
def munit():
    return im2im_core.load("munit_t1w_t2w", device="cpu")


@pytest.fixture(scope="module")
def gan_cls():
    return im2im_core.load("gan_cls_shapes", device="cpu")


@pytest.mark.parametrize("opts, match", [
    ({"n_samples": 10**6}, "n_samples"), ({"n_samples": True}, "n_samples"), ({"n_samples": 0}, "n_samples"),
    ({"seed": 2**70}, "seed"), ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"),
    ({"batch_size": 100_000}, "batch_size"), ({"tile": 10**9}, "tile"),
])
def test_multimodal_options_are_bounded(munit, opts, match):
    with pytest.raises(InputError, match=match):
        munit.translate(IMAGE, **opts)


@pytest.mark.parametrize("call, match", [
    (lambda t: t.generate(None), "needs text"),
    (lambda t: t.generate(5), "caption"),
    (lambda t: t.generate([]), "caption"),
    (lambda t: t.generate(["a red circle", 3]), "caption"),
    (lambda t: t.generate("a red circle", n_samples=10**6), "n_samples"),
    (lambda t: t.generate("a red circle", n_samples=True), "n_samples"),
    (lambda t: t.generate("a red circle", seed=2**70), "seed"),
    (lambda t: t.translate(np.zeros((32, 32, 3), np.float32), text=5), "caption"),
])
def test_text_options_are_checked(gan_cls, call, match):
    with pytest.raises(InputError, match=match):
        call(gan_cls)


def test_bounds_still_admit_normal_use(munit, gan_cls):
    assert munit.translate(IMAGE, n_samples=2, seed=2**63 - 2).shape == (2, 32, 32)
    assert gan_cls.generate("a red circle", n_samples=2, seed=7).shape[0] == 2


@pytest.mark.parametrize("image, match", [
    ([[1.0, 2.0], [3.0]], "not a regular array"),
    (__import__("torch").zeros(32, 32).to_sparse(), "sparse tensor"),
    (__import__("torch").empty(32, 32, device="meta"), "meta tensor"),
    (__import__("torch").zeros(32, 32, dtype=__import__("torch").float8_e4m3fn), "float8"),
])
def test_odd_arrays_and_tensors_are_input_errors(munit, image, match):
    with pytest.raises(InputError, match=match):
        munit.translate(image)


def test_bf16_tensor_is_translated_and_complex_spacing_is_an_input_error(munit):
    import torch

    assert munit.translate(torch.from_numpy(IMAGE).to(torch.bfloat16)).shape == (32, 32)
    with pytest.raises(InputError, match="spacing"):
        munit.translate(IMAGE, spacing=1 + 2j)


@pytest.mark.parametrize("family, model, match", [
    ("cycle_gan", {"generator": None}, "mapping of GeneratorConfig"),
    ("cycle_gan", {"generator": [1, 2]}, "mapping of GeneratorConfig"),
    ("bicycle_gan", {"nz": 2**63}, "out of range"),
    ("drit", {"attr_dim": 2**63}, "out of range"),
    ("munit", {"n_down": 2**30}, r"n_down must be in \[0, 16\]"),
    ("mri_recon", {"cascade_width": 2**20}, "cascade_width must be in"),
])
def test_bad_config_values_are_config_errors(family, model, match):
    from im2im_core.errors import ConfigError
    from im2im_core.models import build, config_from_dict

    with pytest.raises(ConfigError, match=match):
        build(config_from_dict(family, model))


def test_nan_in_a_float_config_field_is_a_config_error():
    from im2im_core.config import from_dict
    from im2im_core.data.datasets import DataConfig
    from im2im_core.errors import ConfigError

    with pytest.raises(ConfigError, match="finite"):
        from_dict(DataConfig, {"kind": "mni", "rotate": float("nan")}, "[data]")


def _dask_cases():
    da = pytest.importorskip("dask.array")
    u = da.from_array(np.arange(100.0))
    return {"empty": (da.zeros((0, 64)), "empty"), "bool": (da.zeros((64, 64), dtype=bool), "dtype bool"),
            "complex": (da.zeros((64, 64), dtype=np.complex64), "dtype complex64"),
            "unknown shape": (u[u > 50], "unknown sizes"), "5D": (da.zeros((1, 1, 2, 64, 64)), "supported are"),
            "RGB into grayscale": (da.zeros((64, 64, 3)), "colour image"),
            "NaN": (da.from_array(np.full((64, 64), np.nan, np.float32)), "NaN/Inf")}


@pytest.mark.parametrize("case", ["empty", "bool", "complex", "unknown shape", "5D", "RGB into grayscale", "NaN"])
def test_dask_inputs_get_the_checks_of_the_numpy_path(case):
    """Issue 40, item 8: the dask path accepted 5D and RGB input and said "window needs high > low" on NaN."""
    arr, match = _dask_cases()[case]
    tr = im2im_core.load("cyclegan_t1w_t2w", device="cpu")
    with pytest.raises(InputError, match=match):
        out = tr.translate(arr)
        out.compute()
