"""junyanz/pytorch-CycleGAN-and-pix2pix generators (`latest_net_G*.pth`) into the `generator` family.

The architecture (ResNet or U-Net, depth, width, norm, dropout) is inferred from the state_dict keys.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..checkpoint import check_buildable
from ..errors import CheckpointError
from ..intensity import Intensity
from ..nets import GeneratorConfig

FOREIGN_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")
#: junyanz preprocessing: RGB (x/255 - 0.5)/0.5, output (y+1)/2*255
JUNYANZ_INTENSITY = Intensity(mode="fixed", low=0.0, high=255.0)


def _unwrap(obj) -> dict:
    import torch

    for key in ("state_dict", "model", "netG", "generator"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError("the file holds no state_dict of tensors")
    if not all(isinstance(k, str) for k in obj):
        raise CheckpointError("the file's state_dict has keys that are not names (e.g. "
                              f"{next(k for k in obj if not isinstance(k, str))!r}); a state_dict maps parameter names to tensors")
    return {re.sub(r"^module\.", "", k): v for k, v in obj.items()}


FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
INT_DTYPES = ("int64", "int32", "int16", "int8", "uint8")  # buffers such as BatchNorm's num_batches_tracked


def real_tensors(sd: dict, name: str) -> dict:
    """`sd` if every tensor is a dense float tensor (or integer buffer) whose values the file really holds. A stride-0
    expansion, a meta, sparse, quantized or float8 tensor claims values it does not store: building
    a model for its shape is how a 7 KB file makes us allocate gigabytes."""
    import torch

    for k, v in sd.items():
        kind = str(v.dtype).replace("torch.", "")
        if v.layout != torch.strided or v.is_meta or v.is_quantized or kind not in FLOAT_DTYPES + INT_DTYPES:
            what = "meta" if v.is_meta else kind if v.layout == torch.strided else str(v.layout).replace("torch.", "")
            raise CheckpointError(f"{name}: tensor {k!r} is {what}; only dense float tensors "
                                  f"({', '.join(FLOAT_DTYPES)}) and integer buffers are weights")
        held = v.untyped_storage().nbytes() // max(v.element_size(), 1)
        if v.numel() > held:
            raise CheckpointError(f"{name}: tensor {k!r} claims {v.numel():,} values of shape {tuple(v.shape)} but its "
                                  f"file holds {held:,} (a stride-0 or overlapping view); refusing it")
    return sd


def infer_generator(sd: dict) -> tuple[GeneratorConfig, int, int]:
    """(config, in_channels, out_channels) of a junyanz generator from its keys and shapes."""
    if "model.model.0.weight" in sd:
        return _infer_unet(sd)
    if "model.1.weight" in sd and sd["model.1.weight"].ndim == 4 and sd["model.1.weight"].shape[-1] == 7:
        return _infer_resnet(sd)
    sample = ", ".join(list(sd)[:4])
    raise CheckpointError(
        "cannot infer the generator architecture: expected junyanz ResnetGenerator keys "
        f"('model.1.weight' with a 7x7 kernel) or UnetGenerator keys ('model.model.0.weight'); found {sample} ...")


def _norm_kind(sd: dict, norm_key: str, conv_key: str) -> str:
    if f"{norm_key}.weight" in sd:
        return "batch"
    return "instance" if f"{conv_key}.bias" in sd else "none"


def _infer_resnet(sd):
    blocks = sorted({int(m.group(1)) for k in sd if (m := re.match(r"model\.(\d+)\.conv_block\.", k))})
    if not blocks:
        raise CheckpointError("ResNet generator keys found but no residual blocks (model.N.conv_block.*)")
    second_conv = sd.get(f"model.{blocks[0]}.conv_block.5.weight")
    dropout = second_conv is None or second_conv.ndim != 4  # with Dropout at 4 the conv moves to 6
    last = max(int(m.group(1)) for k in sd if (m := re.match(r"model\.(\d+)\.weight", k)))
    w_in, w_out = sd["model.1.weight"], sd[f"model.{last}.weight"]
    norm = _norm_kind(sd, "model.2", "model.1")
    cfg = GeneratorConfig(arch="resnet", n_blocks=len(blocks), ngf=w_in.shape[0], norm=norm, dropout=dropout)
    return cfg, w_in.shape[1], w_out.shape[0]


def _infer_unet(sd):
    # level k >= 1 lives under model.model.1 followed by (k-1) times ".model.3" (its submodule slot)
    levels = [1 + m.group(1).count(".model.3") for k in sd
              if (m := re.match(r"model\.model\.1((?:\.model\.3)*)\.model\.\d+\.", k))]
    depth = max(levels, default=0) + 1
    w_in = sd["model.model.0.weight"]
    ups = [k for k in sd if re.fullmatch(r"model\.model\.\d+\.weight", k) and k != "model.model.0.weight"]
    if not ups:
        raise CheckpointError("U-Net keys found but not the outermost up-convolution (model.model.N.weight)")
    w_out = sd[ups[0]]
    norm = _norm_kind(sd, "model.model.1.model.2", "model.model.1.model.1")
    cfg = GeneratorConfig(arch="unet", num_downs=depth, ngf=w_in.shape[0], norm=norm)
    return cfg, w_in.shape[1], w_out.shape[1]


def load_junyanz(obj, path, device="cpu", generator: GeneratorConfig | None = None, dropout_at_test: bool = False):
    """Build a `generator`-family model from a loaded junyanz state_dict; returns (model, metadata)."""
    import torch

    from ..errors import ConfigError
    from ..models._sizes import check_sizes
    from ..models.generator import GeneratorOnly, GeneratorOnlyConfig

    sd = real_tensors(_unwrap(obj), Path(path).name)
    sd = {k: v for k, v in sd.items() if not re.search(r"(running_mean|running_var|num_batches_tracked)$", k)
          or k.rsplit(".", 1)[0] + ".weight" in sd}  # stale InstanceNorm buffers from old torch
    inferred, cin, cout = infer_generator(sd)
    if generator is not None:
        inferred = generator
    cfg = GeneratorOnlyConfig(in_channels=cin, out_channels=cout, generator=inferred, dropout_at_test=dropout_at_test)
    try:  # 200k residual-block keys must not make us build 200k blocks
        check_sizes(cfg, f"[{Path(path).name}]")
    except ConfigError as exc:
        raise CheckpointError(f"{Path(path).name}: the inferred generator is out of range ({exc})") from None
    check_buildable(cfg, {k: tuple(v.shape) for k, v in sd.items()}, 0, Path(path).name)
    model = GeneratorOnly(cfg)
    try:
        missing, unexpected = model.netG.load_state_dict(sd, strict=False)
    except RuntimeError as exc:
        raise CheckpointError(f"{Path(path).name}: tensor shapes do not match the inferred {inferred.arch} generator "
                              f"({str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else exc})") from None
    if missing or unexpected:
        raise CheckpointError(
            f"{Path(path).name}: keys do not match the inferred {inferred.arch} generator "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]}); pass the architecture explicitly")
    meta = {"family": "generator", "domains": list(cfg.domains), "config": model.config_dict(),
            "intensity": JUNYANZ_INTENSITY, "provenance": {"imported_from": str(Path(path).name),
                                                          "source": "pytorch-CycleGAN-and-pix2pix state_dict"}}
    with torch.no_grad():
        model.to(device).eval()
    return model, meta
