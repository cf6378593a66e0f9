"""Stateful metrics (reset / update / compute)."""

from segen.metrics.segmentation import ConfusionMatrix, logits_to_labels

__all__ = ["ConfusionMatrix", "logits_to_labels"]
