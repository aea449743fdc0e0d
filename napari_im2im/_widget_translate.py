"""Translate dock widget: image layer + model in, a translated layer out (calls `translate_layer`).

The options follow the loaded model: directions named by domain, a style seed and a sample count
for multimodal families, a target domain for multi-domain ones, a council member for Council-GAN,
a caption for text-conditioned ones (sisgan); text-to-image models (gan_cls) get a Generate button
that makes a new layer from the caption alone. Official checkpoints get a config field, StarGAN's
attribute checkboxes and a reference-style layer (_widget_official.py).
"""
from __future__ import annotations

from qtpy.QtWidgets import QComboBox, QLabel, QLineEdit, QPushButton, QSpinBox

from ._qt_common import LayerCombo, ModelJobWidget, ModelPicker, device_combo, selected_image, tile_spin
from ._widget_official import OfficialRows

SEED_OPTIONS = ("seed", "style_seed")
TARGET_OPTIONS = ("target", "target_domain")


class TranslateWidget(ModelJobWidget):
    run_text = "Translate"

    def __init__(self, napari_viewer, parent=None):
        super().__init__(napari_viewer, parent)
        self.translator = None
        self.layer_combo = LayerCombo(napari_viewer, ("image",))
        from ._models import DEFAULT_TRANSLATE_MODEL, translatable_families

        self.model = ModelPicker(families=translatable_families(), default=DEFAULT_TRANSLATE_MODEL)
        self.info = QLabel("no model loaded")
        self.info.setWordWrap(True)
        self.direction = QComboBox()
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.samples = QSpinBox()
        self.samples.setRange(1, 16)
        self.target = QComboBox()
        self.member = QSpinBox()  # Council-GAN: which council member translates
        self.text = QLineEdit()
        self.text.setPlaceholderText("a caption, e.g. a small red circle at the top left")
        self.generate_button = QPushButton("Generate from text")
        self.generate_button.clicked.connect(lambda: self.generate())
        self.extra.addWidget(self.generate_button)
        self.tile = tile_spin()
        self.device = device_combo()
        self.official = OfficialRows(napari_viewer)
        for label, w in (("image", self.layer_combo), ("model", self.model), *self.official.rows()[:1], ("", self.info),
                         ("direction", self.direction), ("style seed", self.seed), ("samples", self.samples),
                         ("target", self.target), *self.official.rows()[1:], ("council member", self.member),
                         ("text", self.text), ("tile", self.tile), ("device", self.device)):
            self.form.addRow(label, w)
        self.official.config.editingFinished.connect(lambda: self.load_model(self.model.spec()))
        self._show_options(set())
        self.model.changed.connect(self.load_model)
        self.device.currentTextChanged.connect(lambda *_: self.load_model(self.model.spec()))
        if self.model.spec() is not None:
            self.load_model(self.model.spec())

    # ---- model ----------------------------------------------------------------------------------
    def _model_loaded(self, translator) -> None:
        from ._models import describe

        self.translator = translator
        d = describe(translator)
        px = translator.spacing
        trained = f" · trained at {px[0]:g} × {px[1]:g} mm pixels" if px else " · training pixel size unknown"
        self.info.setText(f"{d['family']} · domains {', '.join(map(str, d['domains']))} · {translator.device}{trained}")
        self.direction.clear()
        for canon in d["directions"]:
            self.direction.addItem(d["direction_labels"][canon], canon)
        self.target.clear()
        self.target.addItems([str(x) for x in d["domains"]])
        self.member.setRange(0, max(int(getattr(translator.model.config, "members", 1)) - 1, 0))
        self.official.set_attributes(d["domains"])
        generative = bool(getattr(translator.model, "generative", False))
        self._show_options(d["options"], generative)
        self.status.setText(f"loaded {translator.name}")

    def _show_options(self, options: set, generative: bool = False) -> None:
        """Only the rows that apply: a text-to-image model (gan_cls) takes a caption, a noise seed and
        a sample count, and its Generate button replaces Translate; other models take an image."""
        rows = {self.seed: generative or any(o in options for o in SEED_OPTIONS),
                self.samples: generative or "n_samples" in options,
                self.target: any(o in options for o in TARGET_OPTIONS), self.member: "member" in options,
                self.text: generative or "text" in options, self.layer_combo: not generative,
                self.direction: not generative, self.tile: not generative}
        rows.update(self.official.visibility(self.model.spec(), self.translator))
        if rows[self.official.attrs]:  # attribute checkboxes replace the one-target list
            rows[self.target] = False
        for w, visible in rows.items():
            self.form.setRowVisible(w, visible)
        self.form.labelForField(self.seed).setText("noise seed" if generative else "style seed")
        self.generate_button.setVisible(generative)
        self.run_button.setVisible(not generative)

    def options(self) -> dict:
        """Family options for the loaded model (only the ones it accepts)."""
        if self.translator is None:
            return {}
        accepted = self.translator.model.inference_options
        opts = {}
        for name in SEED_OPTIONS:
            if name in accepted:
                opts[name] = self.seed.value()
        if "n_samples" in accepted and self.samples.value() > 1:
            opts["n_samples"] = self.samples.value()
        for name in TARGET_OPTIONS:
            if name in accepted:
                opts[name] = self.target.currentText()
        if "member" in accepted:
            opts["member"] = self.member.value()
        if "text" in accepted:
            opts["text"] = self.text.text()
        return self.official.options(opts, self.translator, self.direction.currentData())

    def load_model(self, spec) -> None:
        """As every model widget's, with the official config where the file needs one."""
        if spec is None:
            return
        from ._models import load_job

        device, config = self.device.currentText(), self.official.config_value()
        self.start(lambda cancel: load_job(spec, device, config), self._model_loaded, "loading model", queue=True)

    # ---- run ----------------------------------------------------------------------------------
    def run(self, layer=None) -> bool:
        from ._translate import translate_layer

        if self.translator is not None and getattr(self.translator.model, "generative", False):
            self.say(f"{self.translator.family} draws images from a caption: use Generate from text", "error")
            return False
        data, meta = selected_image(self.layer_combo, layer)
        spec = self.model.spec()
        if spec is None:
            self.say("choose a model first (a shipped one, or File… for a .safetensors/.pth)", "error")
            return False
        direction, tile, device, opts = self.direction.currentData(), self.tile.value(), self.device.currentText(), self.options()
        config = self.official.config_value()
        return self.start(lambda cancel: translate_layer(data, meta, spec, direction, tile=tile, device=device,
                                                         options=opts, cancel=cancel, config=config),
                          self._done, "translating")

    def generate(self) -> bool:
        """A new layer of `samples` images drawn from the caption (text-to-image models)."""
        from ._translate import generate_layer

        spec = self.model.spec()
        if spec is None:
            self.say("choose a text-to-image model first (gan_cls)", "error")
            return False
        text, n, seed, device = self.text.text(), self.samples.value(), self.seed.value(), self.device.currentText()
        return self.start(lambda cancel: generate_layer(spec, text, n_samples=n, seed=seed, device=device, cancel=cancel),
                          self._generated, "generating")

    def _generated(self, layers) -> None:
        shown = self.show_layers(layers)
        self.say(f"{shown[0].name}: {layers[0][1]['metadata']['im2im']['seconds']:.1f} s")

    def _done(self, layers) -> None:
        shown = self.show_layers(layers)
        prov = layers[0][1]["metadata"]["im2im"]
        self.say(f"{shown[0].name}: {prov['seconds']:.1f} s with {prov['checkpoint']}")

