"""Box-prompt COCO evaluation reads each image against the GT json's size (read_gt_image, the
check SAM 3's concept evaluation shares): an image of another size than its json entry is one
line naming the file and both sizes, raised in the main process when a loader worker reads it,
before any result is written."""

import json

import pytest

from samhq_train.evaluation.coco_runner import evaluate_coco_model
from samhq_train.evaluation.errors import EvaluationError
from tests.evaluation.coco_synthetic import box_decoder, write_coco


@pytest.mark.parametrize("num_workers", [0, 1])
def test_an_image_of_another_size_than_the_json_is_one_line(tmp_path, tiny_model, num_workers):
    gt = write_coco(tmp_path)
    gt["images"][1]["height"] = 95  # 2.png is 128 x 96
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    dets = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.9}
            for a in gt["annotations"]]
    tiny_model.decode = box_decoder(tiny_model)
    with pytest.raises(EvaluationError) as err:
        evaluate_coco_model(tiny_model, detections=dets, annotation_file=tmp_path / "gt.json",
                            image_dir=tmp_path / "images", out_dir=tmp_path / "out",
                            num_workers=num_workers, progress=False)
    assert str(err.value) == (
        f"{tmp_path / 'images' / '2.png'}: the GT json says 128x95 but the image is 128x96 (WxH); "
        "fix the json or the image"
    )
    assert not (tmp_path / "out").exists()
