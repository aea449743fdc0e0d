"""Adversarial inputs to `translate`, reproduced as issue 19 reported them: each gets one clear
error of the project's own types, or a finite result; never a raw traceback or a silent NaN."""
import threading

import numpy as np
import pytest
import torch

import im2im_core
from im2im_core.errors import Im2ImError, InputError


@pytest.fixture(scope="module")
def tr(tiny_generator_ckpt):
    return im2im_core.load(tiny_generator_ckpt, device="cpu", precision="fp32")


IMG = np.random.default_rng(0).random((32, 32)).astype(np.float32)


@pytest.mark.parametrize("kwargs,match", [
    ({"batch_size": 0}, "batch_size"), ({"batch_size": -1}, "batch_size"), ({"batch_size": True}, "batch_size"),
    ({"direction": 3}, "direction"), ({"tile": None}, "tile"), ({"tile": "abc"}, "tile"),
    ({"overlap": -2}, "overlap"), ({"out_dtype": "foo"}, "out_dtype"), ({"out_dtype": "complex64"}, "out_dtype"),
    ({"progress": 5}, "progress"), ({"cancel": 5}, "cancel"), ({"precision": "garbage"}, "precision"),
    ({"norm_stats": "approx"}, "norm_stats"),
])
def test_bad_arguments_give_one_clear_error(tr, kwargs, match):
    with pytest.raises(InputError, match=match):
        tr.translate(IMG, **kwargs)


def test_good_callables_and_events_are_accepted(tr):
    seen = []
    out = tr.translate(IMG, progress=lambda d, t: seen.append((d, t)), cancel=threading.Event(), batch_size=1)
    assert out.shape == IMG.shape and seen[-1][0] == seen[-1][1]


def test_tensor_with_grad_is_translated_like_its_array(tr):
    t = torch.from_numpy(IMG).requires_grad_(True)
    np.testing.assert_array_equal(tr.translate(t), tr.translate(IMG))


@pytest.mark.parametrize("image", [
    np.full((32, 32), 1e17, np.float64),                  # constant, huge: the window was 0 wide
    np.full((32, 32), 2 ** 62, np.int64),
    (np.random.default_rng(1).random((32, 32)) * 1e-40).astype(np.float32),  # subnormal values
    np.random.default_rng(2).uniform(-3e38, 3e38, (32, 32)).astype(np.float32),
    np.random.default_rng(3).uniform(-1e300, 1e300, (32, 32)),
])
def test_extreme_values_give_finite_output_in_the_input_dtype(tr, image):
    out = tr.translate(image)
    assert out.dtype == image.dtype and out.shape == image.shape
    assert np.isfinite(out.astype(np.float64)).all()


def test_nan_from_the_model_is_an_error_not_a_result(tr, tiny_generator_ckpt):
    bad = im2im_core.load(tiny_generator_ckpt, device="cpu", precision="fp32")
    with torch.no_grad():
        next(bad.model.parameters()).fill_(float("nan"))
    with pytest.raises(Im2ImError, match="NaN"):
        bad.translate(IMG)


@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (3, 40), (32, 4000), (2, 5, 5)])
def test_small_and_thin_images_are_translated(tr, shape):
    image = np.random.default_rng(4).random(shape).astype(np.float32)
    out = tr.translate(image)
    assert out.shape == image.shape and np.isfinite(out).all()


# ---- checkpoints as a denial of service (issue 19, item 5) -------------------------------------
def _rewritten(tmp_path, ckpt, config_edit=None, meta_edit=None, tensors_edit=None):
    """A copy of `ckpt` with its config, metadata or tensors changed (the file stays tiny)."""
    import json

    from safetensors.torch import load_file, save_file

    from im2im_core import checkpoint

    meta = checkpoint.read_metadata(ckpt)
    raw = {k: (json.dumps(v) if k in ("config", "domains", "intensity", "provenance", "spacing") else v)
           for k, v in meta.items()}
    cfg = json.loads(raw["config"])
    if config_edit:
        config_edit(cfg)
    raw["config"] = json.dumps(cfg)
    if meta_edit:
        meta_edit(raw)
    tensors = load_file(str(ckpt))
    if tensors_edit:
        tensors_edit(tensors)
    out = tmp_path / "evil.safetensors"
    save_file(tensors, str(out), metadata=raw)
    return out


