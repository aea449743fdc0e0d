"""Qt pieces every dock widget shares: layer and model pickers, and a job runner.

The runner drives a pure generator in a napari thread worker, feeds its Progress events to a
progress bar, stops it through a threading.Event (Cancel acts within one tile/slice), turns
every failure into a one-line napari notification, and adds or replaces output layers by name.
"""
from __future__ import annotations

import gc
import logging
import threading
import time
import traceback
from pathlib import Path
from typing import Callable, Generator, Iterable

from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QFrame, QHBoxLayout, QLabel, QProgressBar,
                            QPushButton, QScrollArea, QSizePolicy, QSpinBox, QVBoxLayout, QWidget)

from im2im_core.errors import Cancelled, Im2ImError

from ._layers import PROVENANCE_KEY, Progress

log = logging.getLogger("napari_im2im")
SHOW_EVERY = 0.2  # s between progress bar / status line updates
MIN_FORM_HEIGHT = 120  # px: the scrolling part of a dock never shrinks below this


def notify(message: str, severity: str = "error") -> None:
    """A napari notification (error, warning or info) that never raises."""
    from napari.utils import notifications as n

    {"error": n.show_error, "warning": n.show_warning}.get(severity, n.show_info)(message)


def describe_error(exc: BaseException) -> str:
    """One line for the user: our errors carry their own message; others get their type."""
    if isinstance(exc, Im2ImError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return "out of memory: lower the tile size or use the CPU"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def if_alive(slot):
    """Worker slots may fire after napari closed the window: a deleted widget ignores them."""
    import functools

    @functools.wraps(slot)
    def wrapper(self, *args):
        try:
            return slot(self, *args)
        except RuntimeError as exc:
            if "has been deleted" not in str(exc):
                raise
            return None

    return wrapper


def _drive(gen: Generator) -> Generator:
    """Wrap a job so it never raises into napari: returns ("ok", result) or ("error", exc)."""
    try:
        result = yield from gen
    except Exception as exc:  # noqa: BLE001 - reported as a notification by the widget
        if not isinstance(exc, Im2ImError):
            log.error("napari-im2im job failed:\n%s", traceback.format_exc())
        return ("error", exc)
    return ("ok", result)


def add_or_replace(viewer, layer_data: Iterable[tuple]) -> list:
    """Add (data, kwargs, type) tuples as layers. A re-run finds its earlier output by name and by
    provenance (an im2im record in its metadata) and updates it in place, so the user's colormap,
    opacity, blending, visibility and, once changed by hand, contrast survive; a layer of that name
    that we did not make, or that cannot take the new data, is replaced at the same position."""
    from napari.layers import Layer

    out = []
    for data, kw, kind in layer_data:
        name = kw["name"]
        new = Layer.create(data, kw, kind)
        if name in viewer.layers:
            old = viewer.layers[name]
            # plugin widgets get napari's proxy viewer, whose layers are proxies: compare classes
            same = (old.__class__ is new.__class__ and old.ndim == new.ndim
                    and getattr(old, "rgb", False) == getattr(new, "rgb", False)
                    and PROVENANCE_KEY in (old.metadata or {}))
            if same:
                _update_in_place(old, new, kw)
                out.append(old)
                continue
            idx = viewer.layers.index(old)
            viewer.layers.remove(old)
            viewer.layers.insert(idx, new)
        else:
            viewer.add_layer(new)
        new.metadata = {**new.metadata, AUTO_CONTRAST: _limits(new)}
        out.append(new)
    return out


AUTO_CONTRAST = "im2im_auto_contrast"  # the contrast limits we set, to tell them from the user's


def _limits(layer):
    lim = getattr(layer, "contrast_limits", None)
    return None if lim is None or getattr(layer, "rgb", False) else [float(v) for v in lim]


def _update_in_place(old, new, kw: dict) -> None:
    """New data, geometry and provenance into `old`; display settings stay the user's."""
    user_contrast = _limits(old) != old.metadata.get(AUTO_CONTRAST)
    old.data = new.data
    for attr in ("scale", "translate", "axis_labels", "units"):
        setattr(old, attr, getattr(new, attr))
    if hasattr(new, "affine"):
        old.affine = new.affine
    if _limits(old) is not None and not user_contrast:
        if "contrast_limits" in kw:
            old.contrast_limits = kw["contrast_limits"]
        else:
            old.reset_contrast_limits()
    old.metadata = {**new.metadata, AUTO_CONTRAST: None if user_contrast else _limits(old)}


class LayerCombo(QComboBox):
    """Layers of the given types, refreshed when layers are added, removed or renamed."""

    def __init__(self, viewer, types: tuple[str, ...] = ("image",), none_text: str | None = None, parent=None):
        super().__init__(parent)
        self.viewer, self.types, self.none_text = viewer, types, none_text
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)
        ev = viewer.layers.events
        for e in (ev.inserted, ev.removed, ev.moved):
            e.connect(self.refresh)
        self.refresh()

    def _names(self) -> list[str]:
        return [ly.name for ly in self.viewer.layers if ly.__class__.__name__.lower() in self.types]

    @if_alive
    def refresh(self, *_) -> None:
        current = self.currentText()
        names = ([self.none_text] if self.none_text else []) + self._names()[::-1]  # top layer first
        if names == [self.itemText(i) for i in range(self.count())]:
            return
        self.blockSignals(True)
        self.clear()
        self.addItems(names)
        if current in names:
            self.setCurrentText(current)
        self.blockSignals(False)
        if self.currentText() != current:
            self.currentIndexChanged.emit(self.currentIndex())

    def showPopup(self):  # names may have changed since the last event
        self.refresh()
        super().showPopup()

    def layer(self):
        name = self.currentText()
        if not name or name == self.none_text or name not in self.viewer.layers:
            return None
        return self.viewer.layers[name]

    def set_layer(self, layer) -> None:
        self.refresh()
        self.setCurrentText(layer.name if hasattr(layer, "name") else str(layer))


