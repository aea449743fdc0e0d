"""Reconstruct / Inpaint dock widget: MRI reconstruction (`reconstruct_layer`), inpainting
(`inpaint_layer`, holes from a Labels or Shapes layer) and super-resolution (`super_resolve_layer`)."""
from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QPushButton,
                            QSizePolicy, QSpinBox, QStackedWidget, QWidget)

from im2im_core.errors import InputError

from ._qt_common import JobWidget, LayerCombo, ModelPicker, device_combo, selected_image, tile_spin

MODES = ("MRI reconstruction", "Inpaint", "Super-resolution")


def shapes_to_holes(shapes, image) -> np.ndarray:
    """Rasterise a Shapes layer onto the image's pixel grid (world coordinates respected)."""
    from napari.layers import Shapes

    if len(shapes.data) == 0:
        raise InputError(f"shapes layer {shapes.name!r} has no shapes: draw the regions to fill")
    spatial = image.data.shape[:-1] if getattr(image, "rgb", False) else image.data.shape
    n = shapes.ndim
    if n > len(spatial):
        raise InputError(f"shapes layer {shapes.name!r} has {n} dimensions but the image only {len(spatial)}")
    s_scale, s_trans = np.asarray(shapes.scale), np.asarray(shapes.translate)
    i_scale, i_trans = np.asarray(image.scale)[-n:], np.asarray(image.translate)[-n:]
    verts = [(np.asarray(v) * s_scale + s_trans - i_trans) / i_scale for v in shapes.data]
    masks = Shapes(verts, shape_type=list(shapes.shape_type)).to_masks(mask_shape=tuple(spatial[-n:]))
    return np.asarray(masks).any(axis=0)


