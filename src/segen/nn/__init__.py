"""Reusable building blocks shared by segmentation and generation models."""

from segen.nn.blocks import (
    ACTIVATIONS,
    NORMS,
    UPSAMPLINGS,
    AttentionGate,
    ConvNormAct,
    DoubleConv,
    ResidualBlock,
    ResidualLevel,
    UpBlock,
    make_activation,
    make_norm,
    pad_to_multiple,
)

__all__ = ["ACTIVATIONS", "NORMS", "UPSAMPLINGS", "AttentionGate", "ConvNormAct", "DoubleConv", "ResidualBlock",
           "ResidualLevel", "UpBlock", "make_activation", "make_norm", "pad_to_multiple"]
