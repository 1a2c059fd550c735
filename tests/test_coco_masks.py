"""coco_masks (the one home of COCO segmentation decoding / encoding) against pycocotools' own
COCO.annToMask, on odd image sizes, merged polygons, uncompressed and compressed RLE."""

import numpy as np
import pytest
from pycocotools.coco import COCO

from samhq_train.coco_masks import (
    compressed_rle,
    decode_mask,
    decode_segmentation,
    encode_mask,
    segmentation_problem,
    uncompressed_rle,
)

SIZES = [(1, 1), (7, 13), (13, 7), (31, 17), (2, 45)]


def _coco_mask(segmentation, height: int, width: int) -> np.ndarray:
    coco = COCO()
    coco.imgs = {1: {"id": 1, "height": height, "width": width}}
    return coco.annToMask({"image_id": 1, "segmentation": segmentation})


def _random_mask(rng, height: int, width: int) -> np.ndarray:
    return (rng.random((height, width)) < rng.uniform(0.1, 0.9)).astype(np.uint8)


@pytest.mark.parametrize("height,width", SIZES)
def test_rle_decoders_equal_pycocotools(height, width):
    rng = np.random.default_rng(height * 100 + width)
    for mask in (_random_mask(rng, height, width), np.zeros((height, width), np.uint8),
                 np.ones((height, width), np.uint8)):
        plain = uncompressed_rle(mask)
        compressed = encode_mask(mask)
        assert sum(plain["counts"]) == height * width
        assert compressed_rle(plain) == compressed
        for rle in (plain, compressed):
            reference = _coco_mask(rle, height, width)
            np.testing.assert_array_equal(reference, mask)
            np.testing.assert_array_equal(decode_segmentation(rle, height, width), reference)
            np.testing.assert_array_equal(decode_mask(rle), reference.astype(bool))
            assert segmentation_problem(rle, height, width) is None


@pytest.mark.parametrize("height,width", SIZES)
def test_polygons_merged_as_pycocotools(height, width):
    rng = np.random.default_rng(height + width)
    # corners partly outside the image, fractional: pycocotools' clipping and rounding
    polygons = [(rng.uniform(-0.2, 1.2, (4, 2)) * [width, height]).round(2).ravel().tolist()
                for _ in range(3)]
    assert segmentation_problem(polygons, height, width) is None
    got = decode_segmentation(polygons, height, width)
    np.testing.assert_array_equal(got, _coco_mask(polygons, height, width))
    assert got.dtype == np.uint8 and got.shape == (height, width)


def test_segmentation_problems_are_one_sentence_each():
    for bad in ([[1, 2, 3, 4]], [[0, 0, 1, float("nan"), 2, 2]], {"size": [4, 5], "counts": "x"},
                {"size": [5, 4], "counts": [3, 2, 1]}, {"size": [5, 4], "counts": [21, -1]},
                {"size": [5, 4], "counts": 7}, "polygon"):
        problem = segmentation_problem(bad, 5, 4)
        assert problem and problem.endswith("; fix the json") and "\n" not in problem, bad
    assert segmentation_problem(None, 5, 4) is None and segmentation_problem([], 5, 4) is None