class ReconstructWidget(JobWidget):
    run_text = "Run"

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        from ._reconstruct import MASK_KINDS

        self.layer_combo = LayerCombo(napari_viewer, ("image",))
        self.mode = QComboBox()
        self.mode.addItems(MODES)
        self.form.addRow("mode", self.mode)
        self.form.addRow("image", self.layer_combo)
        self.pages = QStackedWidget()
        self.form.addRow(self.pages)
        # MRI
        mri = QWidget()
        f = QFormLayout(mri)
        f.setContentsMargins(0, 0, 0, 0)
        self.mask_kind = QComboBox()
        self.mask_kind.addItems(MASK_KINDS)
        self.acceleration = QDoubleSpinBox()
        self.acceleration.setRange(1.0, 32.0)
        self.acceleration.setSingleStep(0.5)
        self.acceleration.setValue(4.0)
        self.acceleration.setSuffix(" ×")
        self.ratio_label = QLabel()
        self.acceleration.valueChanged.connect(lambda v: self.ratio_label.setText(f"samples {100 / v:.1f} % of k-space"))
        self.acceleration.valueChanged.emit(self.acceleration.value())
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.dc = QCheckBox("data consistency")
        self.dc.setChecked(True)
        self.ensemble = QCheckBox("orientation ensemble")
        self.ensemble.setChecked(True)
        self.ensemble.setToolTip("a cascade model's mean over the grid's flips (and transposes, for a 2D-mask model): "
                                 "better by about 0.1-0.3 dB; off is four to eight times faster")
        self.mri_model = ModelPicker(none_text="(none: zero-filled)", families={"mri_recon"})
        kspace_row = QWidget()
        row = QHBoxLayout(kspace_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.kspace_button = QPushButton("k-space file…")
        self.kspace_button.setToolTip("reconstruct measured single-coil k-space (complex .npy, or .h5 with a "
                                      "'kspace' dataset as fastMRI stores it) with the model below")
        self.kspace_button.clicked.connect(lambda: self.run_kspace())
        row.addWidget(self.kspace_button)
        self.expects = QLabel()
        self.expects.setWordWrap(True)
        for label, w in (("mask", self.mask_kind), ("acceleration", self.acceleration), ("", self.ratio_label),
                         ("seed", self.seed), ("", self.dc), ("", self.ensemble), ("model", self.mri_model),
                         ("", self.expects),
                         ("measured", kspace_row)):
            f.addRow(label, w)
        # Inpaint
        inp = QWidget()
        f = QFormLayout(inp)
        f.setContentsMargins(0, 0, 0, 0)
        self.holes_combo = LayerCombo(napari_viewer, ("labels", "shapes"))
        self.label = QSpinBox()
        self.label.setRange(0, 2**31 - 1)
        self.label.setSpecialValueText("any")
        self.inpaint_model = ModelPicker(none_text="(none: biharmonic)", families={"inpaint"})
        draw = QWidget()
        row = QHBoxLayout(draw)
        row.setContentsMargins(0, 0, 0, 0)
        for kind in ("labels", "shapes"):
            b = QPushButton(f"new {kind} layer")
            b.setToolTip(f"a {kind.capitalize()} layer on the image's grid (same scale, units and axes) to draw the holes in")
            b.clicked.connect(lambda _=False, k=kind: self.new_holes_layer(k))
            row.addWidget(b)
        for label, w in (("holes", self.holes_combo), ("", draw), ("label", self.label), ("model", self.inpaint_model)):
            f.addRow(label, w)
        # Super-resolution
        sr = QWidget()
        f = QFormLayout(sr)
        f.setContentsMargins(0, 0, 0, 0)
        self.sr_model = ModelPicker(families={"super_resolution"})
        f.addRow("model", self.sr_model)
        f.addRow("", QLabel("output pixels are smaller by the model's factor,\nso the result overlays the input"))
        for page in (mri, inp, sr):
            self.pages.addWidget(page)
        self.mode.currentIndexChanged.connect(self._show_page)
        self._show_page(0)
        # start on the shipped models, not on the classical fallbacks
        self._mri_picked = False
        self.mri_model.combo.activated.connect(lambda *_: setattr(self, "_mri_picked", True))
        self.mri_model.browse.clicked.connect(lambda *_: setattr(self, "_mri_picked", True))
        self.mask_kind.currentTextChanged.connect(self._match_mri_model)
        self._match_mri_model(self.mask_kind.currentText())
        for signal in (self.mri_model.changed, self.mask_kind.currentTextChanged, self.acceleration.valueChanged):
            signal.connect(lambda *_: self._show_expects())
        self._show_expects()
        if self.inpaint_model.combo.count() > 1:
            self.inpaint_model.combo.setCurrentIndex(1)
        self.tile = tile_spin()
        self.device = device_combo()
        self.form.addRow("tile", self.tile)
        self.form.addRow("device", self.device)
        self.metrics = QLabel("")
        self.metrics.setWordWrap(True)
        self.extra.addWidget(self.metrics)

    def _match_mri_model(self, kind: str) -> None:
        """Select the shipped reconstruction model trained with this mask kind (zero-filled when
        none is), until the user picks a model by hand."""
        from im2im_core.checkpoint import read_metadata

        combo = self.mri_model.combo
        if self._mri_picked:
            return
        for i in range(combo.count()):
            name, path = combo.itemData(i), combo.itemData(i, 3)
            if name and path and name != path:  # a shipped name (files carry their path as data)
                cfg = read_metadata(path).get("config", {})
                if cfg.get("model", cfg).get("mask_kind") == kind:
                    combo.setCurrentIndex(i)
                    return
        combo.setCurrentIndex(0)  # no shipped model knows this mask: zero-filled

    def _show_expects(self) -> None:
        """What the chosen model was trained and tested on, and how the chosen mask departs from it."""
        from ._reconstruct import model_expects

        text, departures = model_expects(self.mri_model.spec(), self.mask_kind.currentText(), self.acceleration.value())
        self.expects.setText(text + "".join(f"\n⚠ {d}" for d in departures))

    def _show_page(self, index: int) -> None:
        """Only the current page counts for the size, so short pages leave no gap. The previous
        page's metrics and messages go: they described another mode."""
        if hasattr(self, "metrics"):  # not yet built on the first call
            self.metrics.setText("")
            self.status.setText("ready")
        for i in range(self.pages.count()):
            policy = QSizePolicy.Policy.Preferred if i == index else QSizePolicy.Policy.Ignored
            self.pages.widget(i).setSizePolicy(policy, policy)
        self.pages.setCurrentIndex(index)
        self.pages.adjustSize()
        self.adjustSize()

    def new_holes_layer(self, kind: str = "labels"):
        """Add an empty Labels or Shapes layer lying on the chosen image (its scale, translate,
        units and axis labels, so napari sees consistent units) and pick it as the holes."""
        from ._layers import layer_meta

        image = self.layer_combo.layer()
        if image is None:
            self.say("choose the image to inpaint first", "error")
            return None
        meta = layer_meta(image)
        n = len(meta["scale"])
        spatial = image.data.shape[:n]
        kw = {k: tuple(meta[k]) for k in ("scale", "translate", "axis_labels", "units")}
        name = f"{image.name} holes"
        if kind == "labels":
            layer = self.viewer.add_labels(np.zeros(spatial, np.uint8), name=name, **kw)
            layer.brush_size = max(3, min(spatial[-2:]) // 20)
            layer.mode = "paint"
        else:
            layer = self.viewer.add_shapes(name=name, ndim=n, **kw)
            layer.mode = "add_rectangle"
        self.holes_combo.set_layer(layer)
        return layer

    def set_mode(self, mode: str) -> None:
        self.mode.setCurrentIndex(MODES.index(mode))

    def run(self, layer=None) -> bool:
        from ._reconstruct import inpaint_layer, reconstruct_layer, super_resolve_layer

        data, meta = selected_image(self.layer_combo, layer)
        device, tile = self.device.currentText(), self.tile.value()
        mode = self.mode.currentText()
        if mode == MODES[0]:
            kind, acc, seed, dc, ens = (self.mask_kind.currentText(), self.acceleration.value(), self.seed.value(),
                                        self.dc.isChecked(), self.ensemble.isChecked())
            model = self.mri_model.spec()
            return self.start(lambda cancel: reconstruct_layer(data, meta, model, mask_kind=kind, acceleration=acc,
                                                               seed=seed, data_consistency=dc, ensemble=ens,
                                                               device=device, cancel=cancel),
                              self._mri_done, "reconstructing")
        if mode == MODES[1]:
            model = self.inpaint_model.spec()
            image = layer if layer is not None else self.layer_combo.layer()

            def job(cancel):
                holes = self.holes(image)
                return inpaint_layer(data, meta, holes, model, tile=tile, device=device, cancel=cancel)

            return self.start(job, self._done, "inpainting")
        model = self.sr_model.spec()
        if model is None:
            self.say("choose a super_resolution model (File… for a checkpoint)", "error")
            return False
        return self.start(lambda cancel: super_resolve_layer(data, meta, model, tile=tile, device=device,
                                                             cancel=cancel), self._done, "super-resolving")

    def run_kspace(self, path=None) -> bool:
        """Reconstruct a k-space file (asked for when not given) with the chosen mri_recon model."""
        from ._reconstruct import kspace_layer

        if path is None:
            from qtpy.QtWidgets import QFileDialog

            path, _ = QFileDialog.getOpenFileName(self, "k-space file", "", "k-space (*.npy *.h5 *.hdf5)")
            if not path:
                return False
        model, device, dc, ens = (self.mri_model.spec(), self.device.currentText(), self.dc.isChecked(),
                                  self.ensemble.isChecked())
        return self.start(lambda cancel: kspace_layer(path, model, data_consistency=dc, ensemble=ens, device=device,
                                                      cancel=cancel), self._done, "reconstructing k-space")

    def holes(self, image) -> np.ndarray:
        """The hole mask from the chosen Labels (a label, or any) or Shapes layer."""
        from ._reconstruct import holes_from_labels

        src = self.holes_combo.layer()
        if image is None:
            raise InputError("no image layer selected")
        if src is None:
            raise InputError("choose a Labels or Shapes layer that marks the holes")
        spatial = image.data.shape[:-1] if getattr(image, "rgb", False) else image.data.shape
        if src.__class__.__name__ == "Shapes":
            return shapes_to_holes(src, image)
        label = self.label.value() or None
        return holes_from_labels(np.asarray(src.data), label, spatial)

    def _mri_done(self, layers) -> None:
        from ._reconstruct import describe_scores

        self.show_layers(layers)
        prov = layers[-1][1]["metadata"]["im2im"]
        m = prov["metrics"]
        r, z = m["reconstruction"], m["zero_filled"]
        self.metrics.setText(f"reconstruction: {describe_scores(r)}\nzero-filled: {describe_scores(z)}\n"
                             f"({prov['method']}; data range {m['data_range']:.4g}; "
                             f"{r['slices_scored']} slice(s) with signal scored)")
        self.say(f"done in {prov['seconds']:.1f} s")

    def _done(self, layers) -> None:
        shown = self.show_layers(layers)
        prov = layers[0][1]["metadata"]["im2im"]
        how = prov.get("checkpoint") or prov.get("method") or "done"
        self.metrics.setText(f"{shown[-1].name}: {'with ' + how if prov.get('checkpoint') else how}")
        self.say(f"done in {prov['seconds']:.1f} s")
