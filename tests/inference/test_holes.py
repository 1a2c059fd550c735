"""SAM 3's image-predictor hole filling (ConceptPredictor's refinement, SamHQPredictor's
fill_hole_area) equals Meta's SAM2Transforms.postprocess_masks with its default max_hole_area."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from samhq_train.inference.holes import SAM3_IMAGE_FILL, fill_holes

pytest.importorskip("sam3")
pytest.importorskip("skimage")  # Meta's CPU connected components


def test_sam3_image_fill_equals_metas_postprocess():
    from sam3.model.utils.sam1_utils import SAM2Transforms

    meta = SAM2Transforms(resolution=1008, mask_threshold=0.0, max_hole_area=256.0)
    gen = torch.Generator().manual_seed(0)
    # blobs with holes of many sizes, several masks, logits around the cut
    low = torch.randn(4, 1, 18, 18, generator=gen)
    logits = F.interpolate(low, (288, 288), mode="bilinear") * 4 + 1.5
    expected = meta.postprocess_masks(logits, (540, 720))
    filled = fill_holes(logits, 256, SAM3_IMAGE_FILL)
    ours = F.interpolate(filled, (540, 720), mode="bilinear", align_corners=False)
    assert not torch.equal(filled, logits), "the case should have holes to fill"
    assert (filled == SAM3_IMAGE_FILL).sum() > 100
    torch.testing.assert_close(ours, expected, rtol=0, atol=0)


def test_predictor_fills_only_the_upsampled_masks(monkeypatch):
    """fill_hole_area acts on what is upsampled; the low-res logits returned are not filled."""
    from samhq_train.inference import SamHQPredictor
    from tests.reference import random_tiny_model

    predictor = SamHQPredictor(random_tiny_model())
    predictor.set_image((np.random.RandomState(0).rand(64, 80, 3) * 255).astype(np.uint8))
    box = np.array([10, 10, 60, 50])
    plain = predictor.predict(box=box, multimask_output=False, return_logits=True, use_hq=False)
    filled = predictor.predict(
        box=box, multimask_output=False, return_logits=True, use_hq=False, fill_hole_area=10**6
    )
    np.testing.assert_array_equal(plain[2], filled[2])
    assert (filled[0] > 0).all() and not (plain[0] > 0).all()
