"""OME-Zarr in and out with bounded memory, and dask arrays (a LocalCluster included)."""
import subprocess
import sys

import numpy as np
import pytest
import torch
import zarr

import im2im_core
from im2im_core.chunked import create_ome_zarr, read_ome_zarr, translate_zarr
from im2im_core.errors import Cancelled, InputError

da = pytest.importorskip("dask.array")
torch.set_num_threads(2)

AXES = [{"name": "y", "type": "space", "unit": "micrometer"}, {"name": "x", "type": "space", "unit": "micrometer"}]


def _image(shape, seed=0):
    g = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[-2], : shape[-1]] / max(shape)
    base = 20000 + 15000 * np.sin(11 * xx + 3 * yy) * np.cos(7 * yy)
    return (base + g.normal(0, 800, shape)).clip(0, 65535).astype(np.uint16)


def _ome(path, img, chunks, axes=AXES, scale=(0.5, 0.25)):
    arr = create_ome_zarr(path, img.shape, img.dtype, chunks, axes, scale)
    arr[:] = img
    return path


@pytest.fixture(scope="module")
def tr(tiny_generator_ckpt):
    return im2im_core.load(tiny_generator_ckpt, device="cpu", precision="fp32")


def test_ome_zarr_out_equals_in_memory_translation_and_keeps_metadata(tr, tmp_path):
    """Streamed band by band (chunks of 64 rows, a small RAM budget), the OME-Zarr output equals
    `translate` of the whole array in memory, keeps axes, units and scale, and napari opens it."""
    img = _image((300, 280))
    src = _ome(tmp_path / "in.zarr", img, (64, 96))
    out = translate_zarr(tr, src, tmp_path / "out.zarr")
    arr, axes, scale = read_ome_zarr(out)
    assert axes == AXES and scale == [0.5, 0.25] and arr.shape == img.shape and arr.dtype == img.dtype
    ref = tr.translate(img)
    assert np.abs(arr[:].astype(np.int64) - ref).max() <= 1  # rounding of the last cast only
    assert not (tmp_path / "out.zarr.partial").exists()
    from napari_ome_zarr import napari_get_reader

    layers = napari_get_reader(str(out))(str(out))
    assert layers[0][1]["scale"] == [0.5, 0.25] and np.array_equal(np.asarray(layers[0][0][0]), arr[:])


def test_ome_zarr_planes_and_cancel(tr, tmp_path):
    """A (c, y, x) image through a 1-channel model: each channel is its own plane with the
    window of the whole image. A cancelled run leaves no output behind."""
    img = np.stack([_image((96, 120), s) for s in range(2)])
    axes = [{"name": "c", "type": "channel"}] + AXES
    src = _ome(tmp_path / "c.zarr", img, (1, 32, 120), axes, (1.0, 2.0, 2.0))
    out = translate_zarr(tr, src, tmp_path / "c_out.zarr")
    ref = tr.translate(img)  # (2, Y, X): a stack of two slices, one window
    assert np.abs(read_ome_zarr(out)[0][:].astype(np.int64) - ref).max() <= 1
    ticks = []
    with pytest.raises(Cancelled):
        translate_zarr(tr, src, tmp_path / "stopped.zarr", progress=lambda d, t: ticks.append(d),
                       cancel=lambda: len(ticks) >= 2)
    assert not (tmp_path / "stopped.zarr").exists() and not (tmp_path / "stopped.zarr.partial").exists()


def test_ome_zarr_errors_name_the_problem(tr, tmp_path):
    plain = zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    plain.create_array("0", shape=(32, 32), dtype="uint8")
    with pytest.raises(InputError, match="multiscales"):
        translate_zarr(tr, tmp_path / "plain.zarr", tmp_path / "o.zarr")
    bad = np.full((64, 64), 0.5, np.float32)
    bad[40, 3] = np.nan
    src = _ome(tmp_path / "nan.zarr", bad, (32, 64))
    with pytest.raises(InputError, match="NaN.*rows 32"):
        translate_zarr(tr, src, tmp_path / "o.zarr")
    assert not (tmp_path / "o.zarr").exists()
    good = _ome(tmp_path / "g.zarr", _image((64, 64)), (32, 64))
    translate_zarr(tr, good, tmp_path / "o.zarr")
    with pytest.raises(InputError, match="exists"):
        translate_zarr(tr, good, tmp_path / "o.zarr")
    with pytest.raises(InputError, match="loaded model.*im2im_core.load"):
        translate_zarr("model.safetensors", good, tmp_path / "o2.zarr")


def test_cli_translates_ome_zarr_to_ome_zarr(tiny_generator_ckpt, tmp_path):
    img = _image((128, 160))
    src = _ome(tmp_path / "in.zarr", img, (64, 64))
    r = subprocess.run([sys.executable, "-m", "im2im_core", "translate", str(tiny_generator_ckpt), str(src), "-o",
                        str(tmp_path / "out.zarr"), "--precision", "fp32"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ref = im2im_core.load(tiny_generator_ckpt, device="cpu", precision="fp32").translate(img)
    assert np.abs(read_ome_zarr(tmp_path / "out.zarr")[0][:].astype(np.int64) - ref).max() <= 1


def test_dask_stack_is_lazy_and_equals_the_computed_translation(tr):
    img = np.stack([_image((72, 88), s) for s in range(3)])
    lazy = tr.translate(da.from_array(img, chunks=(2, 36, 88)))
    assert isinstance(lazy, da.Array) and lazy.shape == img.shape and lazy.dtype == img.dtype
    # slice by slice against batches of four in memory: float order differs, the last cast by <= 1
    assert np.abs(lazy.compute().astype(np.int64) - tr.translate(img)).max() <= 1
    with pytest.raises(InputError, match="progress"):
        tr.translate(da.from_array(img), progress=lambda d, t: None)


def test_dask_local_cluster_with_two_workers_equals_single_process(tr):
    distributed = pytest.importorskip("distributed")
    img = np.stack([_image((64, 80), s) for s in range(4)])
    want = tr.translate(da.from_array(img, chunks=(1, 64, 80))).compute(scheduler="synchronous")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        client.wait_for_workers(2, timeout=120)  # a loaded machine starts worker processes slowly
        assert len(client.scheduler_info()["workers"]) == 2
        got = client.compute(tr.translate(da.from_array(img, chunks=(1, 64, 80)))).result()
    assert np.array_equal(got, want)