@pytest.mark.parametrize("edit", [
    lambda c: c["generator"].update(ngf=10 ** 6),
    lambda c: c.update(in_channels=10 ** 9),
    lambda c: c["generator"].update(n_blocks=10 ** 6),
    lambda c: c["generator"].update(ngf=4096, n_blocks=1000),  # in range, yet ~300 G values: the meta build refuses
], ids=["ngf", "in_channels", "n_blocks", "in-range-but-huge"])
def test_a_tiny_file_cannot_make_the_loader_allocate(tmp_path, tiny_generator_ckpt, edit):
    import resource
    import time

    from im2im_core.errors import CheckpointError

    path = _rewritten(tmp_path, tiny_generator_ckpt, config_edit=edit)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match="far more weights|must be in"):
        im2im_core.load(path)
    assert time.perf_counter() - t0 < 30  # refused early, not after building a million blocks
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # KiB: under 0.5 GB more


def test_nan_weights_and_bad_aliases_are_refused_at_load(tmp_path, tiny_generator_ckpt):
    from im2im_core.errors import CheckpointError

    def poison(t):
        k = next(k for k, v in t.items() if v.is_floating_point())
        t[k] = t[k].clone().fill_(float("nan"))

    with pytest.raises(CheckpointError, match="NaN"):
        im2im_core.load(_rewritten(tmp_path, tiny_generator_ckpt, tensors_edit=poison))
    with pytest.raises(CheckpointError, match="aliases"):
        im2im_core.load(_rewritten(tmp_path, tiny_generator_ckpt, meta_edit=lambda m: m.update(aliases="{not json")))
    with pytest.raises(CheckpointError, match="aliases"):
        im2im_core.load(_rewritten(tmp_path, tiny_generator_ckpt, meta_edit=lambda m: m.update(aliases="[1, 2]")))


@pytest.mark.parametrize("device", ["bogus", "meta", 5])
def test_bad_device_names_are_input_errors(tiny_generator_ckpt, device):
    with pytest.raises(InputError, match="device"):
        im2im_core.load(tiny_generator_ckpt, device=device)


def test_misleading_messages_now_say_what_is_wrong(tmp_path, tiny_generator_ckpt):
    import os

    from im2im_core.errors import CheckpointError

    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="not a regular file"):
        im2im_core.load(fifo)
    with pytest.raises(CheckpointError, match="not a regular file"):
        im2im_core.load("/dev/zero")
    renamed = tmp_path / "model.pth"
    renamed.write_bytes(tiny_generator_ckpt.read_bytes())
    with pytest.raises(CheckpointError, match="rename it to model.safetensors"):
        im2im_core.load(renamed)


