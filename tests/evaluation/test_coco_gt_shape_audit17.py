"""read_coco_gt refuses a GT json without its 'images' (pycocotools indexes it without an
error). Mutation audit 17."""

import json

import pytest

from samhq_train.evaluation.coco_inputs import read_coco_gt
from samhq_train.evaluation.errors import EvaluationError


@pytest.mark.parametrize("images", [None, {}], ids=["missing", "a-mapping"])
def test_a_gt_json_without_a_list_of_images_is_one_line(tmp_path, images):
    """Mutant: 'images' left out of the keys checked."""
    gt = {"annotations": [], "categories": [{"id": 1, "name": "x"}]}
    if images is not None:
        gt["images"] = images
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    with pytest.raises(EvaluationError) as info:
        read_coco_gt(path)
    assert str(info.value) == (
        f"{path} is not a COCO GT json ('images' missing or not a list of objects); it needs "
        "'images', 'annotations' and 'categories'"
    )
