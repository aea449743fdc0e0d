"""The training engine: exact resume, crash-safe saves, NaN stop, logs, config errors, CLI, data."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import im2im_core
from im2im_core.config import from_dict
from im2im_core.data.build import build_dataset
from im2im_core.data.datasets import AlignedCombined, ArrayPairs, DataConfig, NiftiSlices
from im2im_core.data.transforms import Augment
from im2im_core.engine import checkpointing as ck
from im2im_core.engine.config import TrainConfig, parse_config
from im2im_core.engine.factory import build_trainer, train_from_config
from im2im_core.engine.trainer import Trainer, lr_lambda, sample_indices, seed_everything
from im2im_core.errors import CheckpointError, ConfigError, InputError, NonFiniteLoss
from im2im_core.intensity import Intensity
from im2im_core.io import list_files
from im2im_core.models import build, config_from_dict, family_class, list_models

torch.set_num_threads(1)  # 2 shared cores: more threads only oversubscribe

ROOT = Path(__file__).resolve().parents[1]
TINY_CYC = {"family": "cycle_gan", "generator": {"ngf": 4, "n_blocks": 1}, "discriminator": {"ndf": 4, "n_layers": 2}}
TINY_P2P = {"family": "pix2pix", "generator": {"arch": "unet", "num_downs": 5, "ngf": 4, "norm": "batch", "dropout": True},
            "discriminator": {"ndf": 4, "n_layers": 2, "norm": "batch"}}
QUIET = {"progress": False, "tensorboard": False, "sample_every": 0}


def _env():
    """Subprocess environment: the repo importable, one thread per process."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Tiny unpaired/paired PNG folders: 3 images of 40x40 per domain, matching names."""
    import imageio.v3 as iio

    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for d in ("trainA", "trainB"):
        (root / d).mkdir()
        for i in range(3):
            iio.imwrite(root / d / f"im{i}.png", (rng.random((40, 40)) * 255).astype(np.uint8))
    return root


def _arrays_trainer(out_dir, family=TINY_CYC, iterations=8, **train):
    """A Trainer on in-memory data, rebuilt from the same seed every time."""
    seed_everything(0)
    fam = dict(family)
    model = build(config_from_dict(fam.pop("family"), fam))
    rng = np.random.default_rng(0)
    a, b = rng.random((5, 40, 40)).astype(np.float32), rng.random((5, 40, 40)).astype(np.float32)
    ds = ArrayPairs(a, b, paired=model.family == "pix2pix", augment=Augment(0, 32, True))
    hooks = {k: train.pop(k) for k in ("callback", "should_stop") if k in train}
    cfg = from_dict(TrainConfig, {"iterations": iterations, "batch_size": 2, "save_every": 3, "pool_size": 3,
                                  "out_dir": str(out_dir), **QUIET, **train})
    return Trainer(model, ds, cfg, **hooks)


# ---- resume --------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", [TINY_CYC, TINY_P2P], ids=["cycle_gan", "pix2pix"])
def test_resume_gives_identical_weights(tmp_path, family):
    """Stop after 4 of 8 iterations, resume in a fresh Trainer: every tensor equals an uninterrupted run."""
    full = _arrays_trainer(tmp_path / "full", family, ema=0.9)
    full.fit()
    part = _arrays_trainer(tmp_path / "part", family, ema=0.9, should_stop=lambda: part.step >= 4)
    res = part.fit()
    assert res["status"] == "stopped" and res["iterations"] == 4
    assert ck.find_latest(tmp_path / "part" / "checkpoints").name == "ckpt_00000004.pt"  # Stop saved first
    resumed = _arrays_trainer(tmp_path / "part", family, ema=0.9)
    assert resumed.fit(resume=True)["iterations"] == 8
    ref, got = full.model.state_dict(), resumed.model.state_dict()
    assert ref.keys() == got.keys()
    assert all(torch.equal(ref[k], got[k]) for k in ref)
    for name in full.ema:
        assert all(torch.equal(a, b) for a, b in zip(full.ema[name].state_dict().values(),
                                                     resumed.ema[name].state_dict().values()))
    assert not all(torch.equal(ref[k], v) for k, v in _arrays_trainer(tmp_path / "x", family).model.state_dict().items())


