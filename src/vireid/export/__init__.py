"""Model export (ONNX)."""

from vireid.export.onnx import DescriptorModule, export_onnx

__all__ = ["DescriptorModule", "export_onnx"]
