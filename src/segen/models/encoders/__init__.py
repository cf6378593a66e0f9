"""Encoders for the segmentation models: segen's own (double, residual: `segen.models.unet`) and timm's."""

from segen.models.encoders.timm_encoder import (
    TESTED_TIMM_ENCODERS,
    PretrainedSettings,
    TimmEncoder,
    is_timm_encoder,
    load_encoder_weights,
    pretrained_settings,
    resolve_imagenet_weights,
)

__all__ = ["TESTED_TIMM_ENCODERS", "PretrainedSettings", "TimmEncoder", "describe_encoders", "is_timm_encoder",
           "load_encoder_weights", "pretrained_settings", "resolve_imagenet_weights"]


def describe_encoders() -> str:
    """The encoders `model.encoder` takes, as text: the native ones, then timm's."""
    import timm

    from segen.config import NATIVE_ENCODERS

    lines = ["native (random weights, any depth):"]
    lines += [f"  {name}" for name in NATIVE_ENCODERS]
    lines.append("timm (with --encoder-weights FILE or imagenet for pretrained weights); tested:")
    lines += [f"  {name}" for name in TESTED_TIMM_ENCODERS]
    count = len(timm.list_models())
    lines.append(f"  ... and any other of timm's {count} models that supports features_only "
                 "(python -c 'import timm; print(timm.list_models(\"resnet*\"))')")
    return "\n".join(lines)