@pytest.mark.parametrize("warmup", [True, False])
def test_ema_follows_the_warmed_up_decay_from_the_init(tmp_path, warmup):
    """EMA = the lerp recursion from the init weights with decay min(ema, (1+t)/(10+t)) (or ema without warm-up)."""
    seen = []
    t = _arrays_trainer(tmp_path, iterations=6, ema=0.999, ema_warmup=warmup,
                        callback=lambda step, losses: seen.append([p.detach().clone() for p in t.model.netG_A.parameters()]))
    init = [p.detach().clone() for p in t.model.netG_A.parameters()]
    expected = init
    t.fit()
    decays = [t.ema_decay(s) for s in range(6)]
    assert decays == ([min(0.999, (1 + s) / (10 + s)) for s in range(6)] if warmup else [0.999] * 6)
    assert t.ema_decay(10 ** 6) == 0.999
    for live, d in zip(seen, decays):
        expected = [e * d + p * (1 - d) for e, p in zip(expected, live)]
    ema = list(t.ema["netG_A"].parameters())
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(ema, expected))
    # the init keeps prod(decays) of the weight: 2e-4 with warm-up, 0.999**6 = 0.994 without
    moved = sum((a - b).norm() for a, b in zip(ema, init)) / sum((a - b).norm() for a, b in zip(seen[-1], init))
    assert (moved > 0.5) if warmup else (moved < 0.05)


