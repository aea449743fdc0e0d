"""The reconstruction models' ship step: a shipped checkpoint's provenance is what its recorded
training command says (contrasts, variations, chosen over its predecessor on validation), and a
checkpoint whose training command is unknown is not shipped."""
import pytest

import im2im_core
from training.benchmarks.common import RECON_MODELS
from training.benchmarks.reconstruction import _arguments_of, _training_command, trained_contrasts, trained_variations


@pytest.mark.parametrize("kind", sorted(RECON_MODELS))
def test_shipped_provenance_follows_its_training_command(kind):
    prov = im2im_core.load(RECON_MODELS[kind], device="cpu").meta["provenance"]
    args = _arguments_of(prov["command"])
    assert args.train and args.masks == kind
    assert prov["contrasts"] == trained_contrasts(args) and prov["variations"] == trained_variations(args)
    scores = prov["chosen_on_validation"]["scores_dB"]
    assert max(scores, key=scores.get) != RECON_MODELS[kind]  # it beat the model it replaced
    assert "--ship" in prov["shipped_with"]


def test_a_checkpoint_without_its_training_command_is_not_shipped(tmp_path):
    with pytest.raises(SystemExit, match="command.txt is missing"):
        _training_command(tmp_path / "model.safetensors")
