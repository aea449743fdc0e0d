"""Train dock widget (calls `train_job`): domains from layers or folders, a live loss plot and a
live preview in the dock (the final preview becomes a layer); Stop keeps the last checkpoint; one
click loads it into the Translate widget."""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

from qtpy.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QSpinBox,
                            QVBoxLayout, QWidget)

from ._loss_plot import LossPlot
from ._qt_common import JobWidget, LayerCombo, device_combo
from ._thumbnail import Thumbnail

FOLDER = "(folder)"


class DomainPicker(QWidget):
    """An image layer, or (when '(folder)' is chosen) a folder of images: the folder row shows only
    then, on its own line, so the path is readable."""

    def __init__(self, viewer, parent=None):
        super().__init__(parent)
        self.layers = LayerCombo(viewer, ("image",), none_text=FOLDER)
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("folder of training images")
        browse = QPushButton("…")
        browse.setFixedWidth(28)
        browse.clicked.connect(self._browse)
        self.folder_row = QWidget()
        row = QHBoxLayout(self.folder_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.layers)
        col.addWidget(self.folder_row)
        self.layers.currentTextChanged.connect(self._folder_shown)
        if self.layers.count() > 1:
            self.layers.setCurrentIndex(1)
        self._folder_shown(self.layers.currentText())

    def _folder_shown(self, text: str) -> None:
        self.folder_row.setVisible(text == FOLDER)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder of training images", str(Path.home()))
        if d:
            self.folder.setText(d)
            self.layers.setCurrentText(FOLDER)

    def source(self):
        """(data or folder path, meta dict, domain name)."""
        from ._layers import layer_meta

        layer = self.layers.layer()
        if layer is not None:
            return layer.data, layer_meta(layer), layer.name
        folder = self.folder.text().strip()
        if not folder:
            return None, {"name": "(none)"}, "?"
        return folder, {"name": Path(folder).name}, Path(folder).name


class TrainWidget(JobWidget):
    run_text = "Train"
    cancel_text = "stopping after this iteration, then saving the checkpoint…"

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        from ._train import CAPACITIES, trainable_families

        self.cancel_button.setText("Stop")
        self.domain_a = DomainPicker(napari_viewer)
        self.domain_b = DomainPicker(napari_viewer)
        self._default_domains()
        self.family = QComboBox()
        self.family.addItems(trainable_families())
        if "cycle_gan" in trainable_families():
            self.family.setCurrentText("cycle_gan")
        self.capacity = QComboBox()
        self.capacity.addItems(CAPACITIES)
        self.capacity.setToolTip("tiny/small shrink widths and depths for quick CPU runs; full keeps the paper's sizes")
        self.size = QSpinBox()
        self.size.setRange(16, 1024)
        self.size.setSingleStep(16)
        self.size.setValue(64)
        self.size.setSuffix(" px")
        self.iterations = QSpinBox()
        self.iterations.setRange(1, 10_000_000)
        self.iterations.setValue(200)
        self.preview_every = QSpinBox()
        self.preview_every.setRange(0, 100_000)
        self.preview_every.setValue(25)
        self.preview_every.setSpecialValueText("never")
        self.paired = QCheckBox("paired (pix2pix: A and B slices correspond)")
        self.device = device_combo()
        self.out_dir = QLineEdit(str(Path.home() / "im2im_runs"))
        for label, w in (("domain A", self.domain_a), ("domain B", self.domain_b), ("family", self.family),
                         ("capacity", self.capacity), ("image size", self.size), ("iterations", self.iterations),
                         ("preview every", self.preview_every), ("", self.paired), ("device", self.device),
                         ("runs folder", self.out_dir)):
            self.form.addRow(label, w)
        self.family.currentTextChanged.connect(lambda f: self.paired.setChecked(f == "pix2pix"))
        self.plot = LossPlot()
        self.extra.addWidget(self.plot)
        self.preview = Thumbnail()
        self.extra.addWidget(self.preview)
        self.load_button = QPushButton("Load in Translate")
        self.load_button.setEnabled(False)
        self.load_button.clicked.connect(self.load_in_translate)
        self.extra.addWidget(self.load_button)
        self.checkpoint: str | None = None
        self._meta_a: dict = {}

    def _default_domains(self) -> None:
        """A: the selected image layer, else the first one opened; B: the next one opened after it."""
        images = [ly for ly in self.viewer.layers if ly.__class__.__name__ == "Image"]
        if not images:
            return
        active = self.viewer.layers.selection.active
        a = next((ly for ly in images if active is not None and ly.name == active.name), images[0])
        self.domain_a.layers.set_layer(a)
        rest = [ly for ly in images if ly.name != a.name]
        if rest:
            after = [ly for ly in rest if images.index(ly) > images.index(a)]
            self.domain_b.layers.set_layer((after or rest)[0])

    def run(self) -> bool:
        from ._train import train_job

        a, meta_a, name_a = self.domain_a.source()
        b, meta_b, name_b = self.domain_b.source()
        if a is None or b is None:
            self.say("choose an image layer or a folder for both domain A and domain B", "error")
            return False
        fam = self.family.currentText()
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path(self.out_dir.text().strip() or "im2im_runs").expanduser() / f"{fam}-{stamp}"
        kw = dict(family=fam, image_size=self.size.value(), iterations=self.iterations.value(), out_dir=out,
                  capacity=self.capacity.currentText(), paired=self.paired.isChecked(),
                  device=self.device.currentText(), domains=(name_a, name_b), meta_a=meta_a, meta_b=meta_b,
                  preview_every=self.preview_every.value())
        self._meta_a = meta_a
        self.plot.reset()
        self.preview.clear_image()
        self.load_button.setEnabled(False)
        return self.start(lambda cancel: train_job(a, b, cancel=cancel, **kw), self._done, "training")

    def on_event(self, ev) -> None:
        losses = ev.extra.get("losses")
        if losses:
            self.plot.add(ev.done, losses)
        if ev.extra.get("preview") is not None:
            self.preview.show_array(ev.extra["preview"])

    def _done(self, layers) -> None:
        for layer in self.show_layers(layers):  # the dock shows the preview; the layer waits hidden
            layer.visible = False
        prov = layers[0][1]["metadata"]["im2im"]
        self.checkpoint = prov["checkpoint_path"]
        if prov["status"] == "stopped":
            self.progress.setFormat("stopped at %v / %m")
        self.plot.draw_now()
        self.load_button.setEnabled(True)
        self.say(f"{prov['status']} after {prov['iterations_done']} iterations ({prov['seconds']:.0f} s): "
                 f"{self.checkpoint}")

    def load_in_translate(self):
        """Open (or reuse) the Translate widget and select the new checkpoint there."""
        from ._widget_translate import TranslateWidget

        if not self.checkpoint:
            self.say("train a model first", "warning")
            return None
        widget = next((w for w in self.viewer.window.dock_widgets.values() if isinstance(w, TranslateWidget)), None)
        if widget is None:
            try:
                _, widget = self.viewer.window.add_plugin_dock_widget("napari-im2im", "Translate")
            except Exception:  # noqa: BLE001 - plugin not registered (e.g. in tests): dock our own
                widget = TranslateWidget(self.viewer)
                self.viewer.window.add_dock_widget(widget, name="Translate", area="right")
        widget.set_model(self.checkpoint)
        layer = self.domain_a.layers.layer()
        if layer is not None:
            widget.layer_combo.set_layer(layer)
        return widget
