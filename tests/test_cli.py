"""`im2im` on real files: PNG, 16-bit TIFF, NIfTI; info/models/export; one-line errors."""
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import nibabel as nib
import numpy as np
import pytest
import tifffile
import torch

import im2im_core
from im2im_core.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "im2im_core", *map(str, args)], capture_output=True, text=True)


def test_translate_png_tiff_nifti_and_folder(tmp_path, tiny_generator_ckpt, camera):
    src = tmp_path / "in"
    src.mkdir()
    iio.imwrite(src / "cam.png", camera[:96, :80])
    tifffile.imwrite(src / "cam16.tif", camera[:64, :72].astype(np.uint16) * 257)
    vol = np.random.default_rng(0).random((40, 48, 6)).astype(np.float32) * 1000
    affine = np.diag([0.8, 0.8, 2.0, 1.0])
    nib.save(nib.Nifti1Image(vol, affine), src / "vol.nii.gz")
    out = tmp_path / "out"
    assert main(["translate", str(tiny_generator_ckpt), str(src), "-o", str(out), "--device", "cpu"]) == 0
    png = iio.imread(out / "cam.png")
    assert png.shape == (96, 80) and png.dtype == np.uint8
    tif = tifffile.imread(out / "cam16.tif")
    assert tif.shape == (64, 72) and tif.dtype == np.uint16 and tif.max() > 255
    nii = nib.load(out / "vol.nii.gz")
    assert nii.shape == vol.shape and np.allclose(nii.affine, affine)
    assert nii.get_data_dtype() == np.float32
    # the CLI reproduces the library call on the same slices
    from im2im_core.io import slices_to_volume, volume_to_slices

    tr = im2im_core.load(tiny_generator_ckpt, device="cpu")
    ref = slices_to_volume(tr.translate(volume_to_slices(vol)))
    assert np.allclose(np.asarray(nii.dataobj), ref, atol=1e-4)


def test_nifti_voxel_size_reaches_spacing_aware_inference(tmp_path):
    """A NIfTI header's in-plane voxel size is the spacing (a model trained at 1 mm resamples a
    0.8 x 2 mm volume); --spacing overrides it and --no-resample turns resampling off."""
    from im2im_core.io import slices_to_volume, volume_to_slices
    from napari_im2im._testing import tiny_checkpoint

    ckpt = tiny_checkpoint(tmp_path, "generator", spacing=(1.0, 1.0), name="spaced")
    vol = np.random.default_rng(1).random((40, 30, 4)).astype(np.float32)
    nib.save(nib.Nifti1Image(vol, np.diag([0.8, 2.0, 3.0, 1.0])), tmp_path / "v.nii.gz")
    tr = im2im_core.load(ckpt, device="cpu")
    slices = volume_to_slices(vol)  # (4, 30, 40): rows are the file's axis 1 (2 mm), columns axis 0 (0.8 mm)
    for extra, spacing, resample in (([], (2.0, 0.8), True), (["--spacing", "1", "1"], (1.0, 1.0), True),
                                     (["--no-resample"], None, False)):
        out = tmp_path / f"out{len(extra)}{resample}"
        assert main(["translate", str(ckpt), str(tmp_path / "v.nii.gz"), "-o", str(out), "--device", "cpu", *extra]) == 0
        ref = slices_to_volume(tr.translate(slices, spacing=spacing, resample=resample))
        assert np.allclose(np.asarray(nib.load(out / "v.nii.gz").dataobj), ref, atol=1e-4), extra
    assert tr.model_grid(slices.shape[-2:], (2.0, 0.8)) == (60, 32)


def test_info_and_models(tiny_generator_ckpt):
    res = run("info", tiny_generator_ckpt)
    assert res.returncode == 0
    assert "family:     generator" in res.stdout and "T1w -> T2w" in res.stdout and "library_version" in res.stdout
    res = run("models")
    assert res.returncode == 0 and "generator" in res.stdout


