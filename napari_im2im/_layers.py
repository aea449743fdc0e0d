"""Pure helpers shared by every widget: progress events, input checks, and output-layer kwargs.

No napari or Qt import here: a "layer" is read by duck typing (name, scale, translate,
axis_labels, units, rgb), so tests and scripts can pass plain dicts instead.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import os
import queue
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generator

import numpy as np

from im2im_core.errors import Cancelled, InputError

#: the key under which every output layer records where it came from
PROVENANCE_KEY = "im2im"


@dataclass
class Progress:
    """What the pure generators yield: `done` of `total` units, a message, optional extras."""

    done: int
    total: int
    message: str = ""
    extra: dict = field(default_factory=dict)


def layer_meta(layer) -> dict:
    """The spatial description of a napari layer (or a dict with the same keys)."""
    if isinstance(layer, dict):
        meta = dict(layer)
    else:
        meta = {"name": layer.name, "kind": layer.__class__.__name__.lower(),  # proxies report the layer class
                "scale": tuple(float(s) for s in layer.scale),
                "translate": tuple(float(t) for t in layer.translate),
                "axis_labels": tuple(str(a) for a in getattr(layer, "axis_labels", ()) or ()),
                "units": tuple(str(u) for u in getattr(layer, "units", ()) or ()),
                "rgb": bool(getattr(layer, "rgb", False)),
                "metadata": dict(getattr(layer, "metadata", {}) or {})}
        affine = getattr(layer, "affine", None)
        if affine is not None and not np.allclose(affine.affine_matrix, np.eye(affine.affine_matrix.shape[0])):
            meta["affine"] = np.asarray(affine.affine_matrix)  # a flip or rotation on top of scale/translate
    meta.setdefault("name", "image")
    meta.setdefault("kind", "image")
    meta.setdefault("rgb", False)
    return meta


def check_image(data, meta: dict) -> tuple[np.ndarray, dict]:
    """(pixels, completed meta), or an InputError naming why the layer cannot be used."""
    meta = layer_meta(meta)
    kind = meta["kind"]
    if kind != "image":
        raise InputError(f"layer {meta['name']!r} is a {kind} layer; choose an image layer")
    if data is None:
        raise InputError("no image layer selected")
    arr = np.asarray(data)
    if arr.size == 0:
        raise InputError(f"layer {meta['name']!r} is empty (shape {arr.shape})")
    spatial = arr.ndim - (1 if meta["rgb"] else 0)
    if spatial < 2 or spatial > 4:
        raise InputError(f"layer {meta['name']!r} has shape {arr.shape}: supported are 2D (Y,X), "
                         "3D (Z,Y,X) and 4D (T,Z,Y,X) images, RGB or not")
    if arr.dtype.kind not in "uifb":
        raise InputError(f"layer {meta['name']!r} has dtype {arr.dtype}; use an integer or float image")
    if spatial >= 3 and arr.shape[-1] <= 4 < 16 <= arr.shape[-2]:
        c = arr.shape[-1]
        raise InputError(f"layer {meta['name']!r} has shape {arr.shape}: its last axis ({c} entries) looks like "
                         f"channels, but napari shows it as images of {arr.shape[-2]} x {c} pixels. Split the "
                         "channels (right-click the layer > Split Stack, axis -1) and use each as its own layer"
                         + (", or open it as RGB" if c in (3, 4) else ""))
    n = spatial
    meta["scale"] = _fit(meta.get("scale"), n, 1.0)
    meta["translate"] = _fit(meta.get("translate"), n, 0.0)
    meta["axis_labels"] = _fit(meta.get("axis_labels"), n, "")
    meta["units"] = _fit(meta.get("units"), n, "pixel")
    return (arr.astype(np.uint8) if arr.dtype.kind == "b" else arr), meta


def _fit(values, n: int, fill) -> tuple:
    """Last n entries of `values`, left-padded with `fill`."""
    vals = tuple(values or ())[-n:]
    return (fill,) * (n - len(vals)) + vals


def output_kwargs(meta: dict, name: str, provenance: dict | None = None, *, lead: int = 0,
                  lead_label: str = "sample", **extra) -> dict:
    """kwargs for a new layer that lies where the input lies: scale, translate, axis labels
    and units copied; `lead` extra leading axes (K samples) get scale 1 and `lead_label`."""
    labels = tuple(meta["axis_labels"])
    kw: dict[str, Any] = {
        "name": name,
        "scale": (1.0,) * lead + tuple(meta["scale"]),
        "translate": (0.0,) * lead + tuple(meta["translate"]),
        "metadata": {PROVENANCE_KEY: dict(provenance or {}), "source_layer": meta["name"]},
    }
    if meta.get("affine") is not None and not lead:
        kw["affine"] = meta["affine"]
    if meta.get("metadata"):  # the input's own (a NIfTI affine, a sample's source), under the provenance
        kw["metadata"][PROVENANCE_KEY]["input_metadata"] = dict(meta["metadata"])
    if any(labels) or lead:  # a samples axis is named, not left as napari's "-3"
        default = [str(i) for i in range(-len(labels), 0)]
        kw["axis_labels"] = (lead_label,) * lead + tuple(l or d for l, d in zip(labels, default))
    if any(u not in ("", "pixel") for u in meta["units"]):
        kw["units"] = ("pixel",) * lead + tuple(meta["units"])
    kw.update(extra)
    return kw


def plane_kwargs(meta: dict, name: str, provenance: dict | None = None, **extra) -> dict:
    """kwargs for a 2D layer (e.g. a k-space mask) lying on the input's last two axes."""
    kw = output_kwargs(meta, name, provenance, **extra)
    for key in ("scale", "translate", "axis_labels", "units"):
        if key in kw:
            kw[key] = tuple(kw[key])[-2:]
    return kw


