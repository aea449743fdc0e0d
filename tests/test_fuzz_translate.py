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


def _odd_inputs():
    """Issue 40 item 8's inputs that raised errors not ours: (name, image factory, options)."""
    import dask.array as da
    import torch
    import zarr

    img = np.random.default_rng(0).random((24, 24)).astype(np.float32)
    t = torch.from_numpy(img)
    z = zarr.create_array(store={}, shape=(24, 24), dtype="float32")
    z[:] = img
    unknown = da.from_array(img, chunks=12)
    unknown = unknown[unknown > 2]  # a dask array of unknown (nan) shape
    return {
        "ragged list": (lambda: [[1.0, 2.0], [3.0]], {}),
        "bf16 tensor": (lambda: t.to(torch.bfloat16), {}),
        "float8 tensor": (lambda: t.to(torch.float8_e4m3fn), {}),
        "sparse tensor": (lambda: t.to_sparse(), {}),
        "meta tensor": (lambda: torch.empty((24, 24), device="meta"), {}),
        "nested tensor": (lambda: torch.nested.nested_tensor([t, t[:10]]), {}),
        "quantized tensor": (lambda: torch.quantize_per_tensor(t, 0.1, 0, torch.quint8), {}),
        "complex spacing": (lambda: img, {"spacing": 1 + 2j}),
        "huge seed": (lambda: img, {"seed": 2**70}),
        "bool n_samples": (lambda: img, {"n_samples": True}),
        "text 5": (lambda: img, {"text": 5}),
        "dc_lambda string": (lambda: img, {"dc_lambda": "a"}),
        "empty dask": (lambda: da.zeros((0, 24), chunks=8), {}),
        "bool dask": (lambda: da.from_array(img > 0.5, chunks=12), {}),
        "complex dask": (lambda: da.from_array(img.astype(np.complex64), chunks=12), {}),
        "unknown-shape dask": (lambda: unknown, {}),
        "5D dask": (lambda: da.zeros((2, 2, 2, 24, 24), chunks=12), {}),
        "RGB dask into a gray model": (lambda: da.from_array(np.stack([img] * 3, -1), chunks=12), {"rgb": True}),
        "NaN dask": (lambda: da.full((24, 24), np.nan, chunks=12), {}),
        "zarr array": (lambda: z, {}),
        "empty zarr": (lambda: zarr.create_array(store={}, shape=(0, 24), dtype="float32"), {}),
        "complex zarr": (lambda: zarr.create_array(store={}, shape=(24, 24), dtype="complex64"), {}),
        "object array": (lambda: np.array([[object()] * 4] * 4), {}),
        "string array": (lambda: np.full((8, 8), "a"), {}),
    }


ODD = _odd_inputs()


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=st.sampled_from(sorted(ODD)), extra=OPTIONS)
def test_odd_arrays_and_options_fail_cleanly(tr, case, extra):
    """Each of issue 40's odd inputs, alone or with random options: our error, or a finite result."""
    make, opts = ODD[case]
    try:
        out = tr.translate(make(), **{**extra, **opts})
    except Im2ImError:
        return
    out = np.asarray(out)
    assert np.isfinite(out.astype(np.float64)).all(), case


@pytest.mark.parametrize("text", [None, 5, [], "", "   "])
def test_generate_with_odd_captions_is_our_error(tmp_path, text):
    from napari_im2im._testing import tiny_checkpoint

    tr = im2im_core.load(tiny_checkpoint(tmp_path, "gan_cls", channels=3, vocabulary=("<pad>", "<unk>", "a", "red")))
    with pytest.raises(Im2ImError):
        tr.generate(text)


@pytest.mark.parametrize("family, opts", [
    ("munit", {"seed": 2**70}), ("munit", {"n_samples": True}), ("munit", {"n_samples": 10**6}),
    ("munit", {"seed": "a"}), ("sisgan", {"text": 5}), ("sisgan", {"text": ["a", 3]}),
    ("mri_recon", {"dc_lambda": "a"}), ("mri_recon", {"mask_kind": "gaussian1d", "ratio": float("nan")})])
def test_option_values_of_the_families_that_take_them_are_checked(tmp_path, family, opts):
    """The odd option values of issue 40 item 8, on a family that accepts the option."""
    from napari_im2im._testing import tiny_checkpoint

    kw = {"channels": 3, "vocabulary": ("<pad>", "<unk>", "a", "red")} if family == "sisgan" else {}
    tr = im2im_core.load(tiny_checkpoint(tmp_path, family, **kw), device="cpu")
    image = np.random.default_rng(0).random((32, 32, 3) if family == "sisgan" else (32, 32)).astype(np.float32)
    with pytest.raises(Im2ImError):
        tr.translate(image, **opts)


@pytest.mark.parametrize("case", sorted(ODD))
def test_each_odd_input_alone(tr, case):
    make, opts = ODD[case]
    try:
        out = tr.translate(make(), **opts)
    except Im2ImError:
        return
    assert np.isfinite(np.asarray(out, np.float64)).all(), case
