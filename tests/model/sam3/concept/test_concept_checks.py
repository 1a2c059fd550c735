"""ConceptPredictor checks its confidence threshold first: at construction before the detector is
built or the merges file read, and a per-call predict(threshold=) before the detector runs. A bad
value (outside [0, 1), NaN, not a number) is one PromptError line (a UserError)."""

import numpy as np
import pytest

from samhq_train.errors import UserError
from samhq_train.inference import concept as concept_module
from samhq_train.inference.concept import ConceptPredictor
from samhq_train.inference.predictor import PromptError
from samhq_train.model import load_checkpoint

from .ours_file import write_sam3_with_detector

BAD = [-0.1, 1.0, 1.5, float("nan"), float("inf"), "0.5", None, True, False, [0.5]]


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    checkpoint, merges = write_sam3_with_detector(tmp_path_factory.mktemp("concept_checks"))
    found = ConceptPredictor(load_checkpoint(checkpoint).eval(), merges)
    found.set_image((np.random.RandomState(3).rand(60, 80, 3) * 255).astype(np.uint8))
    return found


@pytest.mark.parametrize("bad", BAD)
def test_a_bad_threshold_is_refused_before_the_detector_is_built(bad, monkeypatch, tmp_path):
    def must_not_run(model):
        raise AssertionError("the detector was built before the threshold was checked")

    monkeypatch.setattr(concept_module, "concept_detector", must_not_run)
    with pytest.raises(PromptError, match=r"threshold must be a number in \[0, 1\)") as err:
        ConceptPredictor(object(), tmp_path / "missing_merges.txt.gz", threshold=bad)
    assert isinstance(err.value, UserError) and "\n" not in str(err.value)


@pytest.mark.parametrize("bad", [b for b in BAD if b is not None])
def test_a_bad_per_call_threshold_is_refused_before_the_detector_runs(predictor, bad, monkeypatch):
    def must_not_run(*args):
        raise AssertionError("the detector ran before the threshold was checked")

    monkeypatch.setattr(predictor, "_detect", must_not_run)
    with pytest.raises(PromptError, match=r"threshold must be a number in \[0, 1\)") as err:
        predictor.predict("a cat", threshold=bad)
    assert isinstance(err.value, UserError) and "\n" not in str(err.value)


@pytest.mark.parametrize("good", [0, 0.0, 0.5, np.float32(0.25), 0.999])
def test_good_thresholds_are_taken(predictor, good):
    everything = predictor.predict("a cat", refine=False, threshold=0.0)
    found = predictor.predict("a cat", refine=False, threshold=good)
    assert len(found) == int((everything.scores > float(good)).sum())


def test_refine_passes_hq_token_only_to_the_interactive_predictor(predictor):
    """refine(hq_token_only=True) is the interactive predictor's HQ-token-only single mask for
    the same boxes (what coco.hq_token_only scores), not the HQ mask added to SAM's."""
    boxes = np.array([[5.0, 8.0, 50.0, 40.0], [30.0, 10.0, 75.0, 55.0]])
    for only in (False, True):
        masks, scores = predictor.refine(boxes, use_hq=True, hq_token_only=only, return_logits=True)
        want, want_scores, _ = predictor.interactive.predict(
            box=boxes, multimask_output=False, hq_token_only=only, use_hq=True, return_logits=True
        )
        np.testing.assert_array_equal(masks, want[:, 0])
        np.testing.assert_array_equal(scores, want_scores[:, 0])
    summed = predictor.refine(boxes, use_hq=True, return_logits=True)[0]
    assert np.abs(masks - summed).max() > 1e-3  # the two modes differ on this model