class ModelPicker(QWidget):
    """Shipped models by name (optionally only some families), a file picker for .safetensors or
    foreign .pth, and optionally a 'none' entry."""

    changed = Signal(object)  # the spec: a shipped name, a path string, or None

    def __init__(self, none_text: str | None = None, families=None, default: str | None = None, parent=None):
        super().__init__(parent)
        from ._models import shipped

        self.none_text = none_text
        self.combo = QComboBox()
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(14)
        if none_text:
            self.combo.addItem(none_text, None)
        for name, path in shipped(families).items():
            self.combo.addItem(name, name)
            self.combo.setItemData(self.combo.count() - 1, str(path), 3)  # tooltip
        if default is not None and self.combo.findData(default) >= 0:
            self.combo.setCurrentIndex(self.combo.findData(default))
        self.browse = QPushButton("File…")
        self.browse.setToolTip("Open a .safetensors checkpoint or a PyTorch .pth state_dict")
        self.browse.clicked.connect(self._browse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(self.browse)
        self.combo.currentIndexChanged.connect(lambda *_: self.changed.emit(self.spec()))

    def _browse(self) -> None:
        from ._models import CHECKPOINT_FILTER

        path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", str(Path.home()), CHECKPOINT_FILTER)
        if path:
            self.add_path(path)

    def add_path(self, path) -> None:
        """Add (once) and select a checkpoint file; `changed` fires exactly once."""
        path = str(path)
        idx = self.combo.findData(path)
        if idx < 0:
            self.combo.blockSignals(True)  # adding to an empty combo selects silently
            p = Path(path)  # trained runs all write model.safetensors: show the run folder too
            self.combo.addItem(f"{p.parent.name}/{p.name}" if p.name == "model.safetensors" else p.name, path)
            self.combo.blockSignals(False)
            idx = self.combo.count() - 1
            self.combo.setItemData(idx, path, 3)
        if idx == self.combo.currentIndex():
            self.changed.emit(self.spec())
        else:
            self.combo.setCurrentIndex(idx)

    def spec(self):
        return self.combo.currentData()


def device_combo() -> QComboBox:
    from ._models import DEVICES

    c = QComboBox()
    c.addItems(DEVICES)
    c.setToolTip("auto: the GPU when there is one, else the CPU")
    return c


def tile_spin(value: int = 512) -> QSpinBox:
    s = QSpinBox()
    s.setRange(64, 8192)
    s.setSingleStep(64)
    s.setValue(value)
    s.setSuffix(" px")
    s.setToolTip("Large images are processed in overlapping tiles of this size (lower it if memory runs out)")
    return s


class JobWidget(QWidget):
    """Base dock widget: a form on top, then Run / Cancel, a progress bar and a status line."""

    run_text = "Run"
    cancel_text = "cancelling…"  # the status line while the job winds down

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.worker = None
        self._cancel: threading.Event | None = None
        self.messages: list[tuple[str, str]] = []  # (severity, text) of every notification sent
        self.last_result = None
        self._queued = None  # (make_job, on_done, label) to run when the current job ends
        self._pending: Progress | None = None  # the newest progress event not shown yet
        self._shown_at = 0.0
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.timeout.connect(self._show_pending)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        # the form and the results scroll; Run / Cancel, progress and status stay in view below, so
        # the dock fits small screens (1366 x 768) and docks that share a column
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setMinimumHeight(MIN_FORM_HEIGHT)
        body = QWidget()
        inner = QVBoxLayout(body)
        inner.setContentsMargins(0, 0, 0, 0)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        inner.addLayout(self.form)
        self.extra = QVBoxLayout()
        inner.addLayout(self.extra)
        inner.addStretch(1)
        self.scroll.setWidget(body)
        outer.addWidget(self.scroll, 1)
        buttons = QHBoxLayout()
        self.run_button = QPushButton(self.run_text)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.run_button.clicked.connect(lambda: self.run())
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        outer.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel("ready")
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        outer.addWidget(self.progress)
        outer.addWidget(self.status)

    # ---- state ------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.worker is not None or self._queued is not None

    def say(self, text: str, severity: str = "info") -> None:
        self.messages.append((severity, text))
        self.status.setText(text)
        if severity in ("error", "warning"):
            notify(text, severity)

    def _set_busy(self, busy: bool) -> None:
        self.run_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    # ---- running ------------------------------------------------------------------------------
    def run(self) -> None:  # subclasses build a job and call start()
        raise NotImplementedError

    def start(self, make_job: Callable[[threading.Event], Generator], on_done: Callable[[object], None],
              label: str = "working", queue: bool = False) -> bool:
        """Run make_job(cancel_event) in a worker; on_done(result) on success.

        While busy: with `queue=True` (model loading) the job runs next, replacing any job
        queued before it; otherwise it is refused with a warning and False is returned.
        """
        if self.busy:
            if queue:
                self._queued = (make_job, on_done, label)
                return True
            self.say("busy: wait for the current job or cancel it", "warning")
            return False
        from napari.qt.threading import create_worker

        from ._layers import avoid_llvm_clash

        avoid_llvm_clash()
        gc.freeze()  # napari's and torch's long-lived objects leave the cyclic GC: no 100-350 ms full collections
        self._cancel = threading.Event()
        try:
            job = make_job(self._cancel)
        except Exception as exc:  # noqa: BLE001 - a bad option value, reported, never raised
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("failed")
            self.say(describe_error(exc), "error")
            return False
        self._on_done = on_done
        self._pending, self._shown_at = None, 0.0
        self.progress.setFormat("%p%")
        self.progress.setRange(0, 0)  # busy indicator until the first event
        self.status.setText(f"{label}…")
        self.worker = create_worker(_drive, job, _start_thread=False)
        self.worker.yielded.connect(self._on_progress)
        self.worker.returned.connect(self._on_returned)
        self.worker.finished.connect(self._on_finished)
        # a worker's warnings are otherwise dropped (or only logged): ours reach the status line and a notification
        self.worker.warned.connect(self._on_warned)
        self._set_busy(True)
        self.worker.start()
        return True

    def cancel(self) -> None:
        if self._cancel is not None and self.worker is not None:
            self._cancel.set()
            self.status.setText(self.cancel_text)

    @if_alive
    def _on_progress(self, ev) -> None:
        """Hand the event to `on_event`; the bar and the status line follow at most every
        SHOW_EVERY seconds (each repaint costs the GUI thread milliseconds; a fast job sends
        hundreds of events), and the last event always shows."""
        if not isinstance(ev, Progress):
            return
        self.on_event(ev)
        self._pending = ev
        if time.monotonic() - self._shown_at >= SHOW_EVERY or ev.done >= ev.total:
            self._show_pending()
        elif not self._flush.isActive():
            self._flush.start(int(SHOW_EVERY * 1000))

    @if_alive
    def _on_warned(self, args: tuple) -> None:
        """A warning raised in the worker (showwarning's arguments: message, category, ...)."""
        self.say(str(args[0]).splitlines()[0] if str(args[0]) else args[1].__name__, "warning")

    @if_alive
    def _show_pending(self) -> None:
        ev, self._pending = self._pending, None
        if ev is None:
            return
        self._shown_at = time.monotonic()
        total = max(int(ev.total), 1)
        self.progress.setRange(0, total)
        self.progress.setValue(min(int(ev.done), total))
        if ev.message:
            self.status.setText(f"{ev.message} ({ev.done}/{ev.total})" if ev.total > 1 else ev.message)

    def on_event(self, ev: Progress) -> None:
        """Hook for widgets that show more than a progress bar (e.g. a loss plot)."""

    @if_alive
    def _on_returned(self, value) -> None:
        self._flush.stop()
        self._show_pending()
        kind, payload = value
        if kind == "error":
            self.progress.setFormat("cancelled at %v / %m" if isinstance(payload, Cancelled) else "failed")
        if kind == "ok":
            self.last_result = payload
            try:
                self._on_done(payload)
            except Exception as exc:  # noqa: BLE001 - adding layers must never crash the viewer
                log.error("napari-im2im: showing results failed:\n%s", traceback.format_exc())
                self.say(describe_error(exc), "error")
        elif isinstance(payload, Cancelled):
            self._finish_cancelled()
        else:
            self.say(describe_error(payload), "error")

    def _finish_cancelled(self) -> None:
        self.say("cancelled: no output was added", "info")

    @if_alive
    def _on_finished(self) -> None:
        self.worker = None
        self._set_busy(False)
        if self.progress.maximum() == 0:  # no progress event came: leave the busy look
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
        queued, self._queued = self._queued, None
        if queued is not None:
            self.start(*queued)

    def show_layers(self, layer_data) -> list:
        return add_or_replace(self.viewer, layer_data)

    def closeEvent(self, event):  # a closing dock stops its job
        self.cancel()
        super().closeEvent(event)


def selected_image(combo: LayerCombo, override=None):
    """(data, meta) of the chosen layer; the pure functions validate them."""
    from ._layers import layer_meta

    layer = override if override is not None else combo.layer()
    if layer is None:
        return None, {"name": "(none)", "kind": "image"}
    return layer.data, layer_meta(layer)


class ModelJobWidget(JobWidget):
    """A JobWidget whose subclass has a ModelPicker `self.model` and a device combo `self.device`,
    and a `_model_loaded(translator)` slot: models load in a worker, never on the GUI thread."""

    def set_model(self, path) -> None:
        """Select (and load) a checkpoint file, e.g. one the Train widget just wrote."""
        self.model.add_path(path)

    def load_model(self, spec) -> None:
        if spec is None:
            return
        from ._models import load_job

        device = self.device.currentText()
        self.start(lambda cancel: load_job(spec, device), self._model_loaded, "loading model", queue=True)
