"""Translator: layouts, dtypes, sizes, tiling, precision, progress and cancel, on real images."""
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import torch

import im2im_core
from im2im_core.errors import Cancelled, InputError
from conftest import psnr


@pytest.fixture(scope="module")
def tr(tiny_generator_ckpt):
    return im2im_core.load(tiny_generator_ckpt, device="cpu", precision="fp32")


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
def test_dtype_and_range_round_trip(tr, camera, dtype):
    img = camera[:100, :130].astype(np.float64)
    if dtype == np.uint16:
        img = img * 250
    elif dtype == np.int16:
        img = img * 100 - 12000
    elif dtype in (np.float32, np.float64):
        img = img / 255.0 * 3.5 - 1.0
    img = img.astype(dtype)
    out = tr.translate(img)
    assert out.shape == img.shape and out.dtype == img.dtype
    lo, hi = np.percentile(img, [0.5, 99.5])
    assert out.min() >= lo - 1e-3 * abs(lo) - 1 and out.max() <= hi + 1e-3 * abs(hi) + 1
    f = tr.translate(img, out_dtype="float32")
    assert f.dtype == np.float32 and f.shape == img.shape


@pytest.mark.parametrize("shape", [(37, 53), (5, 40, 36), (2, 3, 33, 31)])
def test_any_size_and_stacks(tr, shape):
    img = np.random.default_rng(0).random(shape).astype(np.float32)
    out = tr.translate(img)
    assert out.shape == shape
    if len(shape) > 2:  # slices are independent (one intensity window for the whole stack)
        flat = img.reshape(-1, *shape[-2:])
        rev = tr.translate(flat[::-1].copy(), batch_size=3)
        assert np.allclose(out.reshape(-1, *shape[-2:]), rev[::-1], atol=1e-5)


def test_rgb_rgba_and_channel_rules(tiny_rgb_ckpt, tr):
    rgb_tr = im2im_core.load(tiny_rgb_ckpt, device="cpu", precision="fp32")
    rgb = (np.random.default_rng(1).random((40, 44, 3)) * 255).astype(np.uint8)
    assert rgb_tr.translate(rgb).shape == (40, 44, 3)
    rgba = np.concatenate([rgb, np.full((40, 44, 1), 77, np.uint8)], axis=-1)
    out = rgb_tr.translate(rgba)
    assert out.shape == (40, 44, 4) and (out[..., 3] == 77).all()
    assert np.array_equal(out[..., :3], rgb_tr.translate(rgb))
    gray = rgb[..., 0]
    assert rgb_tr.translate(gray).shape == (40, 44, 3)  # documented: grayscale is replicated
    with pytest.raises(InputError, match="expects 1 channel"):
        tr.translate(rgb)


