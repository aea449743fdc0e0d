"""Export a checkpoint for deployment: TorchScript, torch.export, ONNX, or our safetensors format.

The exported module maps a normalised (N, C, H, W) tensor in [-1, 1] to the translated tensor,
exactly what `Translator.forward_tensor` computes (fp32, untiled).
"""
from __future__ import annotations

from pathlib import Path

import torch

from .errors import InputError


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
    direction = model.resolve_direction(direction)
    module = model.export_module(direction).eval()
    if wrap is not None:
        module = wrap(module).eval()
    mult = model.size_multiple()
    side = max(mult, size - size % mult)
    cin = model.channels(direction)[0]
    example = torch.zeros(1, cin, side, side).uniform_(-1, 1)
    if fmt == "torchscript":
        with torch.no_grad():
            traced = torch.jit.trace(module, example, check_trace=False)
        return atomic_write(out, lambda tmp: torch.jit.save(traced, tmp))
    if fmt == "export":
        dim = torch.export.Dim("side", min=mult, max=8192)
        try:
            ep = torch.export.export(module, (example,), dynamic_shapes=({2: dim, 3: dim},))
        except Exception:  # some layers only export at the traced size
            ep = torch.export.export(module, (example,))
        return atomic_write(out, lambda tmp: torch.export.save(ep, tmp))
    if fmt == "onnx":
        return atomic_write(out, lambda tmp: _onnx(module, example, tmp))
    raise InputError(f"export format {fmt!r} unknown; use torchscript, export, onnx or safetensors")


def _onnx(module, example, path) -> None:
    """ONNX (opset 17) with free batch, height and width; input "image", output "output"."""
    import warnings

    try:
        import onnx  # noqa: F401 - the exporter needs it
    except ImportError:
        raise InputError("ONNX export needs the onnx package: pip install 'napari-im2im[onnx]'") from None
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation and trace notes
        try:
            torch.onnx.export(module, (example,), str(path), dynamo=False, opset_version=17, input_names=["image"],
                              output_names=["output"], dynamic_axes={"image": axes, "output": axes})
        except torch.onnx.errors.OnnxExporterError as exc:
            raise InputError(f"this model does not export to ONNX ({exc})") from None
