"""Export: a checkpoint's model as ONNX or TorchScript, pre- and post-processing inside, checked against PyTorch."""

from segen.export.exporter import DEFAULT_TOLERANCE, FORMATS, ExportReport, ParityCheck, export_checkpoint

__all__ = ["DEFAULT_TOLERANCE", "FORMATS", "ExportReport", "ParityCheck", "export_checkpoint"]
