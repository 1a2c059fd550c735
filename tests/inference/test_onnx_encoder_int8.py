"""The int8 ONNX image encoder (samhq-export --to onnx_encoder_int8): onnxruntime's dynamic
quantization of the fp32 graph, checked on export within INT8_TOLERANCE of the fp32 torch encoder,
for each encoder kind (ViT, TinyViT, Hiera); with the decoder ONNX it gives nearly SamHQPredictor's
masks. Tiny random-weight models; no timings."""

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from samhq_train.cli import export as export_cli
from samhq_train.inference import SamHQPredictor, export_model
from samhq_train.inference import export as export_module
from samhq_train.inference import onnx_encoder_export as encoder_export
from samhq_train.inference.onnx_encoder_export import (
    INT8_TOLERANCE,
    QuantizationUnavailableError,
    check_onnx_encoder,
    export_onnx_encoder,
    onnx_session,
    quantize_onnx_encoder,
)
from samhq_train.model import build_sam_hq
from tests.inference.test_onnx_encoder import tiny_vit_model
from tests.reference import random_tiny_model, randomize_

TARGETS = ["onnx", "onnx_encoder", "onnx_encoder_int8"]
BOX = np.array([30.0, 40.0, 250.0, 330.0])  # in the 360 x 270 image below
MODELS = {
    "vit": lambda: random_tiny_model(seed=4),
    "tiny_vit": tiny_vit_model,
    "hiera": lambda: randomize_(build_sam_hq("sam2.1_hq_hiera_demo", seed=4), seed=4),
}


@pytest.fixture(scope="module", params=list(MODELS))
def exported(request, tmp_path_factory):
    """(model, {target: path}, {encoder file: its check's worst difference}), written and
    verified by export_model (the int8 check included: what its checks returned is kept)."""
    model = MODELS[request.param]()
    out = tmp_path_factory.mktemp(f"int8_{request.param}")
    checked = {}

    def recorded(model, path, **precision):
        checked[Path(path)] = check_onnx_encoder(model, path, **precision)
        return checked[Path(path)]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(export_module, "check_onnx_encoder", recorded)
        paths = export_model(model, out, TARGETS, name="sam_hq_vit_b")
    return model, paths, checked


def float_matmuls_with_weights(path) -> int:
    graph = onnx.load(str(path)).graph
    weights = {t.name for t in graph.initializer}
    return sum(n.op_type == "MatMul" and n.input[1] in weights for n in graph.node)


def test_int8_file_quantizes_every_linear_layer_within_its_tolerance(exported):
    _, paths, checked = exported
    int8, fp32 = paths["onnx_encoder_int8"], paths["onnx_encoder"]
    assert int8.name == "sam_hq_vit_b_encoder_int8.onnx"
    linear = float_matmuls_with_weights(fp32)
    ops = [n.op_type for n in onnx.load(str(int8)).graph.node]
    assert linear > 0 and ops.count("MatMulInteger") == linear
    assert float_matmuls_with_weights(int8) == 0
    assert int8.stat().st_size < 0.8 * fp32.stat().st_size  # vit_b: 99 MB of 342 MB
    worst = checked[int8]  # check_onnx_encoder(model, int8, int8=True), run by the export
    assert 1e-3 < worst <= INT8_TOLERANCE  # really rounded, and within the stated tolerance
    meta = onnx_session(int8).get_modelmeta().custom_metadata_map
    fp32_meta = onnx_session(fp32).get_modelmeta().custom_metadata_map
    assert meta == fp32_meta | {"precision": "int8"}


