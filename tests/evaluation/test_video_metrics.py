"""J, F and their means (samhq_train.evaluation.video) on hand-made masks: the DAVIS boundary
map, the disk dilation against a brute-force one, the edge cases of J and F, and which objects
and frames are scored and how means pool. Parity with vos-benchmark: test_video_parity.py."""

import math

import numpy as np
import pytest

from samhq_train.evaluation.video import (
    SequenceScorer,
    boundary_map,
    boundary_radius,
    contour_accuracy,
    dilate,
    disk,
    overall_score,
    region_similarity,
)


def brute_dilate(bmap: np.ndarray, radius: int) -> np.ndarray:
    """OR of bmap shifted by every offset of the disk, zeros from outside the image."""
    h, w = bmap.shape
    padded = np.zeros((h + 2 * radius, w + 2 * radius), bool)
    padded[radius : radius + h, radius : radius + w] = bmap
    out = np.zeros_like(bmap, bool)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy * dy + dx * dx <= radius * radius:
                out |= padded[radius + dy : radius + dy + h, radius + dx : radius + dx + w]
    return out


def test_boundary_map_marks_pixels_that_differ_from_east_south_or_south_east():
    mask = np.zeros((5, 6), bool)
    mask[1:3, 2:4] = True
    expected = np.zeros((5, 6), bool)
    expected[0, 1:4] = True  # above: differs from the south / south-east pixel
    expected[1:3, 1] = True  # left: differs from the east pixel
    expected[1, 3] = expected[2, 3] = True  # inside, right column: the east pixel is outside
    expected[2, 2] = True  # inside, bottom row: the south pixel is outside
    assert (boundary_map(mask) == expected).all()


def test_boundary_map_at_the_image_edge_repeats_the_last_row_and_column():
    full = np.ones((4, 5), bool)
    assert not boundary_map(full).any()  # a mask covering the image has no boundary
    mask = np.zeros((4, 5), bool)
    mask[:, 3:] = True
    # the last row compares only eastwards, the last column only southwards
    assert boundary_map(mask)[:, 2].all() and not boundary_map(mask)[:, 3:].any()
    mask = np.zeros((4, 5), bool)
    mask[3, 4] = True  # the bottom-right pixel alone: its neighbours see it
    assert sorted(zip(*np.nonzero(boundary_map(mask)))) == [(2, 3), (2, 4), (3, 3)]


@pytest.mark.parametrize("radius", [0, 1, 2, 3, 5, 8])
def test_disk_holds_the_offsets_within_the_radius(radius):
    offsets = np.arange(-radius, radius + 1)
    expected = offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2
    assert (disk(radius).astype(bool) == expected).all()


@pytest.mark.parametrize("seed", range(6))
def test_dilate_equals_the_brute_force_disk_dilation(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 40, 2)
    bmap = rng.random((h, w)) < rng.choice([0.002, 0.02, 0.3])
    for radius in (0, 1, 2, 4, 7):
        assert (dilate(bmap, radius) == brute_dilate(bmap, radius)).all(), radius
    assert not dilate(np.zeros((5, 7), bool), 3).any()


def test_boundary_radius_is_the_davis_tolerance_of_the_diagonal():
    assert boundary_radius(480, 854) == 8  # DAVIS 480p: 0.008 * 979.6 = 7.84
    assert boundary_radius(1080, 1920) == math.ceil(0.008 * math.hypot(1080, 1920)) == 18
    assert boundary_radius(40, 30) == 1


def test_region_similarity_edge_cases():
    empty, some = np.zeros((4, 4), bool), np.eye(4, dtype=bool)
    assert region_similarity(empty, empty) == 1.0
    assert region_similarity(some, empty) == region_similarity(empty, some) == 0.0
    half = some.copy()
    half[:2] = False
    assert region_similarity(half, some) == 0.5


def test_contour_accuracy_edge_cases():
    empty = np.zeros((20, 20), bool)
    square = empty.copy()
    square[5:12, 5:12] = True
    assert contour_accuracy(square, square, 1) == 1.0
    assert contour_accuracy(empty, empty, 1) == 1.0
    assert contour_accuracy(empty, square, 1) == 0.0  # P 1, R 0
    assert contour_accuracy(square, empty, 1) == 0.0  # P 0, R 1
    far = np.roll(square, 6, axis=1)
    assert contour_accuracy(far, square, 1) < contour_accuracy(far, square, 6) == 1.0


def frames_of(*ids_per_frame):
    return [np.array(ids, np.uint8).reshape(1, -1) for ids in ids_per_frame]


def test_an_object_is_scored_from_its_first_frame_in_gt_or_prediction_and_only_gt_ones_report():
    scorer = SequenceScorer("seq")
    gt = frames_of([1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 2, 0], [0, 0, 2, 0])
    pred = frames_of([1, 0, 0, 9], [1, 0, 2, 9], [0, 0, 2, 9], [0, 0, 2, 9])
    for p, g in zip(pred, gt):
        scorer.add_frame(p, g)
    result = scorer.result()
    assert sorted(result.objects) == [1, 2]  # 9: only in the prediction
    # object 1: hit, hit, missing from the prediction, gone from both (empty vs empty scores 1)
    assert result.objects[1].j == pytest.approx(75.0) and result.objects[1].frames == 4
    # object 2: first in the prediction at frame 1, where the GT has none (J 0), then hits
    assert result.objects[2].j == pytest.approx(200 / 3) and result.objects[2].frames == 3
    assert result.j == pytest.approx((75 + 200 / 3) / 2)


def test_the_overall_mean_pools_objects_not_sequences():
    one, three = SequenceScorer("one"), SequenceScorer("three")
    one.add_frame(*frames_of([1, 1, 0, 0], [1, 1, 0, 0]))  # J 100
    three.add_frame(*frames_of([0, 2, 3, 0], [1, 2, 3, 0]))  # J 0, 100, 100
    sequences = [one.result(), three.result()]
    overall = overall_score(sequences)
    assert overall.objects == 4
    assert overall.j == pytest.approx(75.0)  # not (100 + 66.7) / 2
    assert overall.jf == pytest.approx((overall.j + overall.f) / 2)
