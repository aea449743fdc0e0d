"""A lone generator: the family that imported pytorch-CycleGAN-and-pix2pix weights become."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..nets import GeneratorConfig, build_generator
from .base import NESTED_SIZES, Im2ImModel, ModelConfig, register


@dataclass
class GeneratorOnlyConfig(ModelConfig):
    SIZES: ClassVar[dict] = {k: v for k, v in NESTED_SIZES.items() if k.startswith("generator.")}
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    #: junyanz pix2pix applied dropout at test time; True keeps that behaviour
    dropout_at_test: bool = False


@register("generator")
class GeneratorOnly(Im2ImModel):
    """One direction only (A->B); inference-only."""
    paper: ClassVar[tuple] = (
        "Zhu, Park, Isola & Efros: Unpaired Image-to-Image Translation using Cycle-Consistent "
        "Adversarial Networks, ICCV 2017",
        "https://arxiv.org/abs/1703.10593")
    pure_bf16 = True

    Config = GeneratorOnlyConfig
    generator_names = ("netG",)

    def __init__(self, config: GeneratorOnlyConfig):
        super().__init__(config)
        self.netG = build_generator(config.generator, config.in_channels, config.out_channels)

    def directions(self):
        return ["AtoB"]

    def size_multiple(self):
        return self.config.generator.size_multiple()

    def inference_forward(self, x, direction, **opts):
        if self.config.dropout_at_test:
            for m in self.netG.modules():
                if m.__class__.__name__.startswith("Dropout"):
                    m.train()
        return self.netG(x)
