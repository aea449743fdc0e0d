"""`im2im`: translate files and folders, inspect and export checkpoints, train, run the demo.

Imports stay inside the commands so `im2im --help` answers instantly. Bad input prints one
line and exits non-zero; `--debug` shows the traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _translate(args) -> int:
    from tqdm import tqdm

    from .errors import InputError
    from .inference import load
    from .io import list_images, read_image

    zarrs = [Path(p) for p in args.inputs if _is_zarr_dir(Path(p))]
    if zarrs:
        return _translate_zarrs(args, zarrs)
    files = list_images(args.inputs)
    tr = load(args.checkpoint, device=args.device, precision=args.precision, **_official_config(args))
    out_dir = Path(args.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"-o {out_dir} is a file; -o names the output folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder {out_dir}: {exc.strerror or exc}") from None
    opts = dict(direction=args.direction, overlap=args.overlap, norm_stats=args.norm_stats)
    if args.tile is not None:
        opts["tile"] = args.tile
    opts.update(_family_options(args, read_image))
    many = "n_samples" in opts
    failed = []
    bar = tqdm(total=len(files), desc="images", unit="img", disable=len(files) < 2)
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {args.batch_size}")
    for group in _groups(files, read_image, 1 if many else args.batch_size, failed):
        if len(group) > 1:
            try:
                _translate_group(group, tr, args, opts, out_dir)
                bar.update(len(group))
                continue
            except InputError:
                pass  # one bad file spoils the batch: go file by file to name it
        for path, img in group:
            try:
                _translate_one(path, img, tr, args, opts, many, out_dir)
            except InputError as exc:
                if len(files) == 1:
                    raise
                failed.append(path)  # a folder run goes on: one line per bad file, a summary at the end
                bar.write(f"im2im: error: {exc}", file=sys.stderr)  # on its own line, not glued to the bar
            bar.update(1)
    bar.close()
    if failed:
        print(f"im2im: {len(failed)} of {len(files)} files failed: {', '.join(p.name for p in failed)}",
              file=sys.stderr)
        return 2
    return 0


def _is_zarr_dir(path: Path) -> bool:
    return path.is_dir() and (path.suffix == ".zarr" or (path / "zarr.json").is_file() or (path / ".zattrs").is_file())


def _translate_zarrs(args, zarrs: list[Path]) -> int:
    """OME-Zarr inputs, streamed band by band into OME-Zarr outputs (im2im_core.chunked):
    `-o out.zarr` for one input, else `-o FOLDER` gets one output per input, named as it."""
    from tqdm import tqdm

    from .chunked import translate_zarr
    from .errors import InputError
    from .inference import load

    if len(zarrs) != len(args.inputs):
        raise InputError("OME-Zarr inputs cannot be mixed with image files in one call")
    out = Path(args.output)
    if out.suffix == ".zarr" and len(zarrs) > 1:
        raise InputError(f"-o {out} names one OME-Zarr output, but {len(zarrs)} inputs were given; use a folder")
    tr = load(args.checkpoint, device=args.device, precision=args.precision, **_official_config(args))
    for src in zarrs:
        dst = out if out.suffix == ".zarr" else out / src.name
        if dst.resolve() == src.resolve():
            raise InputError(f"output {dst} would overwrite the input; choose another -o")
        dst.parent.mkdir(parents=True, exist_ok=True)
        with tqdm(total=1, desc=src.name, unit="layer", leave=False) as bar:
            def progress(done, total, bar=bar):
                bar.total = total
                bar.n = done
                bar.refresh()
            translate_zarr(tr, src, dst, args.direction, progress=progress, overwrite=True)
        print(dst)
    return 0


def _spatial_nifti(img, path):
    """A NIfTI's data with trailing length-1 axes (time, ...) dropped; more than three spatial axes
    are refused: translating a (X, Y, Z, T) series as 2D images would slice it along the wrong axes."""
    from dataclasses import replace

    from .errors import InputError

    d = img.data
    if img.format != "nifti" or d.ndim <= 3:
        return img
    while d.ndim > 3 and d.shape[-1] == 1:
        d = d[..., 0]
    if d.ndim > 3:
        raise InputError(f"{path.name} is a {d.ndim}D NIfTI of shape {d.shape}: translate one 3D volume at a time "
                         "(for example split the series along its 4th axis)")
    return replace(img, data=d)


def _groups(files, read_image, size: int, failed: list):
    """Lists of (path, image) to translate together: up to `size` consecutive files of one shape,
    dtype and 2D format (a NIfTI volume, or any file alone in its shape, goes on its own). Files
    that cannot be read are reported and skipped here."""
    from tqdm import tqdm

    from .errors import InputError

    pending: list = []
    for i, path in enumerate(files):
        try:
            img = _spatial_nifti(read_image(path), path)
        except InputError as exc:
            if len(files) == 1:
                raise
            failed.append(path)
            tqdm.write(f"im2im: error: {exc}", file=sys.stderr)
            continue
        d = img.data
        plain_2d = img.format != "nifti" and (d.ndim == 2 or (d.ndim == 3 and d.shape[-1] in (3, 4)))
        key = (d.shape, d.dtype, img.format) if plain_2d else (i,)  # stacks and volumes go alone
        if pending and (key != pending[0][2] or len(pending) >= size):
            yield [(p, m) for p, m, _ in pending]
            pending = []
        pending.append((path, img, key))
    if pending:
        yield [(p, m) for p, m, _ in pending]


def _translate_group(group, tr, args, opts, out_dir) -> None:
    """Same-shaped 2D images in one call (batched on the model), each with its own intensity window."""
    import numpy as np

    from .layout import validate_image

    stack = np.stack([validate_image(img.data) for _, img in group])
    spacing = tuple(args.spacing) if args.spacing else None
    out = tr.translate(stack, spacing=spacing, resample=not args.no_resample, window="slice",
                       batch_size=len(group), **opts)
    if isinstance(out, dict):
        out = out["image"]
    for (path, img), o in zip(group, out):
        _write_outputs(path, img, o, args, False, out_dir)


def _translate_one(path, img, tr, args, opts, many, out_dir) -> None:
    """Translate one input file and write its output(s) into out_dir."""
    from tqdm import tqdm

    from .layout import validate_image
    from .io import volume_to_slices

    data = img.data
    spacing = tuple(args.spacing) if args.spacing else None
    if img.format == "nifti" and data.ndim == 3:
        data = volume_to_slices(data, args.slice_axis)
        if spacing is None:  # slices are (rows, cols) = (second, first) of the two other axes
            u, v = (i for i in range(3) if i != args.slice_axis)
            zooms = img.meta.get("zooms") or (1.0, 1.0, 1.0)
            spacing = (zooms[v], zooms[u])
    validate_image(data)  # before the progress bar, so a bad file prints one clean line
    with tqdm(total=1, desc=path.name, unit="tile", leave=False) as bar:
        def progress(done, total, bar=bar):
            bar.total = total
            bar.n = done
            bar.refresh()

        out = tr.translate(data, progress=progress, spacing=spacing, resample=not args.no_resample, **opts)
    if isinstance(out, dict):
        out = out["image"]
    _write_outputs(path, img, out, args, many, out_dir)


def _write_outputs(path, img, out, args, many, out_dir) -> None:
    """Write one input's output(s) next to each other in out_dir, named as the input."""
    import numpy as np

    from .errors import InputError
    from .io import slices_to_volume, suffix, write_image

    stem, ext = path.name[: -len(suffix(path))], suffix(path)
    outs = [(f"{stem}_sample{k}{ext}", o) for k, o in enumerate(out)] if many else [(stem + ext, out)]
    for name, o in outs:
        if img.format == "nifti" and img.data.ndim == 3:
            o = slices_to_volume(o, args.slice_axis)
        target = out_dir / name
        if target.resolve() == path.resolve():
            raise SystemExit(f"im2im: error: output {target} would overwrite the input; choose another -o")
        try:
            write_image(target, np.asarray(o), like=img)
        except OSError as exc:  # read-only folder, disk full: write_image leaves no partial file
            raise InputError(f"cannot write {target}: {exc.strerror or exc}") from None
        print(target)


