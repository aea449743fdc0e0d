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


def test_translate_official_checkpoints_from_the_shell(tmp_path):
    """--config for a MUNIT YAML, --target as an attribute vector for StarGAN."""
    import numpy as np
    from PIL import Image

    from foreign_parity import to_image

    _, g, meta = golden("stargan")
    Image.fromarray(np.round(to_image(g["x0"][:1])).astype(np.uint8)).save(tmp_path / "face.png")
    assert main(["translate", str(ROOT / "stargan" / meta["weights"]), str(tmp_path / "face.png"), "-o",
                 str(tmp_path / "out"), "--target", "1,0,0,1,0", "--precision", "fp32"]) == 0
    import im2im_core

    out = np.asarray(Image.open(tmp_path / "out" / "face.png"))
    face = np.asarray(Image.open(tmp_path / "face.png"))
    want = im2im_core.load(ROOT / "stargan" / meta["weights"], device="cpu").translate(
        face, target=[1, 0, 0, 1, 0], precision="fp32")
    assert out.shape == (32, 32, 3) and np.abs(out.astype(int) - want.astype(int)).max() <= 1
    folder, _, m = golden("munit")
    assert main(["translate", str(folder / m["weights"]), str(tmp_path / "face.png"), "-o", str(tmp_path / "m"),
                 "--config", str(folder / m["config"]), "--seed", "3"]) == 0
    assert np.asarray(Image.open(tmp_path / "m" / "face.png")).ndim == 2  # domain b has one channel