def test_int8_prediction_is_close_to_the_predictor(exported):
    """The int8 encoder + the decoder ONNX on an image and a box, against SamHQPredictor (fp32
    torch): logits within INT8_TOLERANCE of their largest |value|, masks nearly equal."""
    model, paths, _ = exported
    image = np.random.default_rng(1).integers(0, 256, (360, 270, 3), dtype=np.uint8)
    encoder, decoder = onnx_session(paths["onnx_encoder_int8"]), onnx_session(paths["onnx"])
    pixels = model.processing.resize_image(image).transpose(2, 0, 1)[None]
    names = [o.name for o in encoder.get_outputs()]
    features = dict(zip(names, encoder.run(None, {"image": pixels})))
    low = model.image_size // 4
    coords = model.processing.scale_coords(BOX.reshape(1, 2, 2), image.shape[:2])
    logits, iou, _ = decoder.run(None, {
        **features,
        "point_coords": coords.astype(np.float32),
        "point_labels": np.array([[2, 3]], np.float32),
        "mask_input": np.zeros((1, 1, low, low), np.float32),
        "has_mask_input": np.zeros(1, np.float32),
        "orig_im_size": np.array(image.shape[:2], np.float32),
    })
    predictor = SamHQPredictor(model)
    predictor.set_image(image)
    want, want_iou, _ = predictor.predict(box=BOX, multimask_output=False, return_logits=True)
    scale = np.abs(want).max()
    assert np.abs(logits[0, 0] - want[0]).max() <= INT8_TOLERANCE * scale
    assert abs(iou[0, 0] - want_iou[0]) <= INT8_TOLERANCE
    assert ((logits[0, 0] > 0) == (want[0] > 0)).mean() > 0.98


def test_the_int8_check_fails_for_a_wrong_scale(exported, tmp_path):
    """One linear layer's weight scale 4x: the export's check must refuse the file (2x gave 0.09
    to 0.5 of the largest |value|, so TinyViT's would pass a 0.1 tolerance)."""
    model, paths, _ = exported
    proto = onnx.load(str(paths["onnx_encoder_int8"]))
    scales = [t for t in proto.graph.initializer if t.name.endswith("_scale")]
    scale = scales[len(scales) // 2]
    stored = onnx.numpy_helper.to_array(scale)
    wrong = (stored * 4).astype(stored.dtype)  # numpy 1's 0-d float32 x 4 is a float64
    scale.CopyFrom(onnx.numpy_helper.from_array(wrong, scale.name))
    onnx.save(proto, str(tmp_path / "broken.onnx"))
    with pytest.raises(RuntimeError, match="differs from torch"):
        check_onnx_encoder(model, tmp_path / "broken.onnx", int8=True)


def test_missing_quantization_tools_are_refused_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime.quantization", None)  # import fails
    out = tmp_path / "out"
    with pytest.raises(QuantizationUnavailableError, match="onnxruntime.quantization") as err:
        export_model(random_tiny_model(seed=4), out, ["onnx", "onnx_encoder_int8"])
    assert "\n" not in str(err.value)
    assert not out.exists()  # refused before anything was written
    # the command refuses before it reads the weights (this checkpoint does not exist)
    checkpoint = str(tmp_path / "none.pth")
    argv = ["--checkpoint", checkpoint, "--to", "onnx_encoder_int8", "--out", str(out)]
    with pytest.raises(SystemExit) as exit_:
        export_cli.main(argv)
    assert exit_.value.code == 2
    message = capsys.readouterr().err.strip()
    assert "onnxruntime.quantization" in message and "\n" not in message


def test_large_int8_encoder_keeps_its_weights_in_one_data_file(tmp_path, monkeypatch):
    """Over protobuf's 2 GB (forced here with a 0 limit) the fp32 graph is quantized from its
    external data and the int8 file keeps its weights in <file>.data; quantize_onnx_encoder of an
    fp32 file gives the same graph's outputs as export_onnx_encoder(int8=True)."""
    model = random_tiny_model(seed=4)
    monkeypatch.setattr(encoder_export, "PROTOBUF_LIMIT", 0)
    path = export_onnx_encoder(model, tmp_path / "big_encoder_int8.onnx", int8=True)
    fp32 = export_onnx_encoder(model, tmp_path / "big_encoder.onnx")
    again = quantize_onnx_encoder(fp32, tmp_path / "again_int8.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "again_int8.onnx",
        "again_int8.onnx.data",
        "big_encoder.onnx",
        "big_encoder.onnx.data",
        "big_encoder_int8.onnx",
        "big_encoder_int8.onnx.data",
    ]
    assert path.stat().st_size < (tmp_path / "big_encoder_int8.onnx.data").stat().st_size
    assert check_onnx_encoder(model, path, int8=True) <= INT8_TOLERANCE
    image = {"image": torch.rand(1, 3, 256, 192).mul(255).numpy()}
    for a, b in zip(onnx_session(path).run(None, image), onnx_session(again).run(None, image)):
        np.testing.assert_array_equal(a, b)
    assert onnx_session(again).get_modelmeta().custom_metadata_map["precision"] == "int8"
