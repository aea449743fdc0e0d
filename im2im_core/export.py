"""Export a checkpoint for deployment: TorchScript, torch.export, ONNX, or our safetensors format.

The exported module maps a normalised (N, C, H, W) tensor in [-1, 1] to the translated tensor,
exactly what `Translator.forward_tensor` computes (fp32, untiled). Families that cannot translate
without a mask (see `mask_options`) export a module of two inputs, (image, mask); families
conditioned on a caption do not export (InputError): no format here carries text.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .errors import InputError

FORMAT_NAMES = {"torchscript": "TorchScript", "export": "torch.export", "onnx": "ONNX",
                "bioimageio": "BioImage Model Zoo"}


def mask_options(model) -> dict | None:
    """The translate options that an export's second input, "mask" ((N, 1, H, W), nonzero = on),
    stands for, or None when the export takes the image alone. Inpainting: mask = the holes. A
    data-consistency cascade (mri_recon with cascades): mask = the centred k-space sampling mask of
    an image that is already zero-filled, as a scanner gives it (translate's simulate=False)."""
    if model.family == "inpaint":
        return {}
    if model.family == "mri_recon" and model.config.cascades:
        return {"simulate": False}
    return None


class _WithMask(torch.nn.Module):
    """forward(x, mask): `inference_forward` with the mask and `mask_options`."""

    def __init__(self, model, direction: str, opts: dict):
        super().__init__()
        self.model, self.direction, self.opts = model, direction, opts

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = self.model.inference_forward(x, self.direction, mask=mask, **self.opts)
        return y["image"] if isinstance(y, dict) else y


def export_module(model, direction: str, fmt: str = "torchscript") -> torch.nn.Module:
    """The module the formats trace: x -> y, or (x, mask) -> y where `mask_options` asks for a mask.
    Raises InputError naming `fmt` for a model that format cannot carry."""
    if getattr(model, "captioned", False):
        raise InputError(f"{model.family} translates under a caption (text=...), which a {FORMAT_NAMES.get(fmt, fmt)} "
                         "export cannot carry (its inputs are image tensors); use the .safetensors checkpoint with "
                         "im2im or napari-im2im")
    opts = mask_options(model)
    if opts is None or model.family == "inpaint":  # inpaint's own export module takes (x, mask)
        return model.export_module(direction)
    return _WithMask(model, direction, opts)


def export(checkpoint, output, fmt: str = "torchscript", direction: str | None = None, size: int = 256,
           wrap=None) -> Path:
    """Write `output` and return its path; the file reproduces `translate` numerically.
    `wrap`: a function that wraps the exported module (the BioImage Model Zoo export's input snap)."""
    from .checkpoint import atomic_write, save
    from .inference import load

    tr = load(checkpoint, device="cpu", precision="fp32")
    model = tr.model.float().to(memory_format=torch.contiguous_format).eval()
    out = Path(output)
    if fmt == "safetensors":
        return save(out, model, tr.intensity, tr.meta.get("provenance"))
    if fmt not in ("torchscript", "export", "onnx"):
        raise InputError(f"export format {fmt!r} unknown; use torchscript, export, onnx or safetensors")
    direction = model.resolve_direction(direction)
    module = export_module(model, direction, fmt).eval()
    if wrap is not None:
        module = wrap(module).eval()
    mult = model.size_multiple()
    side = max(mult, size - size % mult)
    cin = model.channels(direction)[0]
    examples = (torch.zeros(1, cin, side, side).uniform_(-1, 1),)
    if mask_options(model) is not None:
        examples += ((torch.rand(1, 1, side, side) < 0.3).float(),)
    if fmt == "torchscript":
        with torch.no_grad():
            traced = torch.jit.trace(module, examples, check_trace=False)
        return atomic_write(out, lambda tmp: torch.jit.save(traced, tmp))
    if fmt == "export":
        dim = torch.export.Dim("side", min=mult, max=8192)
        try:
            ep = torch.export.export(module, examples, dynamic_shapes=tuple({2: dim, 3: dim} for _ in examples))
        except Exception:  # some layers only export at the traced size
            ep = torch.export.export(module, examples)
        return atomic_write(out, lambda tmp: torch.export.save(ep, tmp))
    return atomic_write(out, lambda tmp: _onnx(module, examples, tmp))


def _onnx(module, examples, path) -> None:
    """ONNX (opset 17) with free batch, height and width; inputs "image" (and "mask"), output "output"."""
    import warnings

    try:
        import onnx  # noqa: F401 - the exporter needs it
    except ImportError:
        raise InputError("ONNX export needs the onnx package: pip install 'napari-im2im[onnx]'") from None
    axes = {0: "batch", 2: "height", 3: "width"}
    names = ["image", "mask"][: len(examples)]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation and trace notes
        try:
            torch.onnx.export(module, examples, str(path), dynamo=False, opset_version=17, input_names=names,
                              output_names=["output"], dynamic_axes={n: axes for n in [*names, "output"]})
        except torch.onnx.errors.OnnxExporterError as exc:  # e.g. the k-space FFTs of a reconstruction cascade
            raise InputError(f"this model does not export to ONNX ({str(exc).splitlines()[0]})") from None