def _family_options(args, read_image) -> dict:
    """--target / --n-samples / --seed / --style-from / --member as Translator options (only those given; a
    family that does not take one answers with an error naming it)."""
    from .errors import InputError

    opts = {}
    if args.target is not None:  # a domain name, or an attribute vector such as 1,0,0,1,0 (official StarGAN)
        parts = args.target.split(",")
        numeric = len(parts) > 1 and all(p.strip().replace(".", "", 1).isdigit() for p in parts)
        opts["target"] = [float(p) for p in parts] if numeric else args.target
    if args.n_samples is not None:
        if args.n_samples < 1:
            raise InputError(f"--n-samples must be >= 1, got {args.n_samples}")
        opts["n_samples"] = args.n_samples
    if args.seed is not None:
        opts["seed"] = args.seed
    if args.style_from is not None:
        ref = Path(args.style_from)
        if not ref.is_file():
            raise InputError(f"--style-from {ref}: no such file")
        opts["style_from"] = read_image(ref).data
    if args.member is not None:
        opts["member"] = args.member
    if args.text is not None:
        opts["text"] = args.text
    return opts


def _info(args) -> int:
    import json

    from .checkpoint import read_metadata
    from .inference import resolve_checkpoint

    path = resolve_checkpoint(args.checkpoint)
    if path.suffix == ".safetensors":
        meta = read_metadata(path)
    else:
        from .inference import load

        meta = load(path, device="cpu").meta
        meta["intensity"] = vars(meta["intensity"])
    print(f"file:       {path}")
    print(f"family:     {meta['family']}")
    print(f"domains:    {' -> '.join(meta['domains'])}")
    print(f"intensity:  {json.dumps(meta['intensity'])}")
    if meta["family"] == "mri_recon":
        from .mri.envelope import describe

        print(f"expects:    {describe(meta['config'], meta.get('provenance'))}")
    print(f"provenance: {json.dumps(meta.get('provenance', {}), indent=2)}")
    print(f"config:     {json.dumps(meta['config'], indent=2)}")
    return 0


