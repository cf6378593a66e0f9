"""Reusable building blocks shared by segmentation and generation models."""

from segen.nn.blocks import ConvNormAct, DoubleConv, UpBlock, make_activation, make_norm, pad_to_multiple

__all__ = ["ConvNormAct", "DoubleConv", "UpBlock", "make_activation", "make_norm", "pad_to_multiple"]
