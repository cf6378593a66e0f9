"""Trained models loaded from checkpoints alone: prediction and evaluation (never imports training)."""

from segen.inference.evaluate import evaluate_segmentation, format_scores
from segen.inference.predict import list_inputs, predict_files
from segen.inference.segmenter import Ensemble, ModelInfo, Segmenter
from segen.inference.tiling import TileSpec, Tiling

__all__ = [
           "Ensemble",
           "ModelInfo",
           "Segmenter",
           "TileSpec",
           "Tiling",
           "evaluate_segmentation",
           "format_scores",
           "list_inputs",
           "predict_files",
]
