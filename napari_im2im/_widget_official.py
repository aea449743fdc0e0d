"""The Translate widget's rows for official checkpoints: the official config (a YAML path or
key=value pairs), StarGAN attribute checkboxes, and a reference-style layer for the multimodal
families. Plain Qt; the Translate widget shows the rows that apply to the loaded model."""
from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import QCheckBox, QHBoxLayout, QLineEdit, QWidget

from ._qt_common import LayerCombo

FOREIGN = (".pth", ".pt", ".ckpt", ".bin")
NO_REFERENCE = "(random style)"


def parse_config(text: str):
    """None, a path, or {key: value} from 'key=value, key=value' (values read as YAML)."""
    import yaml

    text = text.strip()
    if not text:
        return None
    if "=" not in text:
        return str(Path(text).expanduser())
    out = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        if key.strip():
            out[key.strip()] = yaml.safe_load(value.strip())
    return out


def is_foreign(spec) -> bool:
    return spec is not None and Path(str(spec)).suffix.lower() in FOREIGN


class OfficialRows:
    """The three rows and what they add to the load call and to the translate options."""

    def __init__(self, viewer):
        self.config = QLineEdit()
        self.config.setPlaceholderText("official YAML, or key=value, e.g. encoder=latest_net_E.pth")
        self.attrs = QWidget()
        self.attr_layout = QHBoxLayout(self.attrs)
        self.attr_layout.setContentsMargins(0, 0, 0, 0)
        self.boxes: list[QCheckBox] = []
        self.reference = LayerCombo(viewer, ("image",), none_text=NO_REFERENCE)

    def rows(self):
        return (("official config", self.config), ("attributes", self.attrs), ("style from", self.reference))

    def config_value(self):
        return parse_config(self.config.text())

    def set_attributes(self, names) -> None:
        for box in self.boxes:
            self.attr_layout.removeWidget(box)
            box.deleteLater()
        self.boxes = [QCheckBox(str(n)) for n in names]
        for box in self.boxes:
            self.attr_layout.addWidget(box)

    def visibility(self, spec, translator) -> dict:
        """Row widget -> shown, for the model `spec` and its loaded Translator (or None)."""
        model = getattr(translator, "model", None)
        options = getattr(model, "inference_options", ())
        multi_label = model is not None and getattr(model, "family", "") == "stargan" and \
            getattr(model.config, "arch", "ours") == "official"
        return {self.config: is_foreign(spec), self.attrs: multi_label, self.reference: "style_from" in options}

    def options(self, opts: dict, translator, direction=None) -> dict:
        """`opts` with the attribute vector as target and the reference layer as style_from
        (normalised here with the reference layer's own colour layout, which may differ from the
        input's: MUNIT's domains can have different channel counts)."""
        model = translator.model
        if self.boxes and getattr(model, "family", "") == "stargan" and getattr(model.config, "arch", "") == "official":
            opts["target"] = [1.0 if b.isChecked() else 0.0 for b in self.boxes]
        layer = self.reference.layer() if "style_from" in model.inference_options else None
        if layer is not None:
            opts.pop("seed", None)
            opts.pop("n_samples", None)
            import numpy as np

            channels = model.channels(model.resolve_direction(direction))[1]
            ref = {"style_from": np.asarray(layer.data)}
            opts["style_from"] = translator._reference_images(ref, channels, bool(layer.rgb))["style_from"]
        return opts