def test_bad_arrays_name_the_problem(tr):
    with pytest.raises(InputError, match="empty"):
        tr.translate(np.zeros((0, 10), np.float32))
    nan = np.ones((16, 16), np.float32)
    nan[3, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        tr.translate(nan)
    with pytest.raises(InputError, match="spatial"):
        tr.translate(np.zeros((2, 2, 2, 8, 8), np.float32))
    with pytest.raises(InputError, match="dtype"):
        tr.translate(np.zeros((8, 8), bool))
    with pytest.raises(InputError, match="direction"):
        tr.translate(np.zeros((8, 8), np.float32), direction="BtoA")
    with pytest.raises(InputError, match="not supported"):
        tr.translate(np.zeros((8, 8), np.float32), n_samples=3)


def test_domain_names_select_direction(tr):
    img = np.random.default_rng(2).random((32, 32)).astype(np.float32)
    assert np.array_equal(tr.translate(img, direction="T1w->T2w"), tr.translate(img, direction="AtoB"))


def test_progress_and_cancel_on_a_stack(tr):
    stack = np.random.default_rng(3).random((12, 48, 48)).astype(np.float32)
    seen = []
    tr.translate(stack, batch_size=2, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (6, 6) and [d for d, _ in seen] == list(range(1, 7))
    stop = threading.Event()
    calls = []

    def progress(done, total):
        calls.append(done)
        stop.set()

    with pytest.raises(Cancelled):
        tr.translate(stack, batch_size=2, progress=progress, cancel=stop)
    assert calls == [1]  # stopped right after the first batch
    big = np.random.default_rng(4).random((200, 200)).astype(np.float32)
    tiles = []
    with pytest.raises(Cancelled):
        tr.translate(big, tile=64, overlap=8, progress=lambda d, t: tiles.append(d), cancel=lambda: len(tiles) >= 2)
    assert len(tiles) == 2  # within one tile


def test_tiled_matches_whole_image_at_2048(tr, camera):
    """Seam-free large images: the default (streamed, exact) path equals one whole-image pass at
    2048^2 to >= 40 dB; thumbnail statistics only approximate it."""
    img = np.tile(camera, (4, 4))
    whole = tr.translate(img, tile=4096, out_dtype="float32")
    exact = tr.translate(img, tile=512, overlap=32, out_dtype="float32")
    assert psnr(whole, exact, 255) >= 40
    fast = tr.translate(img, tile=512, overlap=32, norm_stats="thumbnail", out_dtype="float32")
    naive_per_tile = psnr(whole, fast, 255)
    assert naive_per_tile > 20  # approximate, but no blow-up
    assert psnr(whole, exact, 255) > naive_per_tile


def test_tiling_never_changes_images_that_fit(tr, camera):
    img = camera[:200, :300]
    assert np.array_equal(tr.translate(img, tile=512), tr.translate(img, tile=300))


def test_bf16_close_to_fp32(tiny_generator_ckpt, camera):
    tr32 = im2im_core.load(tiny_generator_ckpt, device="cpu", precision="fp32")
    a = tr32.translate(camera, out_dtype="float32")
    b = tr32.translate(camera, out_dtype="float32", precision="bf16")
    assert psnr(a, b, 255) >= 35


def _peak_rss_mb(side: int, ngf: int) -> float:
    code = textwrap.dedent(f"""
        import re, numpy as np, torch
        from im2im_core.inference import Translator
        from im2im_core.intensity import Intensity
        from im2im_core.models import build
        from im2im_core.models.generator import GeneratorOnlyConfig
        from im2im_core.nets import GeneratorConfig
        torch.manual_seed(0)
        m = build(GeneratorOnlyConfig(generator=GeneratorConfig(n_blocks=9, ngf={ngf})))
        tr = Translator(m, {{"intensity": Intensity("dtype")}}, torch.device("cpu"))
        img = (np.random.default_rng(0).random(({side}, {side})) * 255).astype(np.uint8)
        out = tr.translate(img)
        assert out.shape == img.shape
        # VmHWM, not ru_maxrss: after fork+exec ru_maxrss starts from the PARENT's RSS (Linux folds
        # the pre-exec mm's high-water mark into it), i.e. pytest's own ~1.7 GB late in a suite
        print(int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    return float(res.stdout.strip().splitlines()[-1])


def test_peak_memory_resnet9_2048_streamed(tmp_path):
    """Streamed inference keeps memory bounded: ResNet-9 (ngf=32, to keep the test short) on a
    2048^2 image stays near its 1024^2 peak (a whole-image pass grows with the pixel count: 4x).
    Measured: 774 MB at 1024^2, 945 MB at 2048^2. The ngf=64 figures up to 4096^2 come from
    `python -m training.benchmarks.large_images`."""
    small, big = _peak_rss_mb(1024, ngf=32), _peak_rss_mb(2048, ngf=32)
    assert big < small + 400, f"peak RSS 1024^2: {small:.0f} MB, 2048^2: {big:.0f} MB"
    assert big < 1200, f"peak RSS {big:.0f} MB"


def test_inpainting_returns_known_pixels_bit_identical_and_masks_follow_stacks(tmp_path):
    from im2im_core import checkpoint
    from im2im_core.intensity import Intensity
    from im2im_core.models import build
    from im2im_core.models.inpaint import InpaintConfig

    torch.manual_seed(0)
    path = tmp_path / "inp.safetensors"
    checkpoint.save(path, build(InpaintConfig(ngf=8)), Intensity())
    inp = im2im_core.load(path, device="cpu")
    rng = np.random.default_rng(0)
    stack = (rng.random((3, 40, 48)) * 60000).astype(np.uint16)
    holes = np.zeros(stack.shape, bool)
    holes[0, 5:15, 5:20] = True
    holes[2, 20:30, 10:40] = True
    out = inp.translate(stack, mask=holes, tile=32, overlap=8, batch_size=2)  # untiled: masks need the whole image
    assert out.dtype == np.uint16 and np.array_equal(out[~holes], stack[~holes])
    assert not np.array_equal(out[holes], stack[holes])
    assert np.array_equal(out[1], stack[1])  # a slice with no hole is untouched
    labels = np.zeros((40, 48), np.int32)
    labels[10:20, 10:20] = 3
    labels[25:30, 25:30] = 1
    two_d = inp.translate(stack[0], mask=labels, label=3)
    assert np.array_equal(two_d[labels != 3], stack[0][labels != 3])


def test_tiling_with_models_whose_direction_uses_some_nets(tmp_path):
    """UNIT's AtoB path never runs E2/G1: their norm layers must not break whole-image statistics."""
    from im2im_core import checkpoint
    from im2im_core.intensity import Intensity
    from im2im_core.models import build
    from im2im_core.models.unit import UNITConfig

    torch.manual_seed(0)
    path = tmp_path / "unit.safetensors"
    checkpoint.save(path, build(UNITConfig(dim=8, n_res=2, ndf=8, n_scales=1)), Intensity())
    tr = im2im_core.load(path, device="cpu", precision="fp32")
    img = np.random.default_rng(0).random((80, 88)).astype(np.float32)
    seen = []
    for mode in ("thumbnail", "exact"):
        out = tr.translate(img, "BtoA", tile=48, overlap=8, norm_stats=mode, progress=lambda d, t: seen.append((d, t)))
        assert out.shape == img.shape
        assert seen[-1][0] == seen[-1][1]  # progress reaches its total


@pytest.mark.parametrize("name, tol", [("pix2pix_t2w_t1w", 1e-4), ("pix2pix_t1w_t2w", 1e-2), ("cyclegan_t1w_t2w", 1e-2)])
def test_onnx_export_runs_in_onnxruntime_like_the_model(tmp_path, name, tol):
    """`im2im export --format onnx`: onnxruntime gives the model's output on another batch and
    size (free axes) within `tol` on [-1, 1]; the intensity prior's mapping is a lookup table
    there (nets/prior._table_map), which blurs the mapping's jumps by up to ~0.005."""
    ort = pytest.importorskip("onnxruntime")
    import torch

    from im2im_core.cli import main

    out = tmp_path / f"{name}.onnx"
    assert main(["export", name, "--format", "onnx", "-o", str(out)]) == 0
    tr = im2im_core.load(name, device="cpu", precision="fp32")
    module = tr.model.float().eval().export_module("AtoB").eval()
    x = torch.zeros(2, 1, 96, 160).uniform_(-1, 1, generator=torch.Generator().manual_seed(0))
    y = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})[0]
    with torch.no_grad():
        ref = module(x).numpy()
    assert y.shape == ref.shape and np.abs(y - ref).max() < tol
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically


def test_dtype_window_reads_the_input_dtype_not_its_float_copy(tiny_rgb_ckpt):
    """A "dtype" intensity window maps uint8 0..255 to [-1, 1] and back (it once read the float32
    working copy and clipped every pixel to the top of [0, 1])."""
    import torch

    tr = im2im_core.load(tiny_rgb_ckpt, device="cpu", precision="fp32")
    img = np.random.default_rng(3).integers(0, 256, (40, 48, 3)).astype(np.uint8)
    x = torch.from_numpy(np.moveaxis(img.astype(np.float32) / 127.5 - 1, -1, 0))[None]
    with torch.no_grad():
        ref = (tr.model.export_module("AtoB")(x)[0].permute(1, 2, 0).numpy() + 1) * 127.5
    out = tr.translate(img, out_dtype=np.float32)
    assert np.abs(out - ref).max() < 1e-3
    assert tr.translate(img).dtype == np.uint8 and np.abs(tr.translate(img) - ref).max() <= 0.5 + 1e-3