def test_axes_say_what_an_ambiguous_array_is(tr, tiny_rgb_ckpt):
    img = np.random.default_rng(5).random((40, 36, 2)).astype(np.float32)
    with pytest.raises(InputError, match="axes="):
        tr.translate(img)  # (H, W, 2): channels or a stack? no longer guessed
    as_stack = tr.translate(img, axes="ZYX")
    np.testing.assert_array_equal(as_stack, tr.translate(img.copy()[None], axes="TZYX")[0])
    cyx = np.moveaxis(img, -1, 0)  # (2, H, W) as two slices, said explicitly; the output keeps the order
    np.testing.assert_array_equal(tr.translate(cyx, axes="ZYX"), tr.translate(cyx))
    with pytest.raises(InputError, match="colour axis has 2"):
        tr.translate(img, axes="YXC")  # two channels are no colour image
    zyx = np.random.default_rng(6).random((3, 40, 36)).astype(np.float32)
    xyz = np.transpose(zyx, (2, 1, 0))
    np.testing.assert_allclose(tr.translate(xyz, axes="XYZ"), np.transpose(tr.translate(zyx), (2, 1, 0)), atol=1e-6)
    rgb = im2im_core.load(tiny_rgb_ckpt, device="cpu", precision="fp32")
    c_first = np.random.default_rng(7).random((3, 40, 36)).astype(np.float32)
    out = rgb.translate(c_first, axes="CYX")
    assert out.shape == c_first.shape
    np.testing.assert_allclose(out, np.moveaxis(rgb.translate(np.moveaxis(c_first, 0, -1)), -1, 0), atol=1e-6)
    for bad in ("YY", "QYX", "YX", 3):
        with pytest.raises(InputError, match="axes"):
            tr.translate(zyx, axes=bad)


def test_a_pth_with_200k_block_keys_is_refused_before_building(tmp_path):
    """Issue 19: a .pth with 200k residual-block keys grew RSS until the machine ran out of memory."""
    import resource
    import time

    from im2im_core.errors import CheckpointError

    w = torch.zeros(1)  # one shared tiny tensor: the file stays small, the key count does not
    sd = {"model.1.weight": torch.zeros(8, 1, 7, 7), "model.1.bias": torch.zeros(8),
          "model.9.weight": torch.zeros(1, 8, 7, 7), "model.9.bias": torch.zeros(1)}
    sd.update({f"model.{10 + i}.conv_block.1.weight": w for i in range(200_000)})
    path = tmp_path / "bomb.pth"
    torch.save(sd, path)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match="out of range"):
        im2im_core.load(path, device="cpu")
    assert time.perf_counter() - t0 < 60
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 1_000_000  # KiB


@pytest.mark.parametrize("key", ["provenance", "config"])
def test_deeply_nested_metadata_is_a_checkpoint_error_in_load_and_info(tmp_path, tiny_generator_ckpt, key, capsys):
    from im2im_core.cli import main
    from im2im_core.errors import CheckpointError

    path = _rewritten(tmp_path, tiny_generator_ckpt, meta_edit=lambda m: m.update({key: "[" * 100_000 + "]" * 100_000}))
    with pytest.raises(CheckpointError, match="nested too deeply"):
        im2im_core.load(path)
    assert main(["info", str(path)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nested too deeply" in err[0] and "Traceback" not in err[0]


def test_a_pth_whose_keys_are_not_names_is_refused(tmp_path):
    from im2im_core.errors import CheckpointError

    torch.save({0: torch.zeros(3)}, tmp_path / "intkey.pth")
    with pytest.raises(CheckpointError, match="not names"):
        im2im_core.load(tmp_path / "intkey.pth", device="cpu")


@pytest.mark.parametrize("edit, match", [
    (lambda m: m.update({"domains": '{"a": 1}'}), "'domains' must be a list of names"),
    (lambda m: m.update({"domains": "[1, 2]"}), "'domains' must be a list of names"),
    (lambda m: m.update({"intensity": '{"mode": "percentile", "low": -5.0, "high": 150.0}'}), r"\[0, 100\]"),
])
def test_bad_metadata_values_are_checkpoint_errors_in_load_and_info(tmp_path, tiny_generator_ckpt, edit, match,
                                                                    capsys):
    """Issue 40, item 8: `domains` not a list of strings crashed `im2im info` with a TypeError."""
    from im2im_core.cli import main
    from im2im_core.errors import Im2ImError

    path = _rewritten(tmp_path, tiny_generator_ckpt, meta_edit=edit)
    with pytest.raises(Im2ImError, match=match):
        im2im_core.load(path)
    code = main(["info", str(path)])  # info reads the metadata only: it may list a bad window, never crash
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 0 if "100" in match else code == 2 and len(err) == 1 and "Traceback" not in err[0]
