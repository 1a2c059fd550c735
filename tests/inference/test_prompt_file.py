"""The prompt-file format (samhq_train.inference.prompt_file) that scripts/predict.py reads."""

import json

import numpy as np
import pytest

from samhq_train.inference import PromptError
from samhq_train.inference.prompt_file import check_prompt_source, prompts_for, read_prompt_file


def test_reads_boxes_and_points_as_float_arrays(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"boxes": [[1, 2, 3, 4], [5, 6, 7, 8]], "points": [[1, 2, 1]]}))
    prompts = read_prompt_file(path)
    np.testing.assert_array_equal(prompts.boxes, [[1, 2, 3, 4], [5, 6, 7, 8]])
    np.testing.assert_array_equal(prompts.points, [[1, 2, 1]])
    assert prompts.points.dtype == np.float64
    assert prompts.boxes.dtype == np.float64 and prompts.box_ids == [0, 1] and prompts.count == 2
    assert prompts.problems == []
    path.write_text(json.dumps({"box": [1, 2, 3, 4]}))
    one = read_prompt_file(path)
    assert one.boxes.shape == (1, 4) and one.points is None and one.box_entries == 1
    path.write_text(json.dumps({"points": [[1, 2, 1], [3, 4, 0]], "boxes": []}))
    assert read_prompt_file(path).boxes is None and read_prompt_file(path).count == 1


def test_a_bad_box_entry_is_left_out_and_named_the_others_stay(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(
        json.dumps({"boxes": [[1, 2, 3, 4], [1, 2, 3], "x", [5, 6, 7, float("nan")], [5, 6, 7, 8]]})
    )
    prompts = read_prompt_file(path)
    np.testing.assert_array_equal(prompts.boxes, [[1, 2, 3, 4], [5, 6, 7, 8]])
    assert prompts.box_ids == [0, 4] and prompts.box_entries == 5
    assert prompts.problems == [
        f"{path} boxes[1]: must be [x0, y0, x1, y1], got [1, 2, 3]",
        f"{path} boxes[2]: must be [x0, y0, x1, y1], got 'x'",
        f"{path} boxes[3]: [5, 6, 7, nan] is not finite (NaN or inf): give pixel coordinates "
        "[x0, y0, x1, y1]",
    ]
    path.write_text(json.dumps({"box": [1, 2, 3]}))
    assert read_prompt_file(path).count == 0 and len(read_prompt_file(path).problems) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"cannot read prompt file .*a.json: .*line 1 column 2"),
        (json.dumps({"boxs": [1, 2, 3, 4]}), r"a.json must be a json object .*\['boxs'\]"),
        (json.dumps([1, 2, 3, 4]), "a.json must be a json object"),
        (
            json.dumps({"boxes": [], "points": []}),
            "a.json holds no prompt: give at least one entry",
        ),
        (
            json.dumps({"boxes": 5}),
            r'a.json: "boxes" must be a list of \[x0, y0, x1, y1\] lists, got 5',
        ),
        (
            json.dumps({"box": [1, 2, 3, 4], "points": [[1, 2]]}),
            r"a.json points\[0\]: must be \[x, y, label\], got \[1, 2\]",
        ),
        (
            json.dumps({"points": [[True, 2, 1]]}),
            r"a.json points\[0\]: must be \[x, y, label\], got \[True, 2, 1\]",
        ),
    ],
)
def test_a_prompt_file_its_image_cannot_use_is_one_error_naming_it(tmp_path, content, message):
    path = tmp_path / "a.json"
    path.write_text(content)
    with pytest.raises(PromptError, match=message):
        read_prompt_file(path)


def test_prompts_for_an_image_from_a_folder_or_one_file(tmp_path):
    (tmp_path / "cat.json").write_text(json.dumps({"points": [[3, 4, 1]]}))
    assert prompts_for(tmp_path / "images" / "cat.png", tmp_path).points.tolist() == [[3, 4, 1]]
    with pytest.raises(
        PromptError, match="no prompt for image .*dog.png: expected the file .*dog.json"
    ):
        prompts_for(tmp_path / "dog.png", tmp_path)
    assert prompts_for("any.png", tmp_path / "cat.json").boxes is None
    with pytest.raises(PromptError, match="is one file but 2 images were given"):
        prompts_for("any.png", tmp_path / "cat.json", n_images=2)
    check_prompt_source(tmp_path, n_images=2)  # a folder serves many images