@pytest.mark.parametrize("fmt", ["torchscript", "export"])
def test_export_reproduces_translate(tmp_path, tiny_generator_ckpt, fmt):
    out = tmp_path / f"model.{fmt}.pt2"
    assert main(["export", str(tiny_generator_ckpt), "-o", str(out), "--format", fmt, "--size", "64"]) == 0
    tr = im2im_core.load(tiny_generator_ckpt, device="cpu", precision="fp32")
    x = torch.rand(1, 1, 64, 64) * 2 - 1
    ref = tr.forward_tensor(x, tile=4096)[0]["image"]
    if fmt == "torchscript":
        mod = torch.jit.load(str(out))
    else:
        mod = torch.export.load(str(out)).module()
    with torch.no_grad():
        got = mod(x)
    assert torch.allclose(got, ref, atol=1e-5)


def test_bad_inputs_give_one_line_errors_and_no_output(tmp_path, tiny_generator_ckpt, camera):
    out = tmp_path / "out"
    cases = []
    cases.append(["translate", tiny_generator_ckpt, tmp_path / "missing.png", "-o", out])
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    cases.append(["translate", tiny_generator_ckpt, corrupt, "-o", out])
    wrong = tmp_path / "wrong.safetensors"
    wrong.write_bytes(b"not a checkpoint at all")
    good = tmp_path / "good.png"
    iio.imwrite(good, camera[:32, :32])
    cases.append(["translate", wrong, good, "-o", out])
    nan = tmp_path / "nan.tif"
    arr = np.ones((16, 16), np.float32)
    arr[2, 2] = np.nan
    tifffile.imwrite(nan, arr)
    cases.append(["translate", tiny_generator_ckpt, nan, "-o", out])
    empty = tmp_path / "empty.tif"
    tifffile.imwrite(empty, np.zeros((0, 5), np.float32))
    cases.append(["translate", tiny_generator_ckpt, empty, "-o", out])
    cases.append(["info", tmp_path / "nope.safetensors"])
    for args in cases:
        res = run(*args)
        assert res.returncode != 0, args
        assert "Traceback" not in res.stderr, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("im2im: error:"), res.stderr
    assert not out.exists() or not any(out.iterdir())
    res = run("--debug", "translate", tiny_generator_ckpt, nan, "-o", out)
    assert "Traceback" in res.stderr


