"""DAVIS void: GT pixels of value 255 are no object and are not scored (the DAVIS 2017 toolkit:
J over the non-void pixels, F on both masks with the void pixels removed). Checked on hand-built
frames whose J and F are worked out below, and on random frames against a direct re-derivation
of the DAVIS formulas (brute-force boundaries and matching, written here, not the package's)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from samhq_train.cli import video_eval
from samhq_train.evaluation.video import DAVIS_VOID_ID, SequenceScorer
from tests.evaluation.video_data import write_indexed

VOID = DAVIS_VOID_ID


def one_frame(pred: np.ndarray, gt: np.ndarray) -> dict:
    scorer = SequenceScorer("s", void_id=VOID)
    scorer.add_frame(pred, gt)
    return scorer.result().objects


def test_void_pixels_under_a_prediction_cost_nothing():
    # GT object 1: rows 2-5, cols 2-5 (16 px); void: rows 2-5, cols 6-7 (8 px). The prediction
    # covers rows 2-5, cols 2-7: outside the void it is the GT mask exactly -> J = F = 100.
    # (255 read as an object: two objects, J(1) = 16 / 24, J(255) = 0.)
    gt = np.zeros((10, 10), np.uint8)
    gt[2:6, 2:6], gt[2:6, 6:8] = 1, VOID
    pred = np.zeros_like(gt)
    pred[2:6, 2:8] = 1
    objects = one_frame(pred, gt)
    assert list(objects) == [1]
    assert objects[1].j == pytest.approx(100.0)
    assert objects[1].f == pytest.approx(100.0)


def test_void_pixels_leave_the_error_outside_them():
    # 10 x 10: the F radius is ceil(0.008 * sqrt(200)) = 1. GT object 1: rows 2-5, cols 2-5;
    # void: rows 2-5, col 6. Prediction rows 2-5, cols 2-7: outside the void it adds col 7.
    # J = 16 / (16 + 4) = 0.8.
    # F: GT boundary (a pixel that differs from its east, south or south-east neighbour) of the
    # 4 x 4 square at rows 2-5, cols 2-5: its left column and top row seen from the pixel before
    # (row 1 cols 1-5, col 1 rows 1-5: 9 px) and its own bottom row and right column (row 5
    # cols 2-5, col 5 rows 2-4: 7 px): 16 px. The prediction without the void is that square plus
    # col 7 rows 2-5; its boundary: the square's 16 px, less nothing, plus col 6 rows 1-5 (the
    # pixel before col 7, 5 px), plus col 7 rows 1-5 (row 1 from the south-east / south
    # neighbour, rows 2-5 own east edge: 5 px) = 26 px. Within 1 px of a GT boundary pixel: the
    # square's 16 and col 6 rows 1-5 (next to col 5 / row 1's corner at (1, 5)): 21; col 7 is
    # 2 away. Precision 21 / 26, recall 16 / 16.
    gt = np.zeros((10, 10), np.uint8)
    gt[2:6, 2:6], gt[2:6, 6] = 1, VOID
    pred = np.zeros_like(gt)
    pred[2:6, 2:8] = 1
    objects = one_frame(pred, gt)
    precision, recall = 21 / 26, 1.0
    assert objects[1].j == pytest.approx(80.0)
    assert objects[1].f == pytest.approx(100 * 2 * precision * recall / (precision + recall))
    assert (objects[1].j, objects[1].f) == pytest.approx(reference(pred, gt)[1])


def test_a_frame_all_void_scores_one_and_an_id_only_under_void_is_not_tracked():
    scorer = SequenceScorer("s", void_id=VOID)
    gt, pred = np.zeros((6, 8), np.uint8), np.zeros((6, 8), np.uint8)
    gt[1:3, 1:3] = 1
    pred[1:3, 1:3] = 1
    scorer.add_frame(pred, gt)
    gt2, pred2 = np.full((6, 8), VOID, np.uint8), np.full((6, 8), 2, np.uint8)
    scorer.add_frame(pred2, gt2)  # object 1 not scorable anywhere: J = F = 1; object 2 voided
    result = scorer.result()
    assert list(result.objects) == [1]
    assert (result.objects[1].j, result.objects[1].f) == (100.0, 100.0)
    assert scorer.tracked == {1}
    assert result.void_frames == 1


def test_without_void_id_255_is_an_object():  # video training's validation reads it so
    gt = np.zeros((10, 10), np.uint8)
    gt[2:6, 2:6], gt[2:6, 6:8] = 1, VOID
    scorer = SequenceScorer("s")
    scorer.add_frame(gt, gt)
    assert sorted(scorer.result().objects) == [1, VOID]


def _boundary(mask: np.ndarray) -> set[tuple[int, int]]:
    h, w = mask.shape
    out = set()
    for y in range(h):
        for x in range(w):
            yy, xx = min(y + 1, h - 1), min(x + 1, w - 1)
            if mask[y, x] != mask[y, xx] or mask[y, x] != mask[yy, x] or mask[y, x] != mask[yy, xx]:
                out.add((y, x))
    return out


def _matched(edge: set, other: set, radius: int) -> int:
    """How many pixels of `edge` have a pixel of `other` within `radius` (Euclidean)."""
    near = [
        (dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)
        if dy * dy + dx * dx <= radius * radius
    ]
    return sum(any((y + dy, x + dx) in other for dy, dx in near) for y, x in edge)


def reference(pred: np.ndarray, gt: np.ndarray) -> dict[int, tuple[float, float]]:
    """DAVIS 2017 on one frame, written out: void = GT 255; objects the other nonzero GT ids;
    J = |P & G & ~V| / |(P | G) & ~V| (1 if empty); F from the boundaries of P & ~V, G & ~V."""
    void = gt == VOID
    radius = math.ceil(0.008 * math.hypot(*gt.shape))
    scores = {}
    for obj in sorted(set(np.unique(gt).tolist()) - {0, VOID}):
        p, g = pred == obj, gt == obj
        union = np.count_nonzero((p | g) & ~void)
        j = 1.0 if union == 0 else np.count_nonzero(p & g & ~void) / union
        pe, ge = _boundary(p & ~void), _boundary(g & ~void)
        if not pe or not ge:
            precision, recall = (1.0 if not pe else 0.0), (1.0 if not ge else 0.0)
        else:
            precision = _matched(pe, ge, radius) / len(pe)
            recall = _matched(ge, pe, radius) / len(ge)
        f = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
        scores[obj] = (100 * j, 100 * f)
    return scores


def test_random_frames_with_void_equal_the_davis_formulas():
    rng = np.random.default_rng(3)
    checked = 0
    for shape in [(7, 9), (12, 15), (20, 13), (30, 40)]:
        for _ in range(6):
            gt = rng.choice(np.array([0, 1, 2, VOID], np.uint8), shape, p=[0.4, 0.25, 0.2, 0.15])
            # predictions: the GT with blocks changed, ids 0-3 (3: only in the prediction)
            pred = np.where(gt == VOID, rng.integers(0, 4, shape), gt).astype(np.uint8)
            flip = rng.random(shape) < 0.2
            pred[flip] = rng.integers(0, 4, int(flip.sum()))
            ours = {obj: (s.j, s.f) for obj, s in one_frame(pred, gt).items()}
            expected = reference(pred, gt)
            assert sorted(ours) == sorted(expected)
            for obj in expected:
                assert ours[obj] == pytest.approx(expected[obj], abs=1e-9)
                checked += 1
    assert checked >= 40


def test_the_command_scores_255_as_void_and_says_so(tmp_path, capsys):
    gt_ids = np.zeros((10, 10), np.uint8)
    gt_ids[2:6, 2:6], gt_ids[2:6, 6:8] = 1, VOID
    pred_ids = np.zeros_like(gt_ids)
    pred_ids[2:6, 2:8] = 1
    for t in range(3):
        write_indexed(tmp_path / "gt" / "seq" / f"{t:05d}.png", gt_ids)
        write_indexed(tmp_path / "pred" / "seq" / f"{t:05d}.png", pred_ids)
    record = video_eval.main(["--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred")])
    assert record["objects"] == 1 and record["J"] == pytest.approx(100.0)
    assert list(record["sequences"]["seq"]["objects"]) == ["1"]
    err = capsys.readouterr().err
    assert "1 scored GT frame(s) of 1 sequence(s) (first: seq) hold value 255: void" in err
