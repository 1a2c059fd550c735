"""SamHQPredictor on the HQ-SAM 2 family: original-size masks equal the official predictor's."""

import numpy as np
import pytest
import torch

from samhq_train.inference import SamHQPredictor

CASES = ["box_hq1_multi0", "box_hq0_multi1", "points_hq0_multi0", "box+points_hq1_multi1"]


@pytest.mark.parametrize("case", CASES)
def test_predictor_masks_match_the_official_predictor(case, hq_model, hq_fixture):
    prompt_name, hq, multi = case.rsplit("_", 2)
    prompt = hq_fixture["prompts"][prompt_name]
    predictor = SamHQPredictor(hq_model)
    predictor.set_image(hq_fixture["image"].numpy())
    torch.testing.assert_close(
        predictor.features.embedding, hq_fixture["outputs"]["image_embed"], atol=1e-4, rtol=0
    )
    kwargs = {}
    if "box" in prompt:
        kwargs["box"] = np.array(prompt["box"])
    if "point_coords" in prompt:
        kwargs["point_coords"] = np.array(prompt["point_coords"])
        kwargs["point_labels"] = np.array(prompt["point_labels"])
    masks, scores, _ = predictor.predict(
        **kwargs, multimask_output=multi == "multi1", hq_token_only=hq == "hq1", return_logits=True
    )
    want = hq_fixture["outputs"][f"{case}_masks"]
    assert masks.shape == tuple(want.shape)
    assert np.abs(masks - want.numpy()).max() < 1e-4
    assert np.abs(scores - hq_fixture["outputs"][f"{case}_iou"].numpy()).max() < 1e-4
