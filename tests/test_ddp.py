"""torchrun with 2 CPU ranks (gloo): gradients are averaged, weights stay identical, rank 0 alone writes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

import im2im_core

ROOT = Path(__file__).resolve().parents[1]

# Runs once per rank under torchrun. It counts every file-writing call on its rank and writes
# that plus a hash of its final weights to HASH_DIR -- instrumentation for this test only.
RANK_SCRIPT = r'''
import hashlib, json, os, sys
import torch
from im2im_core.engine import checkpointing, trainer as tr

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

t = tr.train_from_config(sys.argv[1])
h = hashlib.sha256()
for k, v in sorted(t.model.state_dict().items()):
    h.update(k.encode()); h.update(v.detach().cpu().contiguous().numpy().tobytes())
first = t._batch(0)["A"]  # what this rank trained on first: ranks must see different data
out = {"rank": t.dist.rank, "world": t.dist.world_size, "hash": h.hexdigest(), "calls": calls,
       "export": str(t.result["export"]), "first_batch_sum": float(first.sum())}
with open(os.path.join(os.environ["HASH_DIR"], f"rank{t.dist.rank}.json"), "w") as fh:
    json.dump(out, fh)
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
                     "device": "cpu", "ema": 0.5, "out_dir": str(out)}}
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
