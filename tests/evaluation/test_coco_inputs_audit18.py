"""Mutation audit 18: coco_inputs' checks before the model: text prompts need each GT box (the
detector's row and the exemplars read it); an entry named like an image that is a folder is no
image. (That the text prompts' images are looked for before the model, those the run reads:
test_concept_asked_images.py, through the check stage that does it.)"""

import json

import pytest

from samhq_train.evaluation.coco_inputs import read_coco_inputs, read_concept_inputs
from samhq_train.evaluation.errors import EvaluationError
from tests.model.sam3.concept.synthetic_bpe import write_merges_file

ANN = {"id": 5, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 4, 1, 4, 4]],
       "area": 4.5, "bbox": [1, 1, 3, 3], "iscrowd": 0}
GT = {
    "images": [{"id": 1, "file_name": "1.png", "height": 8, "width": 8}],
    "annotations": [ANN],
    "categories": [{"id": 1, "name": "cat"}],
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("coco_inputs_audit18")
    (folder / "gt.json").write_text(json.dumps(GT))
    (folder / "dets.json").write_text(json.dumps(
        [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5}]))
    for name in ("images", "folder_image"):
        (folder / name).mkdir()
    (folder / "images" / "1.png").write_bytes(b"")  # looked for, never read
    (folder / "folder_image" / "1.png").mkdir()  # a folder named like the image
    write_merges_file(folder / "bpe.txt.gz")
    return folder


def test_text_prompts_refuse_a_gt_box_left_out(files, tmp_path):
    no_box = tmp_path / "gt.json"
    no_box.write_text(json.dumps({**GT, "annotations": [
        {k: v for k, v in ANN.items() if k != "bbox"}]}))
    read_concept_inputs(files / "gt.json", files / "images", files / "bpe.txt.gz")
    with pytest.raises(EvaluationError, match='annotations\\[0\\] \\(id 5\\) has no "bbox"'):
        read_concept_inputs(no_box, files / "images", files / "bpe.txt.gz")


def test_a_folder_named_like_an_image_is_not_the_image(files):
    folder = files / "folder_image"
    with pytest.raises(EvaluationError, match=f"^{folder / '1.png'}: image 1 of .* is not there"):
        read_coco_inputs(files / "gt.json", folder, files / "dets.json")
