"""Stateful metrics (reset / update / compute)."""

from segen.metrics.generation import (
    GenerationMetrics,
    InceptionFeatures,
    TorchScriptFeatures,
    compute_fid_kid,
    inception_cache_path,
    load_inception_state,
    locate_inception_weights,
)
from segen.metrics.segmentation import ConfusionMatrix, logits_to_labels

__all__ = [
    "ConfusionMatrix",
    "GenerationMetrics",
    "InceptionFeatures",
    "TorchScriptFeatures",
    "compute_fid_kid",
    "inception_cache_path",
    "load_inception_state",
    "locate_inception_weights",
    "logits_to_labels",
]
