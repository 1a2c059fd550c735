"""Mutation audit (round 9) of evaluation/saco_concept.py: the detector's (float32, strict)
threshold keeps exactly the scores SA-Co counts (>= the threshold), also where the threshold's
nearest float32 lies below it."""

import numpy as np
import pytest

from samhq_train.evaluation.saco_concept import detector_threshold


@pytest.mark.parametrize("threshold", [0.5, 0.2, 0.7, 0.3, 0.9, 1e-30, 0.0])
def test_scores_above_the_detector_threshold_are_those_sa_co_counts(threshold):
    kept_above = np.float32(detector_threshold(threshold))
    least_kept = np.nextafter(kept_above, np.float32(1))
    assert float(least_kept) >= threshold  # every float32 kept counts
    assert float(kept_above) < threshold or threshold == 0.0  # the one below it does not
    assert float(np.float32(0.7)) < 0.7  # here the nearest float32 lies under the threshold
