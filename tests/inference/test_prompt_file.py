"""The prompt-file format (samhq_train.inference.prompt_file) that scripts/predict.py reads."""

import json

import numpy as np
import pytest

from samhq_train.inference import PromptError
from samhq_train.inference.prompt_file import prompts_for, read_prompt_file


def test_reads_boxes_and_points_as_float_arrays(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"boxes": [[1, 2, 3, 4], [5, 6, 7, 8]], "points": [[1, 2, 1]]}))
    prompts = read_prompt_file(path)
    np.testing.assert_array_equal(prompts["boxes"], [[1, 2, 3, 4], [5, 6, 7, 8]])
    np.testing.assert_array_equal(prompts["points"], [[1, 2, 1]])
    assert prompts["boxes"].dtype == np.float64
    path.write_text(json.dumps({"box": [1, 2, 3, 4]}))
    assert read_prompt_file(path)["boxes"].shape == (1, 4) and read_prompt_file(path)["points"] is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read prompt file .*a.json"),
        (json.dumps({"boxs": [1, 2, 3, 4]}), r"a.json must be a json object .*\['boxs'\]"),
        (json.dumps([1, 2, 3, 4]), "a.json must be a json object"),
        (json.dumps({"boxes": [[1, 2, 3]]}), r'a.json: "boxes" must be \[x0, y0, x1, y1\]'),
    ],
)
def test_a_bad_prompt_file_is_one_error_naming_it(tmp_path, content, message):
    path = tmp_path / "a.json"
    path.write_text(content)
    with pytest.raises(PromptError, match=message):
        read_prompt_file(path)


def test_prompts_for_an_image_from_a_folder_or_one_file(tmp_path):
    (tmp_path / "cat.json").write_text(json.dumps({"points": [[3, 4, 1]]}))
    assert prompts_for(tmp_path / "images" / "cat.png", tmp_path)["points"].tolist() == [[3, 4, 1]]
    with pytest.raises(PromptError, match="no prompt for image .*dog.png: expected the file .*dog.json"):
        prompts_for(tmp_path / "dog.png", tmp_path)
    assert prompts_for("any.png", tmp_path / "cat.json")["boxes"] is None
    with pytest.raises(PromptError, match="is one file but 2 images were given"):
        prompts_for("any.png", tmp_path / "cat.json", n_images=2)
