"""coco_masks (the one home of COCO segmentation decoding / encoding) against pycocotools' own
COCO.annToMask, on odd image sizes, merged polygons, uncompressed and compressed RLE."""

import numpy as np
import pycocotools.mask as mask_utils
import pytest
from pycocotools.coco import COCO

from samhq_train.coco_masks import (
    _string_runs,
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


def test_a_later_polygon_of_fewer_than_3_points_is_read_as_pycocotools_reads_it():
    """A later polygon of 0-2 points (an annotation tool's stray click) covers no pixel in
    pycocotools and is none here; a first one is a problem: pycocotools reads 4 numbers as a box
    and fails, and fails on 2 or 0."""
    square = [0.5, 0.5, 3.5, 0.5, 3.5, 3.5, 0.5, 3.5]
    for stray in ([], [1, 1], [1, 1, 3, 2]):
        polygons = [square, stray]
        assert segmentation_problem(polygons, 5, 4) is None
        np.testing.assert_array_equal(decode_segmentation(polygons, 5, 4),
                                      _coco_mask([square], 5, 4))
        problem = segmentation_problem([stray, square], 5, 4)
        assert problem.startswith("the first segmentation polygon must have at least 3 (x, y) "
                                  "points") and problem.endswith("; fix the json")


def test_segmentation_problems_are_one_sentence_each():
    for bad in ([[1, 2, 3, 4]], [[0, 0, 1, float("nan"), 2, 2]], {"size": [4, 5], "counts": "x"},
                {"size": [5, 4], "counts": [3, 2, 1]}, {"size": [5, 4], "counts": [21, -1]},
                {"size": [5, 4], "counts": 7}, "polygon"):
        problem = segmentation_problem(bad, 5, 4)
        assert problem and problem.endswith("; fix the json") and "\n" not in problem, bad
    assert segmentation_problem(None, 5, 4) is None and segmentation_problem([], 5, 4) is None


def _random_runs(rng, height: int, width: int) -> list[int]:
    """Runs summing to height x width, with empty runs and runs of hundreds of pixels."""
    cuts = np.sort(rng.integers(0, height * width + 1, rng.integers(0, 12)))
    return np.diff(np.concatenate(([0], cuts, [height * width]))).tolist()


def test_compressed_counts_read_as_pycocotools_encodes_them():
    """The runs read back from pycocotools' own compressed strings (long runs, empty runs,
    negative deltas); such a string is a problem only for an image of another pixel count."""
    rng = np.random.default_rng(7)
    for _ in range(300):
        height, width = (int(v) for v in rng.integers(1, 60, 2))
        runs = _random_runs(rng, height, width)
        string = mask_utils.frPyObjects(
            {"size": [height, width], "counts": runs}, height, width)["counts"].decode("ascii")
        assert _string_runs(string).tolist() == runs
        assert segmentation_problem({"size": [height, width], "counts": string},
                                    height, width) is None
        assert segmentation_problem({"size": [height + 1, width], "counts": string},
                                    height + 1, width)


def test_compressed_counts_of_long_runs_read_as_pycocotools_encodes_them():
    """Runs of millions of pixels (5-6 characters each) and deltas of either sign between them."""
    for runs in ([0, 25_000_000], [12_345_678, 1, 7_654_321, 5_000_000, 0, 3],
                 [3, 9_999_990, 7]):
        total = sum(runs)
        string = mask_utils.frPyObjects(
            {"size": [total, 1], "counts": runs}, total, 1)["counts"].decode("ascii")
        assert _string_runs(string).tolist() == runs
        assert segmentation_problem({"size": [total, 1], "counts": string}, total, 1) is None


@pytest.mark.parametrize("counts", [
    "x",  # a character pycocotools reads as a run of 8 (and leaves 12 pixels undecoded)
    "04",  # runs 0, 4: 16 pixels of the 5 x 4 left to uninitialised memory by pycocotools
    "0" + "\u00e9",
    "0`h9",  # a 100 x 100 all-ones mask
    "55?F",  # runs 5, 5, 15, -5: the right sum with a negative run
    "<8c",  # runs 12, 8 then the string ends inside a run (0x20 set on its last character)
    "p<8",  # runs 0, 12, 8 but 'p' is past the 64 characters COCO's encoder writes
])
def test_compressed_counts_that_do_not_cover_the_image_are_problems(counts):
    problem = segmentation_problem({"size": [5, 4], "counts": counts}, 5, 4)
    assert problem and problem.endswith("; fix the json") and "\n" not in problem
