"""Our safetensors checkpoint: self-describing, rebuilt from the file alone, never executes code."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import im2im_core
from conftest import tiny_generator_model
from im2im_core import checkpoint
from im2im_core.errors import CheckpointError
from im2im_core.io import atomic_write


def test_metadata_is_complete(tiny_generator_ckpt):
    meta = checkpoint.read_metadata(tiny_generator_ckpt)
    assert meta["format_version"] == checkpoint.FORMAT_VERSION
    assert meta["family"] == "generator"
    assert meta["domains"] == ["T1w", "T2w"]
    assert meta["in_channels"] == "1" and meta["out_channels"] == "1"
    assert meta["intensity"] == {"mode": "percentile", "low": 0.5, "high": 99.5}
    assert meta["config"]["generator"]["n_blocks"] == 2
    prov = meta["provenance"]
    assert {"library_version", "date", "iterations", "dataset"} <= set(prov)


def test_load_rebuilds_model_from_file_alone(tiny_generator_ckpt):
    tr = im2im_core.load(tiny_generator_ckpt, device="cpu", precision="fp32")
    assert tr.family == "generator" and tr.domains == ["T1w", "T2w"]
    assert tr.intensity.mode == "percentile"
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    with torch.no_grad():  # the loaded model computes what the saved one did, not what another init does
        got = tr.model.inference_forward(x, "AtoB")
        assert torch.allclose(got, tiny_generator_model(0).inference_forward(x, "AtoB"), atol=1e-5)
        assert not torch.allclose(got, tiny_generator_model(1).inference_forward(x, "AtoB"), atol=1e-3)


def test_foreign_safetensors_and_corrupt_files_are_refused(tmp_path, tiny_generator_ckpt):
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(CheckpointError, match="not a napari-im2im checkpoint"):
        im2im_core.load(plain)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(tiny_generator_ckpt.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="not a readable"):
        im2im_core.load(broken)
    with pytest.raises(CheckpointError, match="not found"):
        im2im_core.load(tmp_path / "missing.safetensors")
    odd = tmp_path / "weights.onnx"
    odd.write_bytes(b"xx")
    with pytest.raises(CheckpointError, match="unknown checkpoint type"):
        im2im_core.load(odd)


def test_weights_that_do_not_match_the_config_are_refused(tmp_path, tiny_generator_ckpt):
    meta = checkpoint.read_metadata(tiny_generator_ckpt)
    raw = {k: (json.dumps(v) if k in ("config", "domains", "intensity", "provenance", "spacing") else v) for k, v in meta.items()}
    raw_cfg = json.loads(raw["config"])
    raw_cfg["generator"]["n_blocks"] = 5
    raw["config"] = json.dumps(raw_cfg)
    from safetensors.torch import load_file

    bad = tmp_path / "bad.safetensors"
    save_file(load_file(str(tiny_generator_ckpt)), str(bad), metadata=raw)
    with pytest.raises(CheckpointError, match="do not match"):
        im2im_core.load(bad)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"previous")

    def fail(tmp):
        with open(tmp, "wb") as fh:
            fh.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, fail)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_shipped_name_resolution_errors_list_names(tmp_path):
    with pytest.raises(CheckpointError, match="shipped model"):
        im2im_core.load("no_such_model_name")


def test_cuda_request_without_gpu_is_clear(tiny_generator_ckpt):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from im2im_core.errors import InputError

    with pytest.raises(InputError, match="no CUDA GPU"):
        im2im_core.load(tiny_generator_ckpt, device="cuda")
