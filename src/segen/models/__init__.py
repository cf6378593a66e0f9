"""Model architectures and the model registry."""

from segen.models.gan import (
    DCGANDiscriminator,
    DCGANGenerator,
    GANPair,
    PatchDiscriminator,
    Pix2PixGenerator,
    ProjectionDiscriminator,
    UNetTranslator,
)
from segen.models.registry import create_model, list_models, model_defaults, register_model
from segen.models.unet import UNet, UNetDecoder, UNetEncoder

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "GANPair", "PatchDiscriminator", "Pix2PixGenerator",
           "ProjectionDiscriminator", "UNet", "UNetDecoder", "UNetEncoder", "UNetTranslator", "create_model",
           "list_models", "model_defaults", "register_model"]
