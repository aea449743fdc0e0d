"""Building blocks shared by every family; they know nothing of families."""
from .discriminators import DiscriminatorConfig, NLayerDiscriminator, build_discriminator
from .generators import (GeneratorConfig, ResnetBlock, ResnetGenerator, UnetGenerator,
                         build_generator)
from .norm import GlobalInstanceNorm2d, conv_bias, norm_layer

__all__ = ["DiscriminatorConfig", "NLayerDiscriminator", "build_discriminator", "GeneratorConfig",
           "ResnetBlock", "ResnetGenerator", "UnetGenerator", "build_generator", "GlobalInstanceNorm2d",
           "conv_bias", "norm_layer"]
