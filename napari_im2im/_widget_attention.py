"""Attention masks dock widget (calls `attention_layers`): the mask as a coloured overlay with a
threshold slider, plus the foreground a*G(x) and background (1-a)*x compositions."""
from __future__ import annotations

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QCheckBox, QComboBox, QLabel, QSlider

from ._qt_common import LayerCombo, ModelJobWidget, ModelPicker, device_combo, selected_image, tile_spin

COLORMAPS = ("inferno", "magma", "red", "viridis", "turbo")


def _slider(value: int) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(0, 100)
    s.setValue(value)
    return s


class AttentionWidget(ModelJobWidget):
    run_text = "Show attention"

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        self.layer_combo = LayerCombo(napari_viewer, ("image",))
        from ._attention import attention_families

        families = attention_families()
        self.hint = f"choose a model of {', '.join(sorted(families))}"
        self.model = ModelPicker(families=families)
        self.info = QLabel(self.hint)
        self.info.setWordWrap(True)
        self.direction = QComboBox()
        self.threshold = _slider(10)
        self.threshold_label = QLabel()
        self.auto = QCheckBox("automatic (Otsu) on each run")
        self.auto.setChecked(True)
        self.auto.setToolTip("set the threshold from each attention map; moving the slider turns it off")
        self.opacity = _slider(60)
        self.colormap = QComboBox()
        self.colormap.addItems(COLORMAPS)
        self.tile = tile_spin()
        self.device = device_combo()
        for label, w in (("image", self.layer_combo), ("model", self.model), ("", self.info),
                         ("direction", self.direction), ("threshold", self.threshold), ("", self.threshold_label), ("", self.auto),
                         ("overlay opacity", self.opacity), ("colormap", self.colormap),
                         ("tile", self.tile), ("device", self.device)):
            self.form.addRow(label, w)
        self._can_run = True  # False while the chosen model has no attention masks
        self._arrays = None  # (x, y, a, rgb) of the last run, for live re-composition
        self._names = None
        self.threshold.valueChanged.connect(self._restyle)
        self.threshold.sliderMoved.connect(lambda *_: self.auto.setChecked(False))
        self.opacity.valueChanged.connect(self._restyle)
        self.colormap.currentTextChanged.connect(self._restyle)
        self.model.changed.connect(self.load_model)
        self._restyle()
        if self.model.spec() is not None:
            self.load_model(self.model.spec())

    @property
    def threshold_value(self) -> float:
        return self.threshold.value() / 100.0

    def _model_loaded(self, translator) -> None:
        from ._attention import is_attention_model
        from ._models import describe

        d = describe(translator)
        self.direction.clear()
        for canon in d["directions"]:
            self.direction.addItem(d["direction_labels"][canon], canon)
        ok = self._can_run = is_attention_model(translator)
        self.info.setText(f"{d['family']} · domains {', '.join(map(str, d['domains']))}" +
                          ("" if ok else f" · no attention masks: {self.hint}"))
        if not ok:
            self.say(f"{translator.name} ({d['family']}) has no attention masks", "warning")

    def _set_busy(self, busy: bool) -> None:
        super()._set_busy(busy)
        self.run_button.setEnabled(not busy and self._can_run)

    def run(self, layer=None) -> bool:
        from ._attention import attention_layers

        data, meta = selected_image(self.layer_combo, layer)
        spec = self.model.spec()
        if spec is None:
            self.say(f"{self.hint} first", "error")
            return False
        direction, tile, device = self.direction.currentData(), self.tile.value(), self.device.currentText()
        thr = None if self.auto.isChecked() else self.threshold_value
        self._source = (data, meta)
        return self.start(lambda cancel: attention_layers(data, meta, spec, direction, tile=tile, device=device,
                                                          threshold=thr, cancel=cancel), self._done, "attention")

    def _done(self, layers) -> None:
        from ._attention import layer_names

        shown = self.show_layers(layers)
        data, meta = self._source
        y, a = layers[0][0], layers[3][0]
        if self.auto.isChecked():  # show the threshold the run chose (restyled below, once)
            self.threshold.blockSignals(True)
            self.threshold.setValue(round(100 * layers[3][1]["metadata"]["im2im"]["options"]["threshold"]))
            self.threshold.blockSignals(False)
        self._arrays = (np.asarray(data), y, a, bool(layers[0][1].get("rgb")))
        self._names = layer_names(meta["name"])
        self._restyle()
        self.say(f"{shown[3].name}: mean attention {float(a.mean()):.2f}")

    def _restyle(self, *_) -> None:
        """Threshold, opacity and colormap act on the existing layers at once (no re-run)."""
        from ._attention import compose, overlay_limits

        thr = self.threshold_value
        self.threshold_label.setText(f"attention ≥ {thr:.2f} shown and composed")
        if not self._names:
            return
        layers = self.viewer.layers
        att = self._names["attention"]
        if att in layers:
            layers[att].contrast_limits = overlay_limits(thr)
            layers[att].opacity = self.opacity.value() / 100.0
            layers[att].colormap = self.colormap.currentText()
        if self._arrays is not None and self._names["foreground"] in layers and self._names["background"] in layers:
            x, y, a, rgb = self._arrays
            fg, bg = compose(x, y, a, thr, rgb)
            layers[self._names["foreground"]].data = fg
            layers[self._names["background"]].data = bg
            for name in ("foreground", "background"):
                layers[self._names[name]].metadata.setdefault("im2im", {})["threshold"] = thr
