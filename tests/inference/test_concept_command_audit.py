"""samhq-concept cases the mutation audit found unchecked: --counter-box boxes reach the predictor
as counter-examples (label 0), --detector-masks writes the detector's masks (with instances to
check: the old test's threshold kept none), --bf16 runs the predictor under bf16 autocast, and
the untrained-HQ note is printed once when the HQ decoder's masks are asked for (not with
--detector-masks)."""

import json

import cv2
import numpy as np
import pytest
import torch

from samhq_train.inference.concept import ConceptPredictor
from samhq_train.model import load_checkpoint
from tests.model.sam3.concept.ours_file import write_sam3_with_detector

from .test_concept_command import run

EXAMPLE = [10.0, 10.0, 60.0, 50.0]
COUNTER = [70.0, 20.0, 110.0, 80.0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("concept_command_audit")
    checkpoint, merges = write_sam3_with_detector(folder)
    image = (np.random.RandomState(2).rand(90, 120, 3) * 255).astype(np.uint8)
    image_path = folder / "yard.png"
    cv2.imwrite(str(image_path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return checkpoint, merges, image_path, image


@pytest.fixture(scope="module")
def model(files):
    return load_checkpoint(files[0]).eval()


def instances(out, stem="yard"):
    return json.loads((out / f"{stem}.json").read_text())


def assert_record_is(record, found):
    assert len(record["instances"]) == len(found)
    for i, instance in enumerate(record["instances"]):
        assert instance["score"] == pytest.approx(float(found.scores[i]), abs=1e-6)
        assert instance["box"] == pytest.approx(found.boxes[i].tolist(), abs=1e-3)


def test_counter_boxes_are_counter_examples(files, model, tmp_path):
    _, merges, _, image = files
    box_args = ["--exemplar-box", *map(str, EXAMPLE), "--counter-box", *map(str, COUNTER)]
    out = tmp_path / "out"
    assert run(files, out, "--threshold", "0.05", "--detector-masks", *box_args) == 0
    record = instances(out)
    assert record["exemplar_boxes"] == [EXAMPLE, COUNTER]
    assert record["exemplar_labels"] == [1, 0]
    predictor = ConceptPredictor(model, merges, threshold=0.05)
    predictor.set_image(image)
    boxes = np.array([EXAMPLE, COUNTER])
    found = predictor.predict(None, exemplar_boxes=boxes, exemplar_labels=[1, 0], refine=False)
    both = predictor.predict(None, exemplar_boxes=boxes, exemplar_labels=[1, 1], refine=False)
    assert len(found) > 0 and not np.array_equal(found.scores, both.scores[: len(found)])
    assert_record_is(record, found)
    for i, instance in enumerate(record["instances"]):  # --detector-masks: not refined
        assert instance["mask_score"] is None
        mask = cv2.imread(str(out / instance["mask"]), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(mask > 0, found.detector_masks[i])


def test_bf16_is_the_predictors_autocast(files, model, tmp_path):
    _, merges, _, image = files
    out = tmp_path / "out"
    assert run(files, out, "--text", "a red car", "--threshold", "0.1", "--bf16") == 0
    fast = ConceptPredictor(model, merges, threshold=0.1, amp_dtype=torch.bfloat16)
    fast.set_image(image)
    exact = ConceptPredictor(model, merges, threshold=0.1)
    exact.set_image(image)
    found = fast.predict("a red car", use_hq=False)
    assert not np.array_equal(found.scores, exact.predict("a red car", use_hq=False).scores)
    assert_record_is(instances(out), found)


def test_the_untrained_hq_note_is_printed_for_decoder_masks_only(files, tmp_path, capsys):
    assert run(files, tmp_path / "refined", "--text", "car") == 0
    notes = [x for x in capsys.readouterr().err.splitlines() if x.startswith("note:")]
    assert len(notes) == 1 and "no HQ token" in notes[0]
    assert run(files, tmp_path / "raw", "--text", "car", "--detector-masks") == 0
    assert "note:" not in capsys.readouterr().err
    assert run(files, tmp_path / "plain", "--text", "car", "--no-hq") == 0
    assert "note:" not in capsys.readouterr().err
