"""samhq-amg's bbox is the official generators' [x, y, w, h] (docs/segment-everything.md): w and h
are the last column and row minus the first, one less than pycocotools' toBbox of the same mask."""

import json

import cv2
from pycocotools import mask as mask_utils

from samhq_train.inference.amg_command import main as amg_main

from .amg_reference import disc_image


def test_bbox_width_and_height_are_one_less_than_pycocotools(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), disc_image())
    argv = ["--image", str(tmp_path / "a.png"), "--out", str(tmp_path / "out"),
            "--points-per-side", "2", "--pred-iou-thresh", "0", "--stability-score-thresh", "0"]
    assert amg_main(argv) == 0
    annotations = json.loads((tmp_path / "out" / "a.json").read_text())["annotations"]
    assert annotations
    for a in annotations:
        x, y, w, h = mask_utils.toBbox(a["segmentation"]).tolist()
        assert a["bbox"] == [x, y, w - 1, h - 1]
