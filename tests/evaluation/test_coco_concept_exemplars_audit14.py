"""Exemplar boxes of the COCO concept evaluation (audit 14; no model: draw_exemplars on a GT
dict): a json box reaching out of a non-square image is clamped as Meta's datapoints clamp it,
a box inside is asked exactly (float64), a box empty in height is refused as one empty in
width, and a category that is not prompted is neither drawn nor checked."""

import numpy as np
import pytest

from samhq_train.evaluation.coco import load_coco
from samhq_train.evaluation.coco_concept_exemplars import draw_exemplars
from samhq_train.evaluation.errors import EvaluationError

HEIGHT, WIDTH = 40, 60  # not square: a swapped height and width moves the clamps


def gt(*boxes) -> dict:
    """One image; each (category id, [x, y, w, h]) its one instance of the category."""
    annotations = [{"id": i + 1, "image_id": 7, "category_id": c, "bbox": list(b),
                    "area": 1.0, "iscrowd": 0, "segmentation": []}
                   for i, (c, b) in enumerate(boxes)]
    return {"images": [{"id": 7, "file_name": "7.png", "height": HEIGHT, "width": WIDTH}],
            "annotations": annotations,
            "categories": [{"id": c, "name": f"thing {c}"} for c in (1, 2, 3, 4)]}


def drawn(*boxes, categories=(1, 2, 3, 4)) -> dict:
    prompts = draw_exemplars(load_coco(gt(*boxes)), {c: f"thing {c}" for c in categories},
                             "visual", seed=0)
    return {c: box for (_, c), box in prompts.boxes.items()}


def test_a_box_out_of_the_image_is_clamped_as_metas_and_one_inside_is_exact():
    """Mutants: the clamp's height and width swapped; x1 or y1 not clamped (or y1 to the
    width); the box read as float32."""
    boxes = drawn((1, [50, 30, 20, 20]), (2, [-5, -3, 10, 10]), (3, [1.1, 2.2, 3.3, 4.4]),
                  (4, [45, 10, 30, 45]))
    assert boxes[1].tolist() == [50, 30, 60, 40]  # x1, y1 at the image's width, height
    assert boxes[2].tolist() == [0, 0, 10, 10]  # x, y into the image, w and h kept (Meta's)
    assert boxes[3].dtype == np.float64
    assert boxes[3].tolist() == [1.1, 2.2, 1.1 + 3.3, 2.2 + 4.4]
    assert boxes[4].tolist() == [45, 10, 60, 40]  # h=45 clamped to the height, then y1 too


def test_a_box_empty_in_height_is_refused():
    """Mutant: only the width checked for an empty box."""
    with pytest.raises(EvaluationError, match=r"annotation id 1 \(image 7, category 1\)"):
        drawn((1, [12, 10, 16, 0]))
    with pytest.raises(EvaluationError, match="bbox \\[12, 45, 16, 5\\]"):
        drawn((1, [12, 45, 16, 5]))  # below the image: y clamped to 40, empty inside it


def test_a_category_not_prompted_is_neither_drawn_nor_checked():
    """An empty box of a category the evaluation does not ask does not refuse the run."""
    assert set(drawn((1, [2, 3, 10, 10]), (2, [12, 10, 0, 16]), categories=(1,))) == {1}
