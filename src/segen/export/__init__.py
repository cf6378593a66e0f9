"""Export: a checkpoint's model as ONNX or TorchScript, pre- and post-processing inside, checked against PyTorch;
int8 ONNX by onnxruntime static quantisation."""

from segen.export.exporter import DEFAULT_TOLERANCE, FORMATS, ExportReport, ParityCheck, export_checkpoint
from segen.export.quantize import DEFAULT_CALIBRATION_IMAGES, DEFAULT_MAX_DROP, Int8Settings, QuantizationReport

__all__ = ["DEFAULT_CALIBRATION_IMAGES", "DEFAULT_MAX_DROP", "DEFAULT_TOLERANCE", "FORMATS", "ExportReport",
           "Int8Settings", "ParityCheck", "QuantizationReport", "export_checkpoint"]
