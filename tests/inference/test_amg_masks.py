"""Automatic mask generation's mask arithmetic against its references: RLE against pycocotools,
boxes, stability scores, crops, point grids and small-region removal against the official
helpers, NMS against torchvision's, low-res clean-up as sam2's rule, polygons that redraw the
mask (whole generators: test_amg.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from pycocotools import mask as coco_mask

from samhq_train.inference.amg import masks as amg_masks
from samhq_train.inference.amg.crops import crop_boxes, layer_point_grids, near_crop_edge


def random_masks(n, h, w, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.random((n, h // 4 + 1, w // 4 + 1)) > 0.5
    masks = np.kron(small, np.ones((4, 4), bool))[:, :h, :w].copy()
    masks[0] = True  # full: one run starting with a zero background run
    masks[1] = False
    masks[2, -1, -1] = True  # foreground at the last pixel
    return torch.from_numpy(masks)


@pytest.mark.parametrize("crop", [(0, 0, 40, 30), (10, 0, 25, 30), (5, 7, 20, 11), (0, 3, 40, 27)])
def test_rle_from_a_crop_equals_pycocotools_on_the_padded_mask(crop):
    frame_h, frame_w = 30, 40
    x0, y0, x1, y1 = crop
    masks = random_masks(6, y1 - y0, x1 - x0)
    rles = amg_masks.masks_to_rle(masks, (frame_h, frame_w), (x0, y0))
    for mask, rle in zip(masks.numpy(), rles):
        full = np.zeros((frame_h, frame_w), bool)
        full[y0:y1, x0:x1] = mask
        assert rle["size"] == [frame_h, frame_w]
        assert sum(rle["counts"]) == frame_h * frame_w and all(c > 0 for c in rle["counts"][1:])
        np.testing.assert_array_equal(amg_masks.rle_to_mask(rle), full)
        assert (
            amg_masks.rle_to_coco(rle)["counts"]
            == coco_mask.encode(np.asfortranarray(full))["counts"].decode()
        )
        assert amg_masks.rle_area(rle) == full.sum()
    assert amg_masks.masks_to_rle(masks[:0], (frame_h, frame_w), (x0, y0)) == []


def test_boxes_and_stability_equal_the_official_helpers():
    official = pytest.importorskip("segment_anything_hq.utils.amg")
    masks = random_masks(5, 23, 31)
    masks[3] = False
    masks[3, 4:9, 7] = True
    assert torch.equal(amg_masks.masks_to_boxes(masks), official.batched_mask_to_box(masks))
    logits = torch.randn(4, 23, 31) * 2
    expected = official.calculate_stability_score(logits, 0.0, 1.0)
    assert torch.equal(amg_masks.stability_scores(logits, 0.0, 1.0), expected)


@pytest.mark.parametrize("n", [60, 1500])  # torchvision's two batched_nms paths on the CPU
def test_box_nms_equals_torchvision(n):
    ops = pytest.importorskip("torchvision.ops")
    gen = torch.Generator().manual_seed(n)
    xy = torch.randint(0, 60, (n, 2), generator=gen)
    wh = torch.randint(1, 40, (n, 2), generator=gen)
    boxes = torch.cat([xy, xy + wh], dim=1)
    scores = torch.randint(0, 5, (n,), generator=gen).float() / 4  # many ties
    for threshold in (0.3, 0.5, 0.7, 1.0):
        expected = ops.batched_nms(boxes.float(), scores, torch.zeros(n), threshold)
        assert torch.equal(amg_masks.box_nms(boxes, scores, threshold), expected), threshold


@pytest.mark.parametrize("mode", ["holes", "islands"])
def test_small_region_removal_equals_the_official_helper(mode):
    official = pytest.importorskip("segment_anything_hq.utils.amg")
    masks = random_masks(6, 40, 50, seed=3).numpy()
    masks[1, 10:12, 10:12] = True  # only small islands
    for mask in masks:
        for area in (1, 10, 16, 32, 48, 50):  # region sizes here are mostly multiples of 16
            ours, changed = amg_masks.remove_small_regions(mask, area, mode)
            theirs, official_changed = official.remove_small_regions(mask, area, mode)
            assert changed == official_changed
            np.testing.assert_array_equal(ours, theirs)


def test_crop_boxes_and_point_grids_equal_the_official_helpers():
    official = pytest.importorskip("segment_anything_hq.utils.amg")
    for size, layers, ratio in [
        ((192, 256), 1, 512 / 1500),
        ((3000, 4000), 2, 0.25),
        ((77, 31), 3, 0.5),
    ]:
        assert crop_boxes(size, layers, ratio) == official.generate_crop_boxes(size, layers, ratio)
    for side, layers, downscale in [(32, 2, 2), (7, 1, 1), (10, 2, 3)]:
        for ours, theirs in zip(
            layer_point_grids(side, layers, downscale),
            official.build_all_layer_point_grids(side, layers, downscale),
            strict=True,
        ):
            np.testing.assert_array_equal(ours, theirs)


def test_low_res_clean_up_follows_sam2s_rule():
    logits = torch.full((1, 12, 12), -5.0)
    logits[0, 2:9, 2:9] = 5.0
    logits[0, 4, 4] = -1.0  # a one-pixel hole
    logits[0, 10, 10] = 3.0  # a one-pixel speck
    out = amg_masks.clean_low_res_logits(logits, 1, 0.0)
    assert out[0, 4, 4] == 10.0 and out[0, 10, 10] == -10.0
    mask = torch.ones_like(out, dtype=torch.bool)
    mask[0, 4, 4] = mask[0, 10, 10] = False
    assert torch.equal(out[mask], logits[mask])


def test_rle_runs_of_consecutive_masks_are_never_joined():
    """A mask whose last run ends where the next mask's first run starts (in the frame) keeps
    both runs: only runs of one mask join across a column."""
    masks = torch.zeros(3, 4, 3, dtype=torch.bool)
    masks[0, 0:2, 0] = True  # ends at row 2 of column 0
    masks[1, 2:4, 0] = True  # starts at row 2 of column 0
    masks[2, 3, 0] = masks[2, 0, 1] = True  # one run across a column edge of the same mask
    for frame, offset in (((4, 3), (0, 0)), ((6, 5), (1, 2)), ((4, 5), (2, 0))):
        x0, y0 = offset
        for mask, rle in zip(masks.numpy(), amg_masks.masks_to_rle(masks, frame, offset)):
            full = np.zeros(frame, bool)
            full[y0 : y0 + 4, x0 : x0 + 3] = mask
            np.testing.assert_array_equal(amg_masks.rle_to_mask(rle), full)
            expected = coco_mask.encode(np.asfortranarray(full))["counts"].decode()
            assert amg_masks.rle_to_coco(rle)["counts"] == expected


def test_stability_on_logits_exactly_at_the_cutoffs_equals_the_official_helper():
    official = pytest.importorskip("segment_anything_hq.utils.amg")
    logits = torch.randint(-3, 4, (5, 9, 11), generator=torch.Generator().manual_seed(0)).float()
    for threshold, offset in ((0.0, 1.0), (1.0, 2.0), (-1.0, 0.0)):
        expected = official.calculate_stability_score(logits, threshold, offset)
        assert torch.equal(amg_masks.stability_scores(logits, threshold, offset), expected)


def test_near_crop_edge_equals_the_official_filter():
    official = pytest.importorskip("segment_anything_hq.utils.amg")
    gen = torch.Generator().manual_seed(1)
    image_hw = (300, 400)
    for crop in ([0, 0, 400, 300], [0, 0, 230, 170], [170, 130, 400, 300], [100, 60, 330, 240]):
        x0, y0, x1, y1 = crop
        # crop-frame boxes near every edge: 0..40 pixels in from it, on either side of 20
        low = torch.randint(0, 45, (200, 2), generator=gen)
        high = torch.stack([x1 - x0 - torch.randint(0, 45, (200,), generator=gen),
                            y1 - y0 - torch.randint(0, 45, (200,), generator=gen)], dim=1)
        boxes = torch.cat([low, high], dim=1)
        ours = near_crop_edge(boxes + torch.tensor([x0, y0, x0, y0]), crop, image_hw)
        theirs = official.is_box_near_crop_edge(boxes, crop, [0, 0, 400, 300])
        assert torch.equal(ours, theirs), crop
        assert 0 < int(ours.sum()) < len(ours) or crop == [0, 0, 400, 300]


def test_polygons_of_tiny_regions_have_three_points_and_redraw_the_mask():
    mask = np.zeros((20, 24), bool)
    mask[3, 4] = True  # one pixel
    mask[10, 2:4] = True  # two pixels
    mask[5:15, 8:20] = True
    mask[8:11, 12:15] = False  # a hole: polygons fill it (COCO unions a mask's polygons)
    polygons = amg_masks.mask_to_polygons(mask)
    assert len(polygons) == 3
    # fewer than 6 numbers is no COCO polygon (pycocotools reads 4 as a box)
    assert all(len(p) >= 6 and len(p) % 2 == 0 for p in polygons)
    drawn = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(drawn, [np.asarray(p, np.int32).reshape(-1, 2) for p in polygons], 1)
    filled = mask.copy()
    filled[8:11, 12:15] = True
    np.testing.assert_array_equal(drawn.astype(bool), filled)
