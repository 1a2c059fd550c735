"""Run trained SAM-HQ weights: the image predictor, automatic mask generation and the export to
other runtimes."""

from samhq_train.lazy_exports import lazy_exports

# each name's submodule, imported on first use (lazy_exports says why)
HOMES = {
    "AutomaticMaskGenerator": "amg",
    **dict.fromkeys(("EXPORT_TARGETS", "export_model", "export_paths", "verify_weights"), "export"),
    **dict.fromkeys(("OnnxPromptDecoder", "check_onnx", "export_onnx"), "onnx_decoder_export"),
    **dict.fromkeys(("check_onnx_encoder", "export_onnx_encoder"), "onnx_encoder_export"),
    **dict.fromkeys(("ImageReadError", "PromptError", "SamHQPredictor", "load_image"), "predictor"),
}
__all__ = sorted(HOMES)
__getattr__ = lazy_exports(__name__, HOMES)
