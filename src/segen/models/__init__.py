"""Model architectures and the model registry."""

from segen.models.attention_unet import AttentionUNet, AttentionUNetDecoder
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
from segen.models.unet import UNet, UNetBase, UNetDecoder, UNetEncoder
from segen.models.unetplusplus import NestedDecoder, UNetPlusPlus

__all__ = [
    "CONDITIONINGS",
    "AttentionUNet",
    "AttentionUNetDecoder",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "GANPair",
    "ModelEntry",
    "NestedDecoder",
    "PatchDiscriminator",
    "Pix2PixGenerator",
    "ProjectionDiscriminator",
    "TimmEncoder",
    "UNet",
    "UNetBase",
    "UNetDecoder",
    "UNetEncoder",
    "UNetPlusPlus",
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
