"""torchrun with 2 CPU ranks (gloo): gradients are averaged, weights stay identical, rank 0 alone writes.

Averaged and summed gradients give nearly the same Adam steps (Adam is invariant to the gradient's
scale), so identical weights cannot tell them apart; the test compares the synchronised gradients
of the first generator step with a single-process gradient on the union of the ranks' batches."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

import im2im_core

ROOT = Path(__file__).resolve().parents[1]

# Runs once per rank under torchrun. It counts every file-writing call on its rank and writes
# that plus a hash of its final weights to HASH_DIR -- instrumentation for this test only.
RANK_SCRIPT = r'''
import hashlib, json, os, sys
import torch
from im2im_core.engine import checkpointing, distributed, trainer as tr

kept = {}
_sync, _batch = distributed.DistContext.grad_sync, tr.Trainer._batch
def grad_sync(self, params):  # keep the first synchronised gradients (generator step 0)
    _sync(self, params)
    kept.setdefault("grads", [p.grad.detach().clone() for p in params])
def batch(self, step):
    b = _batch(self, step)
    kept.setdefault("batch", {k: v.detach().clone() for k, v in b.items() if k in ("A", "B")})
    return b
distributed.DistContext.grad_sync, tr.Trainer._batch = grad_sync, batch

calls = {"save_checkpoint": 0, "runlog": 0}
_save, _RunLog = checkpointing.save_checkpoint, tr.RunLog
def save_checkpoint(*a, **k):
    calls["save_checkpoint"] += 1
    return _save(*a, **k)
class RunLog(_RunLog):
    def __init__(self, *a, **k):
        calls["runlog"] += 1
        super().__init__(*a, **k)
checkpointing.save_checkpoint, tr.RunLog = save_checkpoint, RunLog

from im2im_core.engine.factory import train_from_config
t = train_from_config(sys.argv[1])
h = hashlib.sha256()
for k, v in sorted(t.model.state_dict().items()):
    h.update(k.encode()); h.update(v.detach().cpu().contiguous().numpy().tobytes())
first = t._batch(0)["A"]  # what this rank trained on first: ranks must see different data
out = {"rank": t.dist.rank, "world": t.dist.world_size, "hash": h.hexdigest(), "calls": calls,
       "export": str(t.result["export"]), "first_batch_sum": float(first.sum())}
with open(os.path.join(os.environ["HASH_DIR"], f"rank{t.dist.rank}.json"), "w") as fh:
    json.dump(out, fh)
torch.save(kept, os.path.join(os.environ["HASH_DIR"], f"first{t.dist.rank}.pt"))
'''


def test_two_rank_cpu_training_keeps_ranks_identical(tmp_path):
    """Two gloo ranks train a tiny CycleGAN on different data; final weights hash the same."""
    import imageio.v3 as iio

    rng = np.random.default_rng(0)
    for d in ("trainA", "trainB"):
        (tmp_path / "data" / d).mkdir(parents=True)
        for i in range(6):
            iio.imwrite(tmp_path / "data" / d / f"{i}.png", (rng.random((32, 32)) * 255).astype(np.uint8))
    out = tmp_path / "run"
    cfg = {"model": {"family": "cycle_gan", "generator": {"ngf": 4, "n_blocks": 1},
                     "discriminator": {"ndf": 4, "n_layers": 2}},
           "data": {"kind": "unaligned", "root": str(tmp_path / "data")},
           "train": {"iterations": 4, "batch_size": 1, "save_every": 2, "log_every": 1, "sample_every": 2,
                     "device": "cpu", "ema": 0.5, "bf16": False, "pool_size": 0, "out_dir": str(out)}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "rank.py").write_text(RANK_SCRIPT)
    hashes = tmp_path / "hashes"
    hashes.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HASH_DIR": str(hashes), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(tmp_path / "rank.py"), str(tmp_path / "c.yaml")],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    r0, r1 = (json.loads((hashes / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["world"] == r1["world"] == 2
    assert r0["first_batch_sum"] != r1["first_batch_sum"]  # sharded data...
    assert r0["hash"] == r1["hash"]  # ...yet identical weights: gradients were averaged
    assert r0["calls"] == {"save_checkpoint": 2, "runlog": 1}
    assert r1["calls"] == {"save_checkpoint": 0, "runlog": 0} and r1["export"] == "None"
    assert len(list((out / "tb").glob("events.out.tfevents.*"))) == 1
    assert [int(line.split(",")[0]) for line in (out / "losses.csv").read_text().splitlines()[1:]] == [1, 2, 3, 4]
    assert im2im_core.load(out / "model.safetensors", device="cpu").meta["provenance"]["iterations"] == 4
    f0, f1 = (torch.load(hashes / f"first{r}.pt") for r in (0, 1))
    assert all(torch.equal(a, b) for a, b in zip(f0["grads"], f1["grads"]))
    # one process, the same initial weights, both ranks' first batches at once: the mean gradient
    union = {k: torch.cat([f0["batch"][k], f1["batch"][k]]) for k in ("A", "B")}
    ref = _first_generator_grads(cfg, union, tmp_path)
    assert len(ref) == len(f0["grads"])
    got, want = (torch.cat([g.reshape(-1) for g in gs]) for gs in (f0["grads"], ref))
    rel = ((got - want).norm() / want.norm()).item()  # (biases before a norm have ~0 gradients: pooled)
    assert rel < 1e-4, rel  # summed gradients would be twice the mean: rel = 1


class _Captured(Exception):
    pass


def _first_generator_grads(cfg: dict, batch: dict, tmp_path) -> list:
    """Gradients of the first optimizer step of a single-process trainer (same seed) on `batch`."""
    from im2im_core.engine.factory import build_trainer

    trainer = build_trainer({**cfg, "train": {**cfg["train"], "out_dir": str(tmp_path / "single")}})
    model = trainer.model
    grads = []

    def optimize(name, loss):
        opt = model.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grads.extend(p.grad.detach().clone() for g in opt.param_groups for p in g["params"] if p.grad is not None)
        raise _Captured

    model.optimize = optimize
    try:
        model.train_step(batch, 0)
    except _Captured:
        pass
    return grads
