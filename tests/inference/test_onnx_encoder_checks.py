"""The ONNX encoder checks are tight enough to catch a wrong input normalisation: a graph whose
pixel_std is the official one rounded to one decimal (58.395 -> 58.4, 57.12 -> 57.1: outputs off by
~4e-4 of their largest value) fails the fp32 check, and one 20% off (~0.16) fails the fp16 check,
although the right graphs pass both. (Loosened tolerances survived every other test: each compares
a correct file with the torch model.)"""

import copy

import pytest
import torch
from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidArgument

from samhq_train.inference import onnx_encoder_export as encoder_export
from samhq_train.inference.onnx_encoder_export import (
    check_onnx_encoder,
    export_onnx_encoder,
)
from tests.reference import random_tiny_model


@pytest.fixture(scope="module")
def model():
    return random_tiny_model(seed=4)


def with_pixel_std(model, change):
    wrong = copy.deepcopy(model)
    with torch.no_grad():
        wrong.pixel_std.copy_(change(wrong.pixel_std))
    assert not torch.equal(wrong.pixel_std, model.pixel_std)
    return wrong


@pytest.mark.parametrize(
    ("precision", "change"),
    [
        ("fp32", lambda std: std.round(decimals=1)),
        ("fp16", lambda std: std * 1.2),
    ],
    ids=["fp32_std_rounded", "fp16_std_20_percent"],
)
def test_a_graph_with_a_wrong_normalisation_fails_the_check(model, tmp_path, precision, change):
    options = {} if precision == "fp32" else {precision: True}
    wrong = with_pixel_std(model, change)
    path = export_onnx_encoder(wrong, tmp_path / f"wrong_{precision}.onnx", **options)
    with pytest.raises(RuntimeError, match="differs from torch"):
        check_onnx_encoder(model, path, **options)
    right = export_onnx_encoder(model, tmp_path / f"right_{precision}.onnx", **options)
    check_onnx_encoder(model, right, **options)  # the comparison itself passes a right graph


@pytest.mark.parametrize(
    "image_axes",
    [{2: "height", 3: "width"}, {0: "batch", 3: "width"}],
    ids=["fixed_batch", "fixed_height"],
)
def test_a_graph_without_its_dynamic_axes_fails_the_check(model, tmp_path, monkeypatch, image_axes):
    """SAM 1's graph takes any batch and any h x w with the long side S: the check runs a batch of
    2 and both a portrait (h = S) and a landscape (w = S) size, so a graph traced with the batch
    or the height fixed fails it."""
    family_encoder = type(encoder_export.onnx_encoder(model))
    axes = family_encoder.dynamic_axes.fget
    assert family_encoder.dynamic_batch and family_encoder.dynamic_size
    monkeypatch.setattr(
        family_encoder, "dynamic_axes", property(lambda self: {**axes(self), "image": image_axes})
    )
    path = export_onnx_encoder(model, tmp_path / "fixed_axis.onnx")
    monkeypatch.undo()
    session = encoder_export.onnx_session(path)
    assert session.get_inputs()[0].shape != ["batch", 3, "height", "width"]
    with pytest.raises((InvalidArgument, Fail)):  # onnxruntime refuses the input's shape
        check_onnx_encoder(model, path)