def test_checkpoint_contents_and_safe_load(tmp_path):
    """Everything for resume is in the file, and it loads with weights_only=True."""
    t = _arrays_trainer(tmp_path, iterations=3, ema=0.5)
    t.fit()
    path = ck.find_latest(tmp_path / "checkpoints")
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert {"nets", "optimizers", "schedulers", "ema", "extra_state", "rng", "step", "train_config",
            "model_config", "family", "intensity", "data_description"} <= set(state)
    assert set(state["optimizers"]) == {"G", "D"} and state["step"] == 3
    assert set(state["rng"]) >= {"python", "numpy", "torch"} and len(state["extra_state"]["fake_B"]["images"]) == 3
    assert json.loads((tmp_path / "checkpoints" / "latest.json").read_text())["checkpoint"] == path.name
    with pytest.raises(CheckpointError, match="junk.pt is not a readable training checkpoint"):
        (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
        ck.load_checkpoint(tmp_path / "junk.pt")
    other = _arrays_trainer(tmp_path / "o", family={**TINY_CYC, "lambda_A": 1.0})
    with pytest.raises(CheckpointError, match=r"different cycle_gan config .*'lambda_A': \(10.0, 1.0\)"):
        other.load(path)


def test_resume_a_checkpoint_written_before_a_config_field_existed(tmp_path):
    """A field added to the family since the checkpoint was written takes its default; a run that
    sets it otherwise is refused."""
    t = _arrays_trainer(tmp_path, iterations=2)
    t.fit()
    state = torch.load(ck.find_latest(tmp_path / "checkpoints"), weights_only=True)
    assert state["model_config"].pop("lambda_identity") == 0.5  # as if written before lambda_identity existed
    torch.save(state, tmp_path / "old.pt")
    again = _arrays_trainer(tmp_path / "a", iterations=4)
    again.load(tmp_path / "old.pt")
    assert again.step == 2
    with pytest.raises(CheckpointError, match="lambda_identity"):
        _arrays_trainer(tmp_path / "b", family={**TINY_CYC, "lambda_identity": 0.0}).load(tmp_path / "old.pt")


def test_keep_last_and_rng_round_trip(tmp_path):
    """Only keep_last checkpoints stay; RNG states survive the tensor/list conversion."""
    t = _arrays_trainer(tmp_path, iterations=7, save_every=1, keep_last=2)
    t.fit()
    assert [p.name for _, p in ck.list_checkpoints(tmp_path / "checkpoints")] == ["ckpt_00000006.pt", "ckpt_00000007.pt"]
    seed_everything(5)
    state = ck.rng_state()
    draws = (np.random.rand(), torch.rand(1).item(), __import__("random").random())
    ck.set_rng_state(state)
    assert (np.random.rand(), torch.rand(1).item(), __import__("random").random()) == draws


# ---- crash safety --------------------------------------------------------------------------------
def _write_cfg(path, folders, out_dir, **train):
    """A tiny cycle_gan YAML config on the PNG folders."""
    import yaml

    cfg = {"model": TINY_CYC, "data": {"kind": "unaligned", "root": str(folders), "crop_size": 32},
           "train": {"iterations": 3, "log_every": 1, "sample_every": 2, "out_dir": str(out_dir), **train}}
    path.write_text(yaml.safe_dump(cfg))
    return path


def _check_all_loadable(ckpt_dir: Path, export: Path):
    """latest.json names a loadable file; every complete-looking file loads; leftovers are hidden temps."""
    latest = ck.find_latest(ckpt_dir)
    assert latest is not None and ck.load_checkpoint(latest)["step"] >= 1
    for step, p in ck.list_checkpoints(ckpt_dir):
        assert ck.load_checkpoint(p)["step"] == step
    for p in ckpt_dir.iterdir():
        assert p.name == "latest.json" or ck._NAME.match(p.name) or (p.name.startswith(".") and p.name.endswith(".tmp"))
    json.loads((ckpt_dir / "latest.json").read_text())
    assert im2im_core.load(export, device="cpu").family == "cycle_gan"


def _latest_step(out: Path) -> int:
    """Iteration named by latest.json, -1 before the first save."""
    try:
        return json.loads((out / "checkpoints" / "latest.json").read_text())["step"]
    except (OSError, ValueError):
        return -1


def test_sigkill_during_saving_leaves_loadable_checkpoints(tmp_path, folders):
    """kill -9 a run that saves every iteration, twice (the second resumes): all files stay loadable."""
    out = tmp_path / "run"
    cfg = _write_cfg(tmp_path / "c.yaml", folders, out, iterations=100000, save_every=1, keep_last=2,
                     sample_every=0, tensorboard=False, progress=False, resume=True)
    rng = np.random.default_rng(0)
    steps = [0]
    for _ in range(2):
        proc = subprocess.Popen([sys.executable, "-m", "training", str(cfg)], env=_env(), cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            while _latest_step(out) <= steps[-1] and time.time() < deadline:  # wait for this run to save
                assert proc.poll() is None, "training process died"
                time.sleep(0.02)
            time.sleep(float(rng.uniform(0.3, 1.0)))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        _check_all_loadable(out / "checkpoints", out / "model.safetensors")
        steps.append(_latest_step(out))
        assert all(p.name in ("checkpoints", "model.safetensors", "config.yaml", "losses.csv") or p.name.startswith(".")
                   for p in out.iterdir())
    assert steps[2] > steps[1] > 0  # the second run resumed and went on saving


# ---- NaN -------------------------------------------------------------------------------------------
def test_nan_stops_with_message_and_keeps_last_good(tmp_path):
    """Poisoned weights after the save at 4: iteration 5 stops with a clear message; ckpt 4 kept intact."""
    def poison(step, losses):
        if step == 4:
            with torch.no_grad():
                next(t.model.netG_A.parameters()).fill_(float("nan"))

    t = _arrays_trainer(tmp_path, iterations=10, save_every=2, callback=poison)
    with pytest.raises(NonFiniteLoss, match=r"training stopped at iteration 5: .*is nan.*last good checkpoint kept: .*ckpt_00000004\.pt"):
        t.fit()
    latest = ck.find_latest(tmp_path / "checkpoints")
    state = ck.load_checkpoint(latest)
    assert state["step"] == 4 and all(torch.isfinite(v).all() for v in state["nets"].values() if v.is_floating_point())
    exported, meta = im2im_core.checkpoint.load_model(tmp_path / "model.safetensors")
    assert meta["provenance"]["iterations"] == 4
    assert all(torch.isfinite(p).all() for p in exported.parameters())
    with pytest.raises(NonFiniteLoss, match="became NaN/Inf"):  # a save never writes NaN weights
        t.save()


# ---- logs -------------------------------------------------------------------------------------------
def test_logs_samples_and_plot(tmp_path, folders):
    """losses.csv with the loss columns, TensorBoard events, PNG grids, loss_curves.png, export."""
    out = tmp_path / "run"
    seen = []
    t = train_from_config(_write_cfg(tmp_path / "c.yaml", folders, out, iterations=4, tensorboard=True,
                                     progress=False, ema=0.9),
                          callback=lambda step, losses: seen.append((step, losses)))
    assert [s for s, _ in seen] == [1, 2, 3, 4] and "cycle_A" in seen[0][1]
    with open(out / "losses.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert {"step", "lr", "G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B"} <= set(rows[0])
    assert list((out / "tb").glob("events.out.tfevents.*"))
    from PIL import Image

    grid = Image.open(out / "samples" / "step_000002.png")
    assert grid.size[0] > 6 * 32 and grid.mode == "RGB"  # six visuals side by side
    assert (out / "samples" / "step_000001.png").is_file() and (out / "loss_curves.png").stat().st_size > 1000
    assert (out / "config.yaml").is_file()
    tr = im2im_core.load(out / "model.safetensors", device="cpu")
    assert tr.meta["provenance"]["iterations"] == 4 and tr.meta["provenance"]["ema"] is True
    assert "unaligned folders" in tr.meta["provenance"]["data"]
    assert t.result["status"] == "completed"


# ---- bad input fails before training -------------------------------------------------------------
def _cfg(folders, tmp_path, model=None, data=None, train=None):
    return {"model": dict(model or TINY_CYC),
            "data": {"kind": "unaligned", "root": str(folders), "crop_size": 32, **(data or {})},
            "train": {"iterations": 2, "out_dir": str(tmp_path / "out"), **QUIET, **(train or {})}}


@pytest.mark.parametrize("change,overrides,error,match", [
    ({"model": {"family": "nope"}}, [], ConfigError, r"model family 'nope' unknown"),
    ({"model": {**TINY_CYC, "ngf": 3}}, [], ConfigError, r"unknown key\(s\) \['ngf'\]"),
    ({"model": {"generator": {}}}, [], ConfigError, r"'family' is required"),
    ({}, ["train.iterations=-5"], ConfigError, r"iterations must be an integer >= 1, got -5"),
    ({}, ["train.optim.lr_policy=step"], ConfigError, r"lr_policy 'step' unknown"),
    ({}, ["train.optim.lr=fast"], ConfigError, r"optim\.lr: expected float, got 'fast'"),
    ({}, ["train.ema_warmup=maybe"], ConfigError, r"ema_warmup: expected bool, got 'maybe'"),
    ({}, ["model.generator.ngf=4.5"], ConfigError, r"generator\.ngf: expected int, got 4\.5"),
    ({}, ["trian.iterations=3"], ConfigError, r"must start with one of"),
    ({}, ["train.iterations"], ConfigError, r"not of the form"),
    ({}, ["data.kind=zarr"], ConfigError, r"kind 'zarr' unknown"),
    ({}, ["data.crop_size=30"], ConfigError, r"multiple of 4"),
    ({}, ["data.crop_size=64"], InputError, r"smaller than crop_size 64"),
    ({}, ["model.generator.arch=vit"], ConfigError, r"generator arch 'vit' unknown"),
    ({"model": TINY_P2P}, [], ConfigError, r"pix2pix needs paired data"),
    ({}, ["data.root=/nonexistent/place"], InputError, r"folder /nonexistent/place/trainA does not exist"),
    ({}, ["data.kind=aligned", "data.root="], ConfigError, r"data.dir_AB is required"),
    ({}, ["train.seed=1180591620717411303424"], ConfigError, r"seed: 1180591620717411303424 is out of range"),
    ({}, ["model.generator.ngf=0"], ConfigError, r"generator\.ngf must be in \[1, 65536\], got 0"),
    ({}, ["model.generator.ngf=-4"], ConfigError, r"generator\.ngf must be in \[1, 65536\], got -4"),
    ({}, ["model.generator.n_blocks=1000000"], ConfigError, r"n_blocks must be in \[0, 1024\]"),
    ({}, ["model.domains=5"], ConfigError, r"domains: expected a list, got 5"),
    ({}, ["data.kind=mni", "data.size=100000"], ConfigError, r"size 0 \(native\) or 8\.\.1024"),
])
def test_bad_configs_fail_before_training(tmp_path, folders, change, overrides, error, match):
    """Each bad config raises a one-line error naming the problem, and nothing is written."""
    with pytest.raises(error, match=match) as info:
        train_from_config({**_cfg(folders, tmp_path), **change}, overrides)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_bad_folders_fail_before_training(tmp_path, folders):
    """Empty folders, mismatched pair names and unreadable images are named before training."""
    import imageio.v3 as iio

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"domain A folder .*empty contains no images"):
        build_trainer(_cfg(folders, tmp_path, data={"dir_A": str(empty)}))
    other = tmp_path / "B2"
    other.mkdir()
    for name in ("im0", "im1", "zz"):
        iio.imwrite(other / f"{name}.png", np.zeros((32, 32), np.uint8))
    with pytest.raises(InputError, match=r"paired folders do not match: 1 name\(s\) only in .*\['im2'\].*\['zz'\]"):
        build_trainer(_cfg(folders, tmp_path, model=TINY_P2P,
                           data={"kind": "aligned", "dir_A": str(folders / "trainA"), "dir_B": str(other)}))
    (other / "zz.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(InputError, match=r"cannot read image .*zz\.png"):
        build_trainer(_cfg(folders, tmp_path, data={"dir_B": str(other)}))
    with pytest.raises(ConfigError, match="config file .* not found"):
        train_from_config(tmp_path / "missing.yaml")
    assert not (tmp_path / "out").exists()


# ---- CLI ---------------------------------------------------------------------------------------
def test_cli_trains_three_iterations_end_to_end(tmp_path, folders):
    """`python -m training CONFIG key=value` trains, exports a loadable model; errors are one line."""
    out = tmp_path / "run"
    cfg = _write_cfg(tmp_path / "c.yaml", folders, tmp_path / "ignored")
    run = subprocess.run([sys.executable, "-m", "training", str(cfg), f"train.out_dir={out}", "train.iterations=3"],
                         env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "completed after 3 iterations" in run.stdout
    tr = im2im_core.load(out / "model.safetensors", device="cpu")
    assert tr.meta["provenance"]["iterations"] == 3
    img = (np.random.default_rng(0).random((36, 36)) * 255).astype(np.uint8)
    assert tr.translate(img, "BtoA").shape == (36, 36)
    bad = subprocess.run([sys.executable, "-m", "training", str(cfg), "train.iterations=-1"], env=_env(),
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "iterations must be" in bad.stderr


def test_example_configs_parse():
    """The shipped example configs are valid (the data itself is not needed to parse them)."""
    names = sorted(p.name for p in (ROOT / "training" / "configs").glob("*.yaml"))
    assert {"cycle_gan_mni.yaml", "pix2pix_folders.yaml", "acl_gan_lesions.yaml"} <= set(names)
    for name in names:
        model_cfg, data_cfg, train_cfg = parse_config(ROOT / "training" / "configs" / name)
        assert train_cfg.iterations > 0 and data_cfg.kind in ("mni", "aligned", "lesions")


# ---- schedule and data order ------------------------------------------------------------------------
def test_lr_schedule_and_sharded_data_order():
    """Linear policy: constant, then to ~0; every epoch visits each item once, ranks never overlap."""
    f = lr_lambda(from_dict(TrainConfig, {"iterations": 100}))
    assert f(0) == f(48) == 1.0 and 0 < f(99) < 0.05 and f(60) < f(50)
    seen = [i for s in range(5) for i in sample_indices(10, 2, s, seed=3)]
    assert sorted(seen) == list(range(10))
    r0 = {i for s in range(5) for i in sample_indices(20, 2, s, 3, rank=0, world=2)}
    r1 = {i for s in range(5) for i in sample_indices(20, 2, s, 3, rank=1, world=2)}
    assert not r0 & r1 and len(r0 | r1) == 20


# ---- datasets ---------------------------------------------------------------------------------------
def test_folder_formats_16bit_rgb_and_side_by_side(tmp_path):
    """16-bit TIFF and RGB PNG become 1-channel [-1, 1] tensors; A|B images split in half."""
    import imageio.v3 as iio
    import tifffile

    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir(), b.mkdir()
    tifffile.imwrite(a / "x.tif", (np.arange(32 * 32).reshape(32, 32) * 60).astype(np.uint16))
    iio.imwrite(b / "x.png", np.stack([np.full((32, 32), v, np.uint8) for v in (10, 100, 200)], -1))
    ds = build_dataset(from_dict(DataConfig, {"kind": "aligned", "dir_A": str(a), "dir_B": str(b), "flip": False,
                                              "intensity": {"mode": "dtype"}}))
    item = ds[0]
    assert ds.paired and item["A"].shape == (1, 32, 32) and item["A"].dtype == torch.float32
    assert item["A"].max() <= 1 and item["A"].min() >= -1 and item["A"].max() > 0.5  # 16-bit range used
    assert torch.allclose(item["B"], torch.full_like(item["B"], (0.299 * 10 + 0.587 * 100 + 0.114 * 200) / 127.5 - 1))
    assert ds.intensity == Intensity("dtype")
    ab = tmp_path / "AB"
    ab.mkdir()
    iio.imwrite(ab / "p.png", np.concatenate([np.zeros((32, 32), np.uint8), np.full((32, 32), 255, np.uint8)], 1))
    ds = AlignedCombined(ab, channels=(3, 1), intensity=Intensity("dtype"), augment=Augment(48, 32, True))
    item = ds[0]
    assert item["A"].shape == (3, 32, 32) and (item["A"] == -1).all() and (item["B"] == 1).all()
    with pytest.raises(InputError, match="contains no images"):
        list_files(tmp_path / "A", "x", (".jpg",))


def test_nifti_slices_and_arrays(tmp_path):
    """NIfTI volumes give paired 2D slices (empty ones skipped); arrays keep one window per stack."""
    import nibabel as nib

    vol = np.zeros((16, 16, 10), np.float32)
    vol[4:12, 4:12, 2:8] = np.random.default_rng(0).random((8, 8, 6)) + 1
    for d, v in (("A", vol), ("B", vol * 3)):
        (tmp_path / d).mkdir()
        nib.save(nib.Nifti1Image(v, np.eye(4)), tmp_path / d / "s1.nii.gz")
    ds = build_dataset(from_dict(DataConfig, {"kind": "nifti", "dir_A": str(tmp_path / "A"),
                                              "dir_B": str(tmp_path / "B"), "paired": True, "axis": 2, "flip": False}))
    assert len(ds) == 6 and ds.paired and "NIfTI" in ds.description
    item = ds[3]
    assert item["A"].shape == (1, 16, 16) and torch.allclose(item["A"], item["B"], atol=1e-5)
    arr = ArrayPairs(np.arange(2 * 8 * 8, dtype=np.float32).reshape(2, 8, 8), np.ones((3, 8, 8)),
                     intensity=Intensity("fixed", 0, 64), augment=Augment(flip=False))
    assert len(arr) == 3 and arr[1]["A"][0, 0, 0] == 1.0 and arr[0]["A"][0, 0, 0] == -1.0
    assert arr.paired is False and arr[0]["B"].shape == (1, 8, 8)
    with pytest.raises(InputError, match="as many A as B slices"):
        ArrayPairs(np.zeros((2, 8, 8)), np.zeros((3, 8, 8)), paired=True)
    with pytest.raises(InputError, match="NaN/Inf"):
        ArrayPairs(np.full((8, 8), np.nan), np.zeros((8, 8)))
    assert isinstance(ds, NiftiSlices)


def test_custom_dataset_with_wrong_channels_is_refused(tmp_path):
    """Any Dataset works; one whose channels do not fit the model is refused before training."""
    class TwoChannel(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return {"A": torch.zeros(2, 32, 32), "B": torch.zeros(2, 32, 32)}

    model = build(config_from_dict("cycle_gan", {k: v for k, v in TINY_CYC.items() if k != "family"}))
    with pytest.raises(ConfigError, match=r"domain A images have shape \(2, 32, 32\).*expects 1 channel"):
        Trainer(model, TwoChannel(), TrainConfig(out_dir=str(tmp_path)))


def test_yaml_exponent_without_a_dot_is_a_float(tmp_path):
    """PyYAML (YAML 1.1) reads `lr: 1e-3` as the string '1e-3'; a float field takes it (issue 19)."""
    path = tmp_path / "c.yaml"
    path.write_text("model: {family: cycle_gan}\ntrain:\n  optim: {lr: 1e-3}\n  ema: 5e-1\n")
    _, _, train = parse_config(path)
    assert train.optim.lr == 0.001 and train.ema == 0.5


def test_resume_survives_a_damaged_newest_checkpoint_and_says_when_there_is_nothing_to_do(tmp_path):
    """Issue 19: an empty newest checkpoint made resume raise IndexError; now it resumes from the
    newest intact one, with a warning. A pointer out of the run folder is not followed. A run
    already past train.iterations says so instead of exiting silently."""
    t = _arrays_trainer(tmp_path, iterations=6, keep_last=3)
    t.fit()
    d = tmp_path / "checkpoints"
    newest = ck.find_latest(d)
    assert newest.name == ck.checkpoint_name(6)
    newest.write_bytes(b"")  # killed mid-write by something that was not our atomic writer
    with pytest.raises(CheckpointError, match="is not a readable training checkpoint"):
        ck.load_checkpoint(newest)
    again = _arrays_trainer(tmp_path, iterations=6, keep_last=3)
    with pytest.warns(UserWarning, match="resumed from ckpt_00000003"):
        again._resume(True)
    assert again.step == 3
    outside = tmp_path / "elsewhere.pt"
    outside.write_bytes((d / ck.checkpoint_name(3)).read_bytes())
    (d / "latest.json").write_text(json.dumps({"checkpoint": "../elsewhere.pt", "step": 99}))
    assert ck.find_latest(d).parent.resolve() == d.resolve()
    done = _arrays_trainer(tmp_path / "done", iterations=3)
    done.fit()
    later = _arrays_trainer(tmp_path / "done", iterations=2)
    with pytest.warns(UserWarning, match="nothing to train"):
        res = later.fit(resume=True)
    assert res["iterations"] == 3


def test_old_loss_weight_names_still_read_with_a_warning_and_shipped_checkpoints_load_silently():
    """One name for the adversarial weight (lambda_gan); the old keys map onto it."""
    import warnings

    import im2im_core
    from im2im_core.errors import ConfigError
    from im2im_core.models import config_from_dict

    for family, old in (("drit", "lambda_adv"), ("inpaint", "adv_weight"), ("mri_recon", "adv_weight"),
                        ("super_resolution", "adversarial_weight")):
        with pytest.warns(DeprecationWarning, match=f"'{old}' is now called 'lambda_gan'"):
            cfg = config_from_dict(family, {old: 0.25})
        assert cfg.lambda_gan == 0.25
        with pytest.raises(ConfigError, match="old name"):
            config_from_dict(family, {old: 0.25, "lambda_gan": 0.5})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for name in ("inpaint_mri", "mri_recon_1dgauss", "sr_x2_mri"):  # written with the old keys
            assert im2im_core.load(name, device="cpu").model.config.lambda_gan >= 0


@pytest.mark.parametrize("family", list_models())
def test_every_family_sizes_itself_for_quick_runs(family):
    """`preset` (what the Train widget's capacity uses) turns each family's own size knobs: tiny <
    small <= full, tiny under a million weights; "full" is the config itself."""
    cfg = family_class(family).Config()
    assert cfg.preset("full", 64) == cfg
    n = {cap: sum(p.numel() for p in build(cfg.preset(cap, 64)).parameters()) for cap in ("tiny", "small")}
    full = sum(p.numel() for p in build(cfg).parameters())
    assert n["tiny"] < n["small"] <= full and n["tiny"] < 1_000_000, (n, full)
    with pytest.raises(ConfigError, match="capacity 'huge' unknown"):
        cfg.preset("huge", 64)


@pytest.mark.parametrize("damage", ["stale", "missing"])
def test_resume_rewrites_an_export_older_than_the_checkpoint(tmp_path, damage):
    """Issue 40, item 4: a kill between the final checkpoint and its export left model.safetensors
    at an older step for good ("nothing to train" never rewrote it)."""
    from im2im_core.checkpoint import read_metadata

    t = _arrays_trainer(tmp_path, iterations=2)
    t.fit()
    old = (tmp_path / "model.safetensors").read_bytes()
    t2 = _arrays_trainer(tmp_path, iterations=4)
    t2.fit(resume=True)
    assert read_metadata(tmp_path / "model.safetensors")["provenance"]["iterations"] == 4
    if damage == "stale":
        (tmp_path / "model.safetensors").write_bytes(old)  # as if killed before the export was written
    else:
        (tmp_path / "model.safetensors").unlink()
    again = _arrays_trainer(tmp_path, iterations=4)
    with pytest.warns(UserWarning, match="nothing to train"):
        res = again.fit(resume=True)
    assert res["iterations"] == 4
    assert read_metadata(tmp_path / "model.safetensors")["provenance"]["iterations"] == 4


@pytest.mark.parametrize("where", ["under a file", "read-only"])
def test_an_unusable_out_dir_is_a_config_error_naming_it(tmp_path, where):
    """Issue 40 item 8: a run folder that cannot be made or written is our ConfigError, not an OSError."""
    import os

    if where == "under a file":
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "run"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        out = ro / "run"
    with pytest.raises(ConfigError, match="train.out_dir"):
        _arrays_trainer(out, iterations=2).fit()
