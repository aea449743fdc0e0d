"""Fuzzing `translate` (issue 19): random arrays, dtypes, shapes, special values and options.
Every failure must be one of the project's own errors; every success finite, with the input's
shape and the requested dtype. Bounded: 80 examples on a tiny model."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import im2im_core
from im2im_core.errors import Im2ImError

DTYPES = st.sampled_from([np.uint8, np.uint16, np.int16, np.int64, np.float16, np.float32, np.float64])
SHAPES = hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=40).filter(lambda s: np.prod(s) <= 20000)


@st.composite
def images(draw):
    dtype = np.dtype(draw(DTYPES))
    shape = draw(SHAPES)
    if dtype.kind == "f":
        elements = st.floats(allow_nan=True, allow_infinity=True, width=min(64, dtype.itemsize * 8))
    else:
        info = np.iinfo(dtype)
        elements = st.integers(int(info.min), int(info.max))
    fill = draw(st.sampled_from(["random", "constant", "special"]))
    if fill == "constant":
        return np.full(shape, draw(elements), dtype)
    if fill == "special" and dtype.kind == "f":
        big = float(np.finfo(dtype).max)
        vals = np.array([0.0, -0.0, 1e-40, big, -big, np.finfo(dtype).tiny], dtype=np.float64).astype(dtype)
        return np.resize(vals, shape).astype(dtype)
    return draw(hnp.arrays(dtype, shape, elements=elements))


OPTIONS = st.fixed_dictionaries({}, optional={
    "tile": st.one_of(st.integers(-4, 600), st.none(), st.just("abc")),
    "overlap": st.integers(-2, 40),
    "batch_size": st.one_of(st.integers(-1, 5), st.just(True)),
    "out_dtype": st.sampled_from([None, "float32", "uint8", "uint16", "float16", "foo", "complex64"]),
    "direction": st.sampled_from([None, "AtoB", "T1w->T2w", "BtoA", 3, "nonsense"]),
    "precision": st.sampled_from([None, "fp32", "bf16", "auto", "garbage"]),
    "norm_stats": st.sampled_from(["thumbnail", "exact", "approx"]),
})


@pytest.fixture(scope="module")
def tr(tiny_generator_ckpt):
    return im2im_core.load(tiny_generator_ckpt, device="cpu", precision="fp32")


@settings(max_examples=80, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(image=images(), opts=OPTIONS)
def test_translate_fails_cleanly_or_returns_finite_output(tr, image, opts):
    try:
        out = tr.translate(image, **opts)
    except Im2ImError:
        return  # a clear error of our own is a fine answer
    want = np.dtype(opts.get("out_dtype") or image.dtype)
    assert out.dtype == want
    assert out.shape == image.shape or (image.ndim >= 3 and image.shape[-1] in (3, 4))
    assert np.isfinite(out.astype(np.float64)).all()
