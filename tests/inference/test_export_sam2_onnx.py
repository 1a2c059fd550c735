"""SAM 2.1's ONNX decoder graph (the same exporter with the family's features, padding point and
resize rule) reproduces our outputs in onnxruntime (tiny random weights)."""

import numpy as np
import pytest
import torch

from samhq_train.inference import check_onnx, export_model, export_onnx
from samhq_train.inference.onnx_decoder_export import onnx_session, run_onnx
from samhq_train.model import build_sam_hq
from tests.inference.export_prompts import ATOL, BOX, POINTS
from tests.reference import randomize_

# SAM 2.1 family: the same exporter with the family's features, padding point and resize rule
SAM2_VARIANT = "sam2.1_hq_hiera_demo"
SAM2_ORIGINAL_SIZE = (192, 320)  # not square: SAM 2 resizes it to the 256 x 256 input


@pytest.fixture(scope="module")
def sam2_model():
    return randomize_(build_sam_hq(SAM2_VARIANT, seed=4), seed=4)


@pytest.fixture(scope="module")
def sam2_features(sam2_model):
    images = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(5)) * 255
    with torch.no_grad():
        return sam2_model.encode(images)


@pytest.fixture(scope="module")
def sam2_session(sam2_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("export_sam2")
    return onnx_session(export_model(sam2_model, out, ["onnx"])["onnx"])  # verified on export


def sam2_onnx_inputs(features, kind, mask_input=None):
    """The SAM 2 graph's inputs for one prompt (box corners first, labels 2 / 3; no padding
    point: the graph appends it) and the same prompt for decode."""
    box_points, box_labels = BOX.reshape(1, 2, 2), torch.tensor([[2.0, 3.0]])
    points, labels = POINTS[0][0], POINTS[1][0]
    coords, point_labels, prompts = {
        "box": (box_points, box_labels, dict(boxes=BOX)),
        "points": (points, labels, dict(points=POINTS)),
        "box+points": (
            torch.cat([box_points, points], 1),
            torch.cat([box_labels, labels], 1),
            dict(boxes=BOX, points=POINTS),
        ),
    }[kind]
    if mask_input is not None:
        prompts["mask_inputs"] = mask_input[None]
    inputs = (
        *features.tensors().values(),
        coords,
        point_labels,
        torch.zeros(1, 1, 64, 64) if mask_input is None else mask_input,
        torch.tensor([float(mask_input is not None)]),
        torch.tensor(SAM2_ORIGINAL_SIZE, dtype=torch.float32),
    )
    return inputs, prompts


def sam2_ours(model, features, hq_token_only=False, multimask_output=False, **prompts):
    with torch.no_grad():
        low_res, iou = model.decode(
            features, hq_token_only=hq_token_only, multimask_output=multimask_output, **prompts
        )
        masks = model.postprocess_masks(low_res, None, SAM2_ORIGINAL_SIZE)
        return masks, iou, low_res


def assert_onnx_matches(got, expected):
    for value, reference in zip(got, expected, strict=True):
        assert value.shape == reference[0].shape
        np.testing.assert_allclose(value, reference[0].numpy(), atol=ATOL, rtol=0)


def test_sam2_onnx_takes_the_embedding_and_the_two_high_res_features(sam2_session):
    assert [i.name for i in sam2_session.get_inputs()] == [
        "image_embeddings",
        "high_res_feats_0",
        "high_res_feats_1",
        "point_coords",
        "point_labels",
        "mask_input",
        "has_mask_input",
        "orig_im_size",
    ]


@pytest.mark.parametrize("kind", ["box", "points", "box+points"])
@pytest.mark.parametrize("with_mask", [False, True])
def test_sam2_onnx_decoder_matches_torch_in_onnxruntime(
    sam2_model, sam2_features, sam2_session, kind, with_mask
):
    mask_input = torch.randn(1, 1, 64, 64, generator=torch.Generator().manual_seed(6)) * 3
    inputs, prompts = sam2_onnx_inputs(sam2_features, kind, mask_input if with_mask else None)
    got = run_onnx(sam2_session, inputs)
    assert got[0].shape == (1, 1, *SAM2_ORIGINAL_SIZE)
    assert_onnx_matches(got, sam2_ours(sam2_model, sam2_features, **prompts))


def test_sam2_onnx_with_hq_token_only_and_multimask(sam2_model, sam2_features, tmp_path):
    path = export_onnx(sam2_model, tmp_path / "d.onnx", hq_token_only=True, multimask_output=True)
    assert check_onnx(sam2_model, path, hq_token_only=True, multimask_output=True) < ATOL
    inputs, prompts = sam2_onnx_inputs(sam2_features, "box+points")
    got = run_onnx(onnx_session(path), inputs)
    assert (got[0].shape, got[1].shape) == ((1, 1, *SAM2_ORIGINAL_SIZE), (1, 3))
    expected = sam2_ours(
        sam2_model, sam2_features, hq_token_only=True, multimask_output=True, **prompts
    )
    assert_onnx_matches(got, expected)
