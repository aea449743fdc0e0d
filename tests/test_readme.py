"""Every code block in README.md and the docs pages that hold runnable steps (docs/training.md)
runs: Python blocks are executed, bash blocks line by line.

`bash scripts/test.sh` is the command running this very suite (CI calls it), so it is checked
to be the README's second set-up command rather than run recursively; `bash scripts/demo.sh`
runs with `--quick` so the suite stays fast.

Every number of the README's Results table, and the sentences around it and in Limits that quote
results, is checked against the committed results files in training/benchmarks/results/ (formatted
as the README prints it), and each benchmark's `--report` must reprint the table's numbers from
those files alone.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)
#: docs pages whose code blocks are steps a user runs (the benchmark pages' commands train for hours)
DOCS = ("docs/training.md",)
DOC_BLOCKS = [b for d in DOCS for b in re.findall(r"```(\w+)\n(.*?)```", (ROOT / d).read_text(), flags=re.S)]


def test_readme_opens_with_the_two_setup_commands():
    lang, first = BLOCKS[0]
    lines = [ln.split("#")[0].strip() for ln in first.strip().splitlines()]
    assert lang == "bash" and lines == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci


def _env():
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(ROOT)
    env.setdefault("OMP_NUM_THREADS", "2")
    return env


RUNNABLE = [b for b in BLOCKS[1:] + DOC_BLOCKS if b[0] in ("bash", "python")]


def test_the_docs_pages_have_blocks_to_run():
    assert DOC_BLOCKS and len(RUNNABLE) >= 4


@pytest.mark.parametrize("index", range(len(RUNNABLE)))
def test_readme_block_runs(index, tmp_path):
    lang, code = RUNNABLE[index]
    if lang == "python":
        res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                             timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
        return
    for line in code.strip().splitlines():
        cmd = line.split(" #")[0].strip()
        if not cmd or cmd.startswith("#"):
            continue
        cmd = cmd.replace("training/configs/", f"{ROOT}/training/configs/")
        res = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, f"{cmd}\n{res.stdout[-1500:]}\n{res.stderr[-3000:]}"


def test_demo_command_runs_quick(tmp_path):
    res = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh"), "--quick", "--out", str(tmp_path / "demo")],
                         cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "demo" / "demo.png").stat().st_size > 10_000
    table = (tmp_path / "demo" / "metrics.md").read_text()
    for name in ("mri_recon_1dgauss", "pix2pix_t1w_t2w", "attention_t1w_t2w", "inpaint_mri", "biharmonic", "sr_x2_mri"):
        assert name in table


def test_readme_is_short_and_links_resolve():
    """A README for users (<= 170 lines, the official-checkpoint table included); benchmark tables
    and training details live in docs/."""
    assert len(README.splitlines()) <= 170
    for target in re.findall(r"\]\(((?:docs/)[^)#]+)", README):
        assert (ROOT / target).exists(), target


# ---- the Results table against the committed results files -------------------------------------
RESULTS = ROOT / "training" / "benchmarks" / "results"


def _load(rel: str) -> dict:
    return json.loads((RESULTS / rel).read_text())


def _results_section() -> str:
    return README.split("\n## Results\n", 1)[1].split("\n## ", 1)[0]


def _results_rows() -> dict[str, list[str]]:
    """The Results table as {row key: cells}; the key is the task cell up to its first ',', ':' or ' ('."""
    lines = [ln for ln in _results_section().splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:4] == ["task", "shipped model", "ours", "strongest training-free baseline"], header
    rows = {}
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        rows[re.split(r",|:| \(", cells[0])[0].strip()] = cells
    return rows


def _numbers(cell: str, decimals_only: bool = False) -> list[str]:
    return re.findall(r"\d+\.\d+" if decimals_only else r"\d+(?:\.\d+)?", cell)


def _mri(name: str) -> dict:
    return _load(f"mri_translation/{name}.json")


def _ssim(r: dict, direction: str, key: str = "metrics") -> float:
    return r[key]["test"][direction]["ssim"]


def _rows_expected() -> dict:
    """Row key -> (files, model cell, [ours numbers], baseline name, [baseline numbers], [task-cell decimals]),
    each number formatted as the README prints it, from the committed results files."""
    unit, gqm = _mri("unit"), _mri("global_quantile_mapping")
    free = [_mri(n) for n in ("identity", "histogram_matching", "brain_histogram_matching", "global_quantile_mapping")]
    star = [v["ssim"] for v in _mri("stargan")["metrics_all"]["test"].values()]
    gqm_all = [v["ssim"] for v in gqm["metrics_all"]["test"].values()]
    out = {}
    for key, d in (("T1w→T2w", "T1w->T2w"), ("T2w→T1w", "T2w->T1w")):
        # the baseline named is the strongest training-free one in this direction
        assert max(free, key=lambda r: _ssim(r, d))["name"] == "global quantile mapping"
        out[key] = (["mri_translation/unit.json", "mri_translation/global_quantile_mapping.json"], "`unit_t1w_t2w`",
                    [f"{_ssim(unit, d):.3f}"], "global quantile mapping", [f"{_ssim(gqm, d):.3f}"], [])
    out["T1w/T2w/PD"] = (["mri_translation/stargan.json", "mri_translation/global_quantile_mapping.json"],
                         "`stargan_mri`", [f"{min(star):.3f}", f"{max(star):.3f}"], "",
                         [f"{min(gqm_all):.3f}", f"{max(gqm_all):.3f}"], [])
    recon = _load("reconstruction/recon_gaussian1d.json")
    r20 = next(r for r in recon["rows"] if r["mask"] == "gaussian1d 20%")
    out["CS-MRI"] = (["reconstruction/recon_gaussian1d.json"], "`mri_recon_1dgauss`",
                     [f"{r20['model']['psnr']:.2f}", f"{r20['model']['ssim']:.3f}"], "TV",
                     [f"{r20['TV']['psnr']:.2f}", f"{r20['TV']['ssim']:.3f}"], [])
    rows = _load("reconstruction/contrasts_gaussian1d.json")["rows"]
    phased = {r["contrast"]: r for r in rows if r["ratio"] == 0.2 and r["phase"] > 0}
    order = ("PD", "b0 EPI (T2w)", "FLAIR")
    out["CS-MRI on other contrasts"] = (["reconstruction/contrasts_gaussian1d.json"], "`mri_recon_1dgauss`",
                                        [f"{phased[c]['model']['psnr']:.2f}" for c in order], "TV",
                                        [f"{phased[c]['TV']['psnr']:.2f}" for c in order], [])
    rows = _load("reconstruction/contrasts_poisson2d.json")["rows"]
    phased = {r["contrast"]: r for r in rows if r["ratio"] == 0.2 and r["phase"] > 0}
    out["CS-MRI 2D on other contrasts"] = (["reconstruction/contrasts_poisson2d.json"], "`mri_recon_poisson2d`",
                                           [f"{phased[c]['model']['psnr']:.2f}" for c in order], "TV",
                                           [f"{phased[c]['TV']['psnr']:.2f}" for c in order], [])
    inp = {r["holes"]: r for r in _load("reconstruction/inpaint_mri_test.json")["rows"]}
    out["inpainting"] = (["reconstruction/inpaint_mri_test.json"], "`inpaint_mri`",
                         [f"{inp[h]['model']['psnr_hole']:.2f}" for h in ("10-20%", "20-40%")], "biharmonic",
                         [f"{inp[h]['biharmonic']['psnr_hole']:.2f}" for h in ("10-20%", "20-40%")], [])
    sr = {r["scale"]: r for r in _load("reconstruction/sr.json")["rows"]}
    out["super-resolution ×2 / ×4"] = (["reconstruction/sr.json"], "`sr_x2_mri`, `sr_x4_mri`",
                                       [f"{sr[s]['model']['psnr']:.2f}" for s in (2, 4)], "bicubic",
                                       [f"{sr[s]['bicubic']['psnr']:.2f}" for s in (2, 4)], [])
    lesion = _load("lesion_removal/identity.json")
    out["lesion removal"] = (["lesion_removal/identity.json"], "none", [], "identity",
                             [f"{lesion['metrics']['test']['ssim_mask']:.3f}"], [])
    att, strip = _load("skull_removal/attention_cycle_gan.json"), _load("skull_removal/classical_strip.json")
    out["skull removal"] = (["skull_removal/attention_cycle_gan.json", "skull_removal/classical_strip.json"],
                            "`skull_attention`", [f"{att['metrics']['test'][k]:.3f}" for k in ("dice", "residual")],
                            "classical strip", [f"{strip['metrics']['test'][k]:.3f}" for k in ("dice", "residual")],
                            [])
    text = _load("text_conditioning/shapes.json")
    out["text → image"] = (["text_conditioning/shapes.json"], "`gan_cls_shapes`",
                           [f"{text['gan_cls']['attribute_accuracy']:.3f}"], "", [],
                           [f"{text['ceiling']['mentioned']:.3f}"])
    # the unchanged input edits none of the edited attributes and keeps all the others: 0 / 1 by definition
    out["text-guided edit"] = (["text_conditioning/shapes.json"], "`sisgan_shapes`",
                               [f"{text['sisgan']['edited_accuracy']:.3f}", f"{text['sisgan']['kept_accuracy']:.3f}"],
                               "input unchanged", ["0", "1"], [])
    return out


def test_results_table_rows_all_have_results_files():
    rows, expected = _results_rows(), _rows_expected()
    assert set(rows) == set(expected)
    for files, *_ in expected.values():
        for f in files:
            assert (RESULTS / f).is_file(), f


@pytest.mark.parametrize("key", list(_results_rows()))
def test_results_table_numbers_match_committed_results(key):
    """Every number in a row's model and baseline cells (and any decimal in its task cell) is its
    results file's number, formatted as printed; editing one in the README fails here."""
    expected = _rows_expected()
    assert key in expected, f"README Results row {key!r} has no results file in this test"
    files, model, ours, baseline_name, baseline, task = expected[key]
    cells = _results_rows()[key]
    assert cells[1] == model, (key, files)
    assert _numbers(cells[2]) == ours, (key, files)
    assert _numbers(cells[3]) == baseline, (key, files)
    assert baseline_name in cells[3], (key, files)
    assert _numbers(cells[0], decimals_only=True) == task, (key, files)