def _models(args) -> int:
    from .checkpoint import read_metadata
    from .inference import shipped_models
    from .models import list_models

    print("registered families:")
    for name in list_models():
        print(f"  {name}")
    shipped = shipped_models()
    print("shipped checkpoints:" if shipped else "shipped checkpoints: none")
    for name, path in shipped.items():
        meta = read_metadata(path)
        prov = meta.get("provenance", {})
        size = path.stat().st_size / 1e6
        print(f"  {name}  [{meta['family']}, {' -> '.join(meta['domains'])}, {size:.1f} MB]")
        if prov.get("metrics"):
            print(f"      metrics: {prov['metrics']}")
        if prov.get("command"):
            print(f"      reproduce: {prov['command']}")
    return 0


def _export(args) -> int:
    if args.format == "official":
        from .foreign import export_official

        print(export_official(args.checkpoint, args.output))
        return 0
    if args.format == "bioimageio":
        from .bmz import export_bioimageio

        out = export_bioimageio(args.checkpoint, args.output, direction=args.direction, sample=args.sample,
                                mask=args.sample_mask)
        print(out)
        return 0
    from .export import export

    out = export(args.checkpoint, args.output, fmt=args.format, direction=args.direction, size=args.size)
    print(out)
    return 0


def _official_config(args) -> dict:
    """{'config': ...} when --config names an official checkpoint's YAML (im2im_core.foreign), else {}."""
    return {"config": args.config} if getattr(args, "config", None) else {}


def _import(args) -> int:
    import yaml

    from .errors import ConfigError
    from .foreign import import_checkpoint, read_config

    config = args.config
    if args.set:
        config = read_config(config)
        for item in args.set:
            key, eq, value = item.partition("=")
            if not eq or not key:
                raise ConfigError(f"--set takes KEY=VALUE, got {item!r}")
            config[key] = yaml.safe_load(value)
    print(import_checkpoint(args.checkpoint, args.output, config=config))
    return 0


def _train(args) -> int:
    from .engine.factory import train_from_config

    train_from_config(args.config, args.overrides)
    return 0


SAMPLES = ("mni_t1", "mni_t2", "mni_pd", "camera")


def _sample(args) -> int:
    import numpy as np

    from .errors import InputError
    from .io import ImageFile, suffix, write_image

    if args.name == "camera":
        from skimage import data

        if suffix(args.output) not in (".png", ".tif", ".tiff"):
            raise InputError("camera is a 2D image: write it as .png or .tif")
        print(write_image(args.output, data.camera()))
        return 0
    from .data import mni

    if suffix(args.output) not in (".nii", ".nii.gz"):
        raise InputError(f"{args.name} is a volume: write it as .nii or .nii.gz")
    tis = mni.load_mni_tissues()
    contrast = {"mni_t1": "T1w", "mni_t2": "T2w", "mni_pd": "PD"}[args.name]
    vol = (mni.synthesize_contrast(tis, contrast) * 1000).astype(np.int16)  # like a scanner's integer output
    print(write_image(args.output, vol, like=ImageFile(vol, "nifti", {"affine": tis["affine"], "header": None})))
    return 0