def _file_sha256(path: str, mtime: float, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_HASHES: dict[tuple, str] = {}


def file_hash(path) -> str:
    """sha256 of a checkpoint file (cached by path, mtime and size)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_mtime, st.st_size)
    if key not in _HASHES:
        _HASHES[key] = _file_sha256(str(p), st.st_mtime, st.st_size)
    return _HASHES[key]


def provenance(widget: str, model_info: dict | None, options: dict, seconds: float, **more) -> dict:
    """The record stored in every output layer's metadata."""
    from im2im_core import __version__

    rec = {"widget": widget, "options": {k: _plain(v) for k, v in options.items()},
           "seconds": round(float(seconds), 3), "library_version": __version__,
           "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    if model_info:
        rec.update({"checkpoint": model_info.get("name"), "checkpoint_path": model_info.get("path"),
                    "checkpoint_sha256": model_info.get("sha256"), "family": model_info.get("family")})
    rec.update(more)
    return rec


def _plain(v):
    if isinstance(v, np.ndarray):
        return f"array{tuple(v.shape)}"
    if isinstance(v, (np.generic,)):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def avoid_llvm_clash() -> None:
    """Keep torch from loading triton next to Mesa's LLVM (software OpenGL, e.g. napari under Xvfb).

    Creating any torch optimizer imports torch._dynamo, which imports triton; triton's bundled
    LLVM segfaults in its static initialisers when Mesa's libLLVM is already mapped (napari's
    canvas loads it). When that is the case and triton is not loaded yet, we mark it
    unavailable for this process; torch then runs without triton (CPU and eager CUDA are fine).
    """
    if "triton" in sys.modules:
        return
    try:
        with open("/proc/self/maps") as fh:
            mapped = "libLLVM" in fh.read()
    except OSError:
        return
    if mapped:
        sys.modules["triton"] = None  # `import triton` now raises ImportError: torch skips it
        logging.getLogger("napari_im2im").warning(
            "triton disabled in this process: Mesa's LLVM (software OpenGL) is loaded and triton's "
            "LLVM would crash next to it")


def background_priority() -> None:
    """Lower the calling thread's scheduling priority (Linux: threads are tasks with their own nice
    value), so that on a busy machine the GUI thread gets a core before a training or inference
    thread does. Elsewhere, or when not permitted, nothing changes."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + 10))
    except (AttributeError, OSError):
        pass


def check_cancel(cancel) -> None:
    """Raise Cancelled when the caller's Event (or callable) says stop."""
    if cancel is None:
        return
    if (cancel.is_set() if hasattr(cancel, "is_set") else cancel()):
        raise Cancelled("cancelled")


def stream(call: Callable[[Callable[[int, int], None]], Any], message: str,
           cancel=None) -> Generator[Progress, None, Any]:
    """Run a blocking library call that reports `progress(done, total)` and yield its progress.

    The call runs on a helper thread; its callbacks are forwarded as Progress events, so a
    single library call (one whole-volume normalisation, tiled inside) still streams per
    slice/tile. Exceptions come back here; cancellation goes through the library's `cancel`.
    """
    q: queue.SimpleQueue = queue.SimpleQueue()
    box: dict[str, Any] = {}

    def target():
        background_priority()
        try:
            box["result"] = call(lambda d, t: q.put((int(d), int(t), None)))
        except BaseException as exc:  # noqa: BLE001 - handed back to the generator's caller
            box["error"] = exc
        finally:
            q.put(None)

    th = threading.Thread(target=target, name=f"im2im-{message}", daemon=True)
    th.start()
    while True:
        item = q.get()
        if item is None:
            break
        d, t, _ = item
        yield Progress(d, t, message)
    th.join()
    if "error" in box:
        raise box["error"]
    check_cancel(cancel)  # Cancel during the last tile or slice still means no output
    return box["result"]
