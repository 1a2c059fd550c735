"""Audit 21: coco_masks.segmentation_problem's compressed-RLE reader (vectorised since 9d4be38)
at its edges, and its polygon rules (pycocotools' reading: the first polygon of >= 3 points)."""

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from samhq_train.coco_masks import _string_runs, segmentation_problem

BAD_RLE = "the RLE 'counts' string must be COCO's compressed runs"


def rle(counts, h=2, w=2):
    return {"size": [h, w], "counts": counts}


def test_a_run_written_in_twelve_characters_is_read_as_pycocotools_reads_it():
    """4 (all of a 2x2 image background) with ten continuation characters of zero bits: 55 bits
    of shift, still an int64. Mutant: the refusal from 11 characters on."""
    padded = "T" + "P" * 10 + "0"
    assert mask_utils.decode(rle(padded.encode())).sum() == 0  # pycocotools: 4 zeros
    assert segmentation_problem(rle(padded), 2, 2) is None
    assert segmentation_problem(rle("4"), 2, 2) is None


def test_an_empty_string_has_no_runs():
    """segmentation_problem refuses "" before reading it; the reader itself says None too."""
    assert _string_runs("") is None


@pytest.mark.parametrize("counts", ["4P", "4p", "4\u00e9", "P" * 12 + "0"])
def test_empty_cut_out_of_range_non_ascii_or_overlong_counts_are_refused(counts):
    """Ending inside a run (a last character with 0x20); 'p' (code 64,
    past the 6 bits); a non-ASCII character; 13 characters (past any int64). Each one line."""
    assert BAD_RLE in segmentation_problem(rle(counts), 2, 2)


def test_negative_and_relative_runs_read_as_pycocotools_writes_them():
    """A 6x5 mask whose runs need the differences (from the fourth run on) in both parities."""
    mask = np.zeros((6, 5), np.uint8, order="F")
    mask[1:3, 1], mask[0:5, 2], mask[4, 3], mask[2:6, 4] = 1, 1, 1, 1
    counts = mask_utils.encode(mask)["counts"].decode()
    assert segmentation_problem(rle(counts, 6, 5), 6, 5) is None
    assert _string_runs(counts).tolist() == runs_of(mask)


def runs_of(mask):
    """The run lengths of a mask in column order, a background run first (COCO's RLE)."""
    flat = mask.flatten(order="F")
    edges = np.flatnonzero(np.diff(flat)) + 1
    bounds = [0, *edges.tolist(), flat.size]
    runs = [b - a for a, b in zip(bounds, bounds[1:])]
    return runs if flat[0] == 0 else [0, *runs]


def test_only_the_first_polygon_needs_three_points():
    square = [0, 0, 4, 0, 4, 4, 0, 4]
    assert segmentation_problem([square, [1, 1]], 8, 8) is None  # a later short one: nothing
    assert segmentation_problem([square, [1, 1, 2, 2]], 8, 8) is None
    for first in ([1, 1, 2, 2], [1, 1]):
        said = segmentation_problem([first, square], 8, 8)
        assert said.startswith("the first segmentation polygon must have at least 3 (x, y) "
                               f"points (pycocotools cannot read {first}")


@pytest.mark.parametrize("polygon", [[0, 0, 4, 0, 4], [0, 0, 4, 0, 4, "4"], (0, 0, 4, 0, 4, 4)])
def test_an_odd_length_or_non_number_polygon_is_refused(polygon):
    said = segmentation_problem([[0, 0, 4, 0, 4, 4], polygon], 8, 8)
    assert said == "a segmentation polygon must be a list of (x, y) number pairs; fix the json"