def _reconstruct(args) -> int:
    """Measured single-coil k-space (.npy / .h5) -> magnitude image(s) in the k-space's scale."""
    import numpy as np

    from .inference import load
    from .io import suffix, write_image
    from .mri.kspace import read_kspace, read_npy, reconstruct_kspace

    kspace, mask = read_kspace(args.kspace)
    if args.mask:
        mask = read_npy(args.mask)
    tr = load(args.checkpoint, device=args.device, precision="fp32")
    out = reconstruct_kspace(tr, kspace, mask, data_consistency=not args.no_dc, ensemble=not args.no_ensemble)
    if suffix(args.output) in (".nii", ".nii.gz") and out.ndim == 3:
        out = np.ascontiguousarray(np.moveaxis(out, 0, -1))  # NIfTI: slices on the third axis
    print(write_image(args.output, out))
    return 0


def _generate(args) -> int:
    """Caption -> K images written as OUTPUT (or OUTPUT_0..K-1)."""
    import numpy as np

    from .inference import load
    from .io import write_image

    out = Path(args.output)
    imgs = load(args.checkpoint, device=args.device).generate(args.text, args.n_samples, args.seed)
    imgs = (np.clip(imgs, 0, 1) * 255).round().astype(np.uint8) if out.suffix.lower() in (".png", ".jpg") else imgs
    names = [out] if len(imgs) == 1 else [out.with_name(f"{out.stem}_{k}{out.suffix}") for k in range(len(imgs))]
    for name, img in zip(names, imgs):
        print(write_image(name, img))
    return 0


