"""Run trained SAM-HQ weights: the image predictor, automatic mask generation and the export to
other runtimes."""

from .amg import AutomaticMaskGenerator
from .export import EXPORT_TARGETS, export_model, export_paths, verify_weights
from .onnx_decoder_export import OnnxPromptDecoder, check_onnx, export_onnx
from .onnx_encoder_export import check_onnx_encoder, export_onnx_encoder
from .predictor import (
    ImageReadError,
    PromptError,
    SamHQPredictor,
    load_image,
)

__all__ = [
    "AutomaticMaskGenerator",
    "EXPORT_TARGETS",
    "OnnxPromptDecoder",
    "check_onnx",
    "export_model",
    "export_onnx",
    "export_paths",
    "verify_weights",
    "check_onnx_encoder",
    "export_onnx_encoder",
    "ImageReadError",
    "PromptError",
    "SamHQPredictor",
    "load_image",
]
