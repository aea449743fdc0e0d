"""The text benchmark (training/benchmarks/text_conditioning.py): validation and test come from
their own seeds, choices are made on validation only, the committed results record the candidates
with their validation scores and the chosen one, and `--report` prints validation and test."""
import json

import numpy as np
import pytest
import torch

from training.benchmarks import text_conditioning as tc

torch.set_num_threads(1)


def test_every_split_has_its_own_seed():
    scene_seeds = [tc.TRAIN_SEED, tc.VAL_SEED, tc.TEST_SEED, tc.CLASSIFIER_SEED]
    pair_seeds = [tc.VAL_SEED + tc.PAIR_OFFSET, tc.TEST_SEED + tc.PAIR_OFFSET]
    assert len(set(scene_seeds + pair_seeds)) == 6
    assert tc.SPLIT_SEEDS == {"val": tc.VAL_SEED, "test": tc.TEST_SEED}
    val, test = tc.scenes_data(20, tc.VAL_SEED, 1, test=True), tc.scenes_data(20, tc.TEST_SEED, 1, test=True)
    train = tc.scenes_data(20, tc.TRAIN_SEED, 1)
    assert not any(np.array_equal(a, b) for a in val["images"] for b in [*test["images"], *train["images"]])
    pv, pt = tc.edit_pairs(10, tc.VAL_SEED + tc.PAIR_OFFSET), tc.edit_pairs(10, tc.TEST_SEED + tc.PAIR_OFFSET)
    assert not any(np.array_equal(a, b) for a in pv["x"] for b in pt["x"])


def test_sisgan_criterion_needs_the_keep_floor_and_gan_cls_takes_the_best():
    assert tc.criterion("gan_cls", {"attribute_accuracy": 0.6}) > tc.criterion("gan_cls", {"attribute_accuracy": 0.5})
    copier = {"edited_accuracy": 0.9, "kept_accuracy": tc.KEEP_FLOOR - 0.01}
    editor = {"edited_accuracy": 0.3, "kept_accuracy": 0.95}
    assert tc.criterion("sisgan", editor) > tc.criterion("sisgan", copier)


def test_candidate_folders_expand_in_iteration_order(tmp_path):
    for it in (1000, 500, 10000):
        (tmp_path / f"it{it:05d}.safetensors").write_bytes(b"")
    out = tc.expand_candidates([["run", str(tmp_path)], ["shipped", "gan_cls_shapes"]])
    assert [label for label, _ in out] == ["run, 500 it", "run, 1000 it", "run, 10000 it", "shipped"]
    empty = tmp_path / "none"
    empty.mkdir()
    with pytest.raises(SystemExit, match="no it"):
        tc.expand_candidates([["empty", str(empty)]])


@pytest.mark.parametrize("argv, message", [
    (["--ship", "--family", "gan_cls"], "--checkpoint"),
    (["--select", "--candidate", "a", "b"], "one --family"),
    (["--select", "--family", "gan_cls"], "--candidate"),
    (["--record", "--family", "gan_cls"], "both families"),
])
def test_refusals(argv, message):
    with pytest.raises(SystemExit, match=message):
        tc.main(argv)


def test_committed_results_choose_on_validation_and_report_both_columns(capsys):
    r = json.loads((tc.RESULTS / "shapes.json").read_text())
    assert "validation" in r["split"] and "no validation split" not in r["split"]
    assert r["source"] == "measured"
    for fam in tc.FAMILIES:
        sel = r["selection"][fam]
        labels = [c["label"] for c in sel["candidates"]]
        assert len(labels) >= 2 and sel["chosen"] in labels and sel["criterion"] == tc.CRITERIA[fam]
        best = max(sel["candidates"], key=lambda c: tc.criterion(fam, c["val"]))
        assert best["label"] == sel["chosen"]  # chosen by the validation scores alone
        assert "val" in r[fam]  # the shipped model's validation scores beside its test scores
    assert tc.main(["--report"]) == 0
    out = capsys.readouterr().out
    assert "| family | validation: attributes | test: attributes |" in out
    assert "Chosen on validation only" in out
    assert f"{r['gan_cls']['attribute_accuracy']:.3f}" in out and f"{r['gan_cls']['val']['attribute_accuracy']:.3f}" in out