def _demo(args) -> int:
    from .demo import run_demo

    run_demo(out_dir=args.out, quick=args.quick)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="im2im", description="GAN image-to-image translation, MRI reconstruction "
                                "and inpainting (napari-im2im).")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("translate", help="translate image files or folders with a checkpoint")
    t.add_argument("checkpoint", help="our .safetensors, a shipped model name, or a foreign .pth")
    t.add_argument("inputs", nargs="+", help="image files or folders (PNG/JPEG/TIFF/NIfTI)")
    t.add_argument("-o", "--output", required=True, help="output folder (same file names and formats)")
    t.add_argument("--direction", default=None, help="AtoB, BtoA or domain names such as T1w->T2w")
    t.add_argument("--tile", type=int, default=None,
                   help="largest side run in one pass; larger images are streamed (default 1024)")
    t.add_argument("--overlap", type=int, default=32, help="tile overlap in pixels")
    t.add_argument("--norm-stats", default="exact", choices=("thumbnail", "exact"),
                   help="instance-norm statistics for tiled images")
    t.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    t.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp16", "fp32"))
    t.add_argument("--slice-axis", type=int, default=2, choices=(0, 1, 2), help="NIfTI volumes are translated slice by slice along this axis")
    t.add_argument("--spacing", type=float, nargs=2, default=None, metavar=("Y", "X"),
                   help="pixel size of the inputs in mm (NIfTI volumes: read from the header); models that "
                        "record their training pixel size resample to it and back")
    t.add_argument("--no-resample", action="store_true", help="never resample to the model's pixel size")
    t.add_argument("--target", default=None, help="multi-domain models (stargan): the target domain name, or an "
                                                  "attribute vector such as 1,0,0,1,0 (official StarGAN models)")
    t.add_argument("--n-samples", type=int, default=None,
                   help="multimodal models (munit): write K outputs per input, NAME_sample0..K-1")
    t.add_argument("--batch-size", type=int, default=8,
                   help="same-sized 2D images translated together (each keeps its own intensity window)")
    t.add_argument("--seed", type=int, default=None, help="multimodal models: seed of the random styles")
    t.add_argument("--style-from", default=None, help="multimodal models: take the style from this reference image")
    t.add_argument("--member", type=int, default=None, help="council_gan: the council member that translates")
    t.add_argument("--text", default=None, help="text-conditioned models (sisgan): the caption the output should match")
    t.add_argument("--config", default=None, help="an official checkpoint's YAML/JSON config, where it needs one "
                                                  "(see im2im import)")
    t.set_defaults(func=_translate)

    g = sub.add_parser("generate", help="make images from a caption with a text-to-image model (gan_cls)")
    g.add_argument("checkpoint", help="our .safetensors or a shipped model name")
    g.add_argument("text", help='the caption, e.g. "a small red circle at the top left on a black background"')
    g.add_argument("-o", "--output", required=True, help="output file (.png, .tif); K > 1 samples get _0.._K-1")
    g.add_argument("--n-samples", type=int, default=1)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    g.set_defaults(func=_generate)

    i = sub.add_parser("info", help="print family, domains, config and provenance of a checkpoint")
    i.add_argument("checkpoint")
    i.set_defaults(func=_info)

    m = sub.add_parser("models", help="list registered families and shipped checkpoints")
    m.set_defaults(func=_models)

    e = sub.add_parser("export", help="export a checkpoint to TorchScript, torch.export, ONNX, a BioImage Model "
                                      "Zoo package or safetensors")
    e.add_argument("checkpoint")
    e.add_argument("-o", "--output", required=True)
    e.add_argument("--format", default="torchscript",
                   choices=("torchscript", "export", "onnx", "bioimageio", "safetensors", "official"),
                   help="official: the official repository's own checkpoint format (imported models and "
                        "models trained with the official architecture)")
    e.add_argument("--direction", default=None)
    e.add_argument("--size", type=int, default=256, help="example input side used for tracing")
    e.add_argument("--sample", default=None, help="bioimageio: the package's test image (default: a whole slice "
                                                  "or image of the input domain made offline)")
    e.add_argument("--sample-mask", default=None, help="bioimageio, for a model that takes a mask (inpaint, an "
                                                       "mri_recon cascade): the test image's mask (default: one "
                                                       "made as in training)")
    e.set_defaults(func=_export)

    im = sub.add_parser("import", help="convert an official checkpoint (MUNIT, StarGAN, BicycleGAN, DRIT, "
                                       "Council-GAN, AttentionGAN, DeepFill v2, junyanz) into ours")
    im.add_argument("checkpoint", help="the official .pt/.pth/.ckpt file")
    im.add_argument("-o", "--output", required=True, help="our .safetensors to write")
    im.add_argument("--config", default=None, help="the official YAML/JSON config, where the format needs one")
    im.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="an official option value (e.g. c_dim=5, encoder=latest_net_E.pth); repeatable")
    im.set_defaults(func=_import)

    r = sub.add_parser("reconstruct", help="reconstruct measured single-coil k-space with an mri_recon model")
    r.add_argument("checkpoint", help="an mri_recon model: a shipped name or our .safetensors")
    r.add_argument("kspace", help="complex .npy ((H, W) or (slices, H, W)) or .h5 with a 'kspace' dataset")
    r.add_argument("-o", "--output", required=True, help="magnitude image file: .tif or .nii(.gz)")
    r.add_argument("--mask", default=None, help="sampling mask .npy (default: the file's 'mask', else non-zero samples)")
    r.add_argument("--no-dc", action="store_true", help="skip the final data-consistency step")
    r.add_argument("--no-ensemble", action="store_true",
                   help="one pass of a cascade instead of the mean over its orientations (4 or 8 times faster)")
    r.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    r.set_defaults(func=_reconstruct)

    tr = sub.add_parser("train", help="train a model from a YAML config (key=value overrides)")
    tr.add_argument("config")
    tr.add_argument("overrides", nargs="*", help="e.g. train.iterations=500 model.lambda_cyc=5")
    tr.set_defaults(func=_train)

    sm = sub.add_parser("sample", help="write packaged sample data (MNI152 volumes, a photograph) to a file")
    sm.add_argument("name", choices=SAMPLES)
    sm.add_argument("-o", "--output", required=True, help=".nii.gz for volumes, .png/.tif for camera")
    sm.set_defaults(func=_sample)

    d = sub.add_parser("demo", help="run the end-to-end demo on shipped models and packaged data "
                       "(`python -m napari_im2im` shows it in napari)")
    d.add_argument("--out", default="im2im_demo_out", help="output folder for the figure and metrics")
    d.add_argument("--quick", action="store_true", help="fewer slices (for tests)")
    d.set_defaults(func=_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.debug:
        return args.func(args)
    from .errors import Im2ImError

    try:
        return args.func(args)
    except (Im2ImError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        print(f"im2im: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("im2im: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
