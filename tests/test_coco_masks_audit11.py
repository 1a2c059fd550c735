"""Mutation audit (round 11) of coco_masks.py: the untrusted-json check's edges (bools, floats,
a bare triangle, odd lengths, entries that are not lists, empty counts), the decoders' and
encoders' types and shapes, and empty images, against pycocotools' own encoder / decoder."""

import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch

from samhq_train.coco_masks import (
    compressed_rle,
    decode_mask,
    decode_segmentation,
    encode_mask,
    segmentation_problem,
    uncompressed_rle,
)


@pytest.mark.parametrize("bad", [
    {"size": [5, 4], "counts": [True, 19]},  # a bool is no count, though True == 1
    {"size": [5, 4], "counts": [0, 20.0]},  # nor a float, though it sums right
    {"size": [5, 4], "counts": ""},
    {"size": [5, 4], "counts": None},
    {"size": [5, 4]},
    [[0, 0, True, 0, 1, 1]],
    [[0, 0, 4, 0, 4, 4, 0]],  # an odd number of values
    [[0, 0, 4, 0, 4, 4], 5],
    [[0, 0, 4, 0, 4, 4], "abcdef"],
    [[0, 0, 4, 0, 4, 4], {"x": 1}],
    [[0, 0, 4, 0, 4, 4], None],
    [[0, 0, 4, 0, float("inf"), 4]],
])
def test_more_malformed_segmentations_are_problems(bad):
    problem = segmentation_problem(bad, 5, 4)
    assert problem and problem.endswith("; fix the json") and "\n" not in problem


def test_a_bare_triangle_is_a_polygon():
    triangle = [[0.5, 0.5, 3.5, 0.5, 0.5, 4.5]]
    assert segmentation_problem(triangle, 5, 4) is None
    expected = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(triangle, 5, 4)))
    assert expected.any()
    np.testing.assert_array_equal(decode_segmentation(triangle, 5, 4), expected)


def test_decoders_types_and_encoders_inputs():
    rng = np.random.default_rng(0)
    mask = (rng.random((7, 5)) < 0.5).astype(np.uint8)
    reference = mask_utils.encode(np.asfortranarray(mask))
    compressed = encode_mask(mask)
    assert compressed == {"size": [7, 5], "counts": reference["counts"].decode("ascii")}
    assert encode_mask(torch.from_numpy(mask).bool()) == compressed
    for rle in (compressed, uncompressed_rle(mask), dict(reference)):
        decoded = decode_mask(rle)
        assert decoded.dtype == bool and decoded.shape == (7, 5)
        np.testing.assert_array_equal(decoded, mask.astype(bool))
    decoded = decode_segmentation(uncompressed_rle(mask), 7, 5)
    assert decoded.dtype == np.uint8 and set(np.unique(decoded)) <= {0, 1}
    with pytest.raises(ValueError, match="H x W"):
        encode_mask(mask[None])
    as_str = compressed_rle(dict(reference))  # bytes counts, as pycocotools gives them
    assert as_str == compressed and isinstance(as_str["counts"], str)
    assert all(type(s) is int for s in compressed_rle(uncompressed_rle(mask))["size"])


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0)])
def test_empty_images_encode_as_pycocotools(shape):
    empty = np.zeros(shape, np.uint8)
    reference = mask_utils.encode(np.asfortranarray(empty))
    plain = uncompressed_rle(empty)
    assert plain == {"size": list(shape), "counts": [0]}
    assert compressed_rle(plain) == encode_mask(empty) == {
        "size": list(shape), "counts": reference["counts"].decode("ascii")}
