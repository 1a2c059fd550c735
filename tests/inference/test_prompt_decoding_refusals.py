"""decode_usable's bookkeeping of refused prompts (mutation audit round 6), with a stand-in for the
predictor that refuses, as SamHQPredictor does, a box reaching outside the image: the boxes it
takes are decoded, one line per box it refuses, and nothing (no crash) when it refuses them all."""

import numpy as np

from samhq_train.inference.batch_plan import BatchOptions
from samhq_train.inference.predictor import PromptError
from samhq_train.inference.prompt_decoding import decode_usable
from samhq_train.inference.prompt_file import ImagePrompts


class BoxCheckingPredictor:
    """Refuses a box past the image's right edge; else one mask per box (its x0 as score)."""

    original_size = (6, 8)

    def predict(self, point_coords, point_labels, box, multimask_output, **_):
        if box is not None and (box[:, 2] > 8).any():
            raise PromptError("box outside the image")
        n = 1 if box is None else len(box)
        masks = np.zeros((n, 1, 6, 8), bool)
        scores = np.zeros((n, 1)) if box is None else box[:, :1].astype(float)
        return masks, scores, None


def prompts(*boxes) -> ImagePrompts:
    return ImagePrompts(np.array(boxes, np.float64), None, box_ids=[3, 5, 7][: len(boxes)],
                        box_entries=len(boxes), source="p.json")


def test_refused_boxes_are_left_out_with_a_line_each(tmp_path):
    options = BatchOptions(tmp_path)
    given = prompts([0, 0, 4, 4], [1, 0, 20, 4], [2, 0, 6, 6])
    (kept, masks, scores), problems = decode_usable(BoxCheckingPredictor(), given, options, 1 << 20)
    assert kept.box_ids == [3, 7] and masks.shape == (2, 6, 8) and scores.tolist() == [0.0, 2.0]
    assert problems == ["p.json boxes[5]: box outside the image"]


def test_all_boxes_refused_is_nothing_to_write(tmp_path):
    (kept, masks, scores), problems = decode_usable(
        BoxCheckingPredictor(), prompts([1, 0, 20, 4], [2, 0, 30, 6]), BatchOptions(tmp_path),
        1 << 20)
    assert (kept, masks, scores) == (None, None, None)
    assert problems == ["p.json boxes[3]: box outside the image",
                        "p.json boxes[5]: box outside the image"]