def test_bad_output_targets_and_options_are_one_line_errors(tmp_path, tiny_generator_ckpt, camera, capsys):
    """Issue 19's CLI cases that printed tracebacks: -o a file, -o under a file, --slice-axis 7,
    --device bogus."""
    src = tmp_path / "cam.png"
    iio.imwrite(src, camera[:48, :48])
    afile = tmp_path / "taken.txt"
    afile.write_text("x")
    for out, match in ((afile, "is a file"), (afile / "sub", "cannot create the output folder")):
        assert main(["translate", str(tiny_generator_ckpt), str(src), "-o", str(out), "--device", "cpu"]) == 2
        err = capsys.readouterr().err
        assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert afile.read_text() == "x"
    assert main(["translate", str(tiny_generator_ckpt), str(src), "-o", str(tmp_path / "o"), "--device", "bogus"]) == 2
    assert "not a device" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # argparse: usage line and the valid choices (no traceback)
        main(["translate", str(tiny_generator_ckpt), str(src), "-o", str(tmp_path / "o"), "--slice-axis", "7"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_folder_run_processes_every_good_file_and_reports_the_bad_ones(tmp_path, tiny_generator_ckpt, camera,
                                                                       capsys):
    """Issue 19: a bad file in a folder stopped the run; a .txt renamed .png printed imageio's
    four-line advice. Now every good file is written, each bad one gets a line, and the exit is 2."""
    src = tmp_path / "in"
    src.mkdir()
    iio.imwrite(src / "a.png", camera[:48, :48])
    (src / "b.png").write_text("this is a text file")
    (src / "c.png").write_bytes(b"")
    iio.imwrite(src / "d.png", camera[48:96, :48])
    (src / "._d.png").write_bytes(b"\x00\x05\x16\x07")  # a macOS resource fork: hidden, not an image (issue 40)
    out = tmp_path / "out"
    assert main(["translate", str(tiny_generator_ckpt), str(src), "-o", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # every message starts its own line, never glued to a progress-bar fragment
    assert all(line.startswith("im2im: ") for line in err if "im2im: " in line), err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "d.png"]
    assert any("b.png is not a PNG image" in line for line in err)
    assert any("c.png is empty, not an image" in line for line in err)
    assert err[-1].startswith("im2im: 2 of 4 files failed") and "Traceback" not in "\n".join(err)
    assert not any("pip install" in line for line in err)


def test_folder_batches_same_sized_images_each_with_its_own_window(tmp_path, tiny_generator_ckpt, camera):
    """Five same-sized PNGs of different brightness go through in batches (--batch-size 2), a
    differently sized one alone; every output equals translating that file on its own."""
    import imageio.v3 as iio

    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        iio.imwrite(src / f"a{i}.png", (camera[:96, :128] * (0.4 + 0.12 * i)).astype(np.uint8))
    iio.imwrite(src / "b.png", camera[:80, :64])
    out = tmp_path / "out"
    assert main(["translate", str(tiny_generator_ckpt), str(src), "-o", str(out), "--device", "cpu",
                 "--precision", "fp32", "--batch-size", "2"]) == 0
    tr = im2im_core.load(tiny_generator_ckpt, device="cpu", precision="fp32")
    for f in sorted(src.iterdir()):
        alone = tr.translate(iio.imread(f))
        got = iio.imread(out / f.name)
        assert got.shape == alone.shape and np.abs(got.astype(int) - alone).max() <= 1, f.name
    assert main(["translate", str(tiny_generator_ckpt), str(src), "-o", str(out), "--batch-size", "0"]) == 2


def test_a_4d_nifti_is_refused_and_a_trailing_singleton_axis_is_dropped(tmp_path, tiny_generator_ckpt, capsys):
    """Issue 40, item 5: a (32, 32, 4, 2) series was translated as 1,024 images of 4x2 pixels, exit 0."""
    import nibabel as nib

    from im2im_core.cli import main

    rng = np.random.default_rng(0)
    nib.save(nib.Nifti1Image(rng.random((32, 32, 4, 2)).astype(np.float32), np.eye(4)), tmp_path / "series.nii.gz")
    assert main(["translate", str(tiny_generator_ckpt), str(tmp_path / "series.nii.gz"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "4D NIfTI of shape (32, 32, 4, 2)" in err[0]
    assert not list((tmp_path / "o").glob("*")) if (tmp_path / "o").exists() else True
    nib.save(nib.Nifti1Image(rng.random((32, 32, 4, 1)).astype(np.float32), np.eye(4)), tmp_path / "one.nii.gz")
    assert main(["translate", str(tiny_generator_ckpt), str(tmp_path / "one.nii.gz"), "-o", str(tmp_path / "p")]) == 0
    assert nib.load(tmp_path / "p" / "one.nii.gz").shape == (32, 32, 4)


def test_reconstruct_and_export_bad_targets_are_one_line_errors(tmp_path, capsys):
    """Issue 40, item 8: a pickled --mask, float output to .png and -o under a file were raw tracebacks."""
    from im2im_core.mri.fft import fft2c_np

    img = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    np.save(tmp_path / "k.npy", fft2c_np(img.astype(np.complex64)))
    np.save(tmp_path / "m.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "afile").write_text("x")
    cases = [(["reconstruct", "mri_recon_1dgauss", str(tmp_path / "k.npy"), "--mask", str(tmp_path / "m.npy"), "-o",
               str(tmp_path / "r.tif")], "not a plain numpy array"),
             (["reconstruct", "mri_recon_1dgauss", str(tmp_path / "k.npy"), "-o", str(tmp_path / "x.png")],
              "PNG stores 8- or 16-bit"),
             (["export", "sr_x2_mri", "--format", "torchscript", "-o", str(tmp_path / "afile" / "x.pt")], "cannot write")]
    for args, match in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and match in err[0] and "Traceback" not in err[0], err
        assert not Path(args[-1]).exists()


def test_a_hole_mask_over_the_whole_image_is_an_input_error():
    from im2im_core.errors import InputError

    tr = im2im_core.load("inpaint_mri", device="cpu")
    with pytest.raises(InputError, match="covers the whole image"):
        tr.translate(np.random.default_rng(0).random((64, 64)).astype(np.float32), mask=np.ones((64, 64), bool))
