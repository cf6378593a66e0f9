"""Model architectures and the model registry."""

from segen.models.encoders import TimmEncoder, describe_encoders
from segen.models.gan import (
    DCGANDiscriminator,
    DCGANGenerator,
    GANPair,
    PatchDiscriminator,
    Pix2PixGenerator,
    ProjectionDiscriminator,
    UNetTranslator,
)
from segen.models.registry import (
    CONDITIONINGS,
    ModelEntry,
    check_model_options,
    create_model,
    describe_models,
    list_models,
    model_defaults,
    model_entry,
    register_model,
)
from segen.models.unet import UNet, UNetDecoder, UNetEncoder

__all__ = [
    "CONDITIONINGS",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "GANPair",
    "ModelEntry",
    "PatchDiscriminator",
    "Pix2PixGenerator",
    "ProjectionDiscriminator",
    "TimmEncoder",
    "UNet",
    "UNetDecoder",
    "UNetEncoder",
    "UNetTranslator",
    "check_model_options",
    "create_model",
    "describe_encoders",
    "describe_models",
    "list_models",
    "model_defaults",
    "model_entry",
    "register_model",
]
