"""A json or list file that starts with a UTF-8 byte-order mark (Windows tools, an editor's "UTF-8
with BOM") is read as the same file without it, by every reader of a user's json / text file:
user_files.read_text and the readers that open their file themselves (data=coco's pycocotools,
concept fine-tuning's json, SA-Co/VEval inputs, video lists)."""

import json

import cv2
import numpy as np

from samhq_train.data import CocoInstanceDataset
from samhq_train.data.concept_coco import read_concept_coco
from samhq_train.evaluation.coco import load_coco
from samhq_train.evaluation.video.concept_inputs import read_json
from samhq_train.evaluation.video.folders import read_video_list
from samhq_train.user_files import read_text
from tests.data.concept_helpers import write_concept_set

BOM = "\ufeff"


def _with_bom(path, text: str):
    path.write_bytes((BOM + text).encode("utf-8"))
    return path


def _coco(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    data = {
        "images": [{"id": 1, "file_name": "a.png", "height": 8, "width": 8}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 8,
                         "segmentation": [[1, 1, 5, 1, 5, 5]]}],
        "categories": [{"id": 1, "name": "thing"}],
    }
    return _with_bom(tmp_path / "ann.json", json.dumps(data)), data


def test_read_text_drops_the_mark(tmp_path):
    assert read_text(_with_bom(tmp_path / "a.json", '{"a": 1}')) == '{"a": 1}'
    (tmp_path / "plain.json").write_text("é", encoding="utf-8")
    assert read_text(tmp_path / "plain.json") == "é"  # UTF-8, whatever the locale


def test_coco_training_set_and_evaluation_gt(tmp_path):
    path, data = _coco(tmp_path)
    dataset = CocoInstanceDataset(tmp_path, path)
    assert len(dataset) == 1 and dataset.coco.dataset == data
    assert load_coco(path).dataset == data


def test_concept_coco(tmp_path):
    annotation_file, image_dir = write_concept_set(tmp_path)
    plain = read_concept_coco(annotation_file, image_dir)
    _with_bom(annotation_file, annotation_file.read_text())
    assert read_concept_coco(annotation_file, image_dir) == plain


def test_saco_veval_json_and_video_list(tmp_path):
    assert read_json(_with_bom(tmp_path / "gt.json", '{"videos": []}'), "--gt") == {"videos": []}
    listed = read_video_list(_with_bom(tmp_path / "val.txt", "bear\ncows\n"))
    assert listed.names == ["bear", "cows"]
