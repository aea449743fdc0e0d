"""`im2im import` / `im2im export --format official`: models trained here in the official
architecture export too, and what cannot be exported or imported says why."""
import torch

from im2im_core.cli import main
from foreign_parity import ROOT, golden, max_err
from napari_im2im._testing import tiny_checkpoint


def test_model_trained_here_in_the_official_architecture_runs_in_their_layout(tmp_path):
    """A stargan built with arch='official' exports to a *-G.ckpt that loads back to the same outputs."""
    import im2im_core

    ours = tiny_checkpoint(tmp_path, "stargan", channels=3, domains=("a", "b", "c"), arch="official")
    out = tmp_path / "1-G.ckpt"
    assert main(["export", str(ours), "-o", str(out), "--format", "official"]) == 0
    sd = torch.load(out, weights_only=True)
    assert "main.0.weight" in sd and any(k.endswith("running_mean") for k in sd)
    a = im2im_core.load(ours, device="cpu", precision="fp32")
    b = im2im_core.load(out, device="cpu", precision="fp32", config={"selected_attrs": ["a", "b", "c"]})
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        assert max_err(a.model.inference_forward(x, "to_b"), b.model.inference_forward(x, "to_b")) == 0


def test_export_refusals_name_the_reason(tmp_path, capsys):
    ours = tiny_checkpoint(tmp_path, "munit")  # arch 'ours'
    assert main(["export", str(ours), "-o", str(tmp_path / "gen.pt"), "--format", "official"]) == 2
    assert "only arch='official' models run in NVlabs/MUNIT's code" in capsys.readouterr().err
    cyc = tiny_checkpoint(tmp_path, "cycle_gan")
    assert main(["export", str(cyc), "-o", str(tmp_path / "g.pth"), "--format", "official"]) == 2
    assert "no official format takes a cycle_gan model" in capsys.readouterr().err


def test_import_reports_bad_configs(tmp_path, capsys):
    folder, _, meta = golden("munit")
    weights = str(folder / meta["weights"])
    assert main(["import", weights, "-o", str(tmp_path / "m.safetensors"), "--config", str(tmp_path / "no.yaml")]) == 2
    assert "is not a file" in capsys.readouterr().err
    assert main(["import", weights, "-o", str(tmp_path / "m.safetensors"), "--set", "gen"]) == 2
    assert "--set takes KEY=VALUE" in capsys.readouterr().err
    assert main(["import", str(ROOT / "stargan" / "200000-G.ckpt"), "-o", str(tmp_path / "s.safetensors"),
                 "--set", "c_dim=6"]) == 2
    assert "c_dim=6 but the weights say 5" in capsys.readouterr().err
    assert main(["import", weights, "-o", str(tmp_path / "m.safetensors")]) == 0
    assert main(["info", str(tmp_path / "m.safetensors")]) == 0
    assert "NVlabs/MUNIT" in capsys.readouterr().out
