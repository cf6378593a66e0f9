"""Model architectures and the model registry."""

from segen.models.registry import create_model, list_models, model_defaults, register_model
from segen.models.unet import UNet, UNetDecoder, UNetEncoder

__all__ = ["UNet", "UNetDecoder", "UNetEncoder", "create_model", "list_models", "model_defaults",
           "register_model"]
