"""samhq-predict --multimask writes one mask per prompt in every family: SAM 1's HQ decoder picks
SAM's best-scored mask itself; HQ-SAM 2 / 3 return the HQ mask added to each of SAM's three, of
which the command keeps the best-scored (it wrote them all under the first boxes' names before)."""

import json

import cv2
import numpy as np
import pytest

from samhq_train.cli import predict as predict_command
from samhq_train.inference import SamHQPredictor
from samhq_train.model import build_sam_hq, load_checkpoint, save_checkpoint
from tests.reference import randomize_

from .amg_reference import disc_image

BOXES = [[40, 30, 200, 150], [10, 60, 120, 180]]


@pytest.mark.parametrize("variant", ["vit_demo", "sam2.1_hq_hiera_demo", "sam3_hq_demo"])
def test_multimask_writes_the_best_scored_mask_of_each_box(variant, tmp_path):
    model = randomize_(build_sam_hq(variant, seed=4), seed=4)
    checkpoint = save_checkpoint(model, tmp_path / "model.pth", "sam_hq")
    image_path = tmp_path / "discs.png"
    image = disc_image()
    cv2.imwrite(str(image_path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    boxes = [arg for box in BOXES for arg in ["--box", *map(str, box)]]
    out = tmp_path / "out"
    predict_command.main(
        [str(image_path), "--checkpoint", str(checkpoint), *boxes, "--multimask", "--out",
         str(out), "--device", "cpu"]
    )
    listing = json.loads((out / "predictions.json").read_text())
    (record,) = listing.values()
    assert len(record["masks"]) == len(record["scores"]) == len(BOXES)

    predictor = SamHQPredictor(load_checkpoint(checkpoint))
    predictor.set_image(image)
    masks, scores, _ = predictor.predict(box=np.array(BOXES), multimask_output=True)
    assert masks.shape[1] == (1 if variant == "vit_demo" else 3)
    for i in range(len(BOXES)):
        best = scores[i].argmax()
        written = cv2.imread(str(out / f"discs_mask{i}.png"), cv2.IMREAD_GRAYSCALE)
        np.testing.assert_array_equal(written > 0, masks[i, best])
        assert record["scores"][i] == round(float(scores[i, best]), 6)
    first, second = (cv2.imread(str(out / f"discs_mask{i}.png")) for i in range(2))
    assert not np.array_equal(first, second)  # each box's own mask
