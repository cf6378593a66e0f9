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
from segen.metrics.surface import SURFACE_SCORES, SurfaceMetrics, SurfaceScores, check_spacing, surface_scores

__all__ = [
    "SURFACE_SCORES",
    "ConfusionMatrix",
    "GenerationMetrics",
    "InceptionFeatures",
    "SurfaceMetrics",
    "SurfaceScores",
    "TorchScriptFeatures",
    "check_spacing",
    "compute_fid_kid",
    "inception_cache_path",
    "load_inception_state",
    "locate_inception_weights",
    "logits_to_labels",
    "surface_scores",
]