def test_reports_reprint_the_readme_rows_from_the_committed_files(capsys):
    """Each benchmark's `--report` reads only the committed files and prints every decimal of its rows."""
    from training.benchmarks import lesion_removal, mri_translation, reconstruction, skull_removal, text_conditioning

    printed = {}
    for name, mod in (("mri_translation", mri_translation), ("reconstruction", reconstruction),
                      ("lesion_removal", lesion_removal), ("skull_removal", skull_removal),
                      ("text_conditioning", text_conditioning)):
        assert mod.main(["--report"]) == 0
        printed[name] = capsys.readouterr().out
    rows = _results_rows()
    for key, (files, *_rest) in _rows_expected().items():
        text = printed[files[0].split("/")[0]]
        for number in _numbers(rows[key][2] + " " + rows[key][3], decimals_only=True):
            assert number in text, (key, number)


def test_results_prose_matches_the_committed_results():
    """The sentences around the table and in Limits that quote results."""
    section = " ".join(_results_section().split())
    names = {"cycle_gan": "CycleGAN", "attention_cycle_gan": "attention CycleGAN", "unit": "UNIT", "munit": "MUNIT",
             "drit": "DRIT", "augmented_cycle_gan": "Augmented CycleGAN", "bicycle_gan": "BicycleGAN",
             "stargan": "StarGAN", "pix2pix": "pix2pix"}
    bhm = _mri("brain_histogram_matching")
    ds = ("T1w->T2w", "T2w->T1w")
    beat = re.search(r"The shipped T1w↔T2w (.*?) beat brain histogram matching \(([\d.]+) / ([\d.]+)\) both ways, but "
                     r"they equal their quantile prior q.*? Only paired pix2pix beats q, T1w→T2w \(([\d.]+) against "
                     r"([\d.]+)\); its T2w→T1w model \(([\d.]+)\) does not", section)
    assert beat, "the sentence on brain histogram matching and q"
    assert list(beat.groups()[1:3]) == [f"{_ssim(bhm, d):.3f}" for d in ds]
    p2p, q, old = _mri("pix2pix"), _mri("global_quantile_mapping"), _mri("pix2pix_no_prior")
    assert list(beat.groups()[3:]) == [f"{_ssim(p2p, ds[0]):.3f}", f"{_ssim(q, ds[0]):.3f}", f"{_ssim(old, ds[1]):.3f}"]
    assert _ssim(p2p, ds[0]) > _ssim(q, ds[0]) and _ssim(old, ds[1]) < _ssim(q, ds[1])
    named = [n.strip() for n in re.split(r",| and ", beat.group(1)) if n.strip()]
    winners = [names[f] for f in names if f != "pix2pix" and all(_ssim(_mri(f), d) > _ssim(bhm, d) for d in ds)]
    assert sorted(named) == sorted(winners)
    limits = " ".join(README.split("\n## Limits\n", 1)[1].split())
    text = _load("text_conditioning/shapes.json")
    g = re.search(r"GAN-CLS draws (\d+)% of the named attributes", limits)
    s = re.search(r"SisGAN makes (\d+)% of the asked edits .*?and keeps (\d+)%", limits)
    assert g and s, "the Limits sentence on the text models"
    assert g.group(1) == f"{100 * text['gan_cls']['attribute_accuracy']:.0f}"
    assert s.groups() == (f"{100 * text['sisgan']['edited_accuracy']:.0f}", f"{100 * text['sisgan']['kept_accuracy']:.0f}")
    # the training speed-up is the measured one docs/benchmarks.md reports (it writes 2.15–2.38x)
    speed = re.search(r"default training step \(.*?\) is ([\d.]+–[\d.]+)× fp32 eager", limits)
    assert speed, "the Limits sentence on the training speed"
    assert f"{speed.group(1)}x fp32 eager" in " ".join((ROOT / "docs" / "benchmarks.md").read_text().split())


def test_readme_names_the_plugin_menu_as_napari_shows_it():
    """napari lists the docks under the manifest's display name."""
    import yaml

    shown = yaml.safe_load((ROOT / "napari_im2im" / "napari.yaml").read_text())["display_name"]
    menus = re.findall(r"Plugins > ([\w-]+)", README)
    assert menus and set(menus) == {shown}, (menus, shown)
