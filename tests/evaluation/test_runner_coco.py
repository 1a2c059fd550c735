"""The COCO runner (detections as box prompts) on two synthetic images: known AP, the official
predictor's encoding, from the config, the family's input rule and the boxes' scaling."""

import json

import pytest
import torch

from samhq_train.evaluation.coco_runner import evaluate_coco_model
from samhq_train.evaluation.entry import evaluate
from samhq_train.evaluation.errors import EvaluationError
from tests.evaluation.coco_synthetic import box_decoder, write_coco
from tests.evaluation.eval_configs import eval_cfg


def test_coco_box_masks_give_known_ap(tmp_path, tiny_model):
    gt = write_coco(tmp_path)
    dets = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.9}
            for a in gt["annotations"]]
    tiny_model.decode = box_decoder(tiny_model)
    embedding = (torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1, 1))  # unused by box_decoder
    tiny_model.encode = lambda images, content_sizes=None: embedding
    kwargs = {"annotation_file": tmp_path / "gt.json", "image_dir": tmp_path / "images",
              "progress": False}
    full = evaluate_coco_model(tiny_model, detections=dets, out_dir=tmp_path / "out", **kwargs)
    for model in ("sam", "hq"):  # every mask equals its GT: AP 1
        assert full["metrics"][model]["mask_AP"] == pytest.approx(1.0)
        assert full["metrics"][model]["boundary_AP"] == pytest.approx(1.0)
    written = json.loads((tmp_path / "out" / "coco_results_hq.json").read_text())
    assert len(written) == 3 and all(r["segmentation"]["size"] == [96, 128] for r in written)
    assert "| SAM-HQ | 100.0 | 100.0 |" in (tmp_path / "out" / "coco.md").read_text()
    # one of the two objects of category 1 in image 1 missed, a false box scored lower:
    # precision 1 up to recall 2/3, so AP = 67 of COCO's 101 recall points
    half = [dets[0], dets[2], {**dets[0], "bbox": [100, 4, 20, 20], "score": 0.1}]
    part = evaluate_coco_model(tiny_model, detections=half, **kwargs)
    assert part["metrics"]["hq"]["mask_AP"] == pytest.approx(67 / 101)
    assert part["metrics"]["hq"]["boundary_AP"] == pytest.approx(67 / 101)


def test_coco_images_are_encoded_as_the_official_predictor_encodes_them(tmp_path, tiny_model):
    """Long side to S, then zero padding after normalising (not the mean in uint8 before)."""
    from samhq_train.imaging import read_image
    from samhq_train.inference import SamHQPredictor

    gt = write_coco(tmp_path)
    dets = [{"image_id": 1, "category_id": 1, "bbox": gt["annotations"][0]["bbox"], "score": 0.9}]
    seen = []
    encode = tiny_model.encode
    tiny_model.encode = lambda images, sizes=None: seen.append(encode(images, sizes)) or seen[-1]
    evaluate_coco_model(tiny_model, detections=dets, annotation_file=tmp_path / "gt.json",
                        image_dir=tmp_path / "images", progress=False)
    predictor = SamHQPredictor(tiny_model)
    predictor.set_image(read_image(tmp_path / "images" / "1.png"))
    torch.testing.assert_close(seen[0].embedding, predictor.features.embedding, atol=1e-6, rtol=0)
    torch.testing.assert_close(seen[0].early, predictor.features.early, atol=1e-6, rtol=0)


def test_coco_from_config_with_the_tiny_model(tmp_path):
    gt = write_coco(tmp_path)
    dets = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.5}
            for a in gt["annotations"]]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    coco = [f"coco.detections={tmp_path / 'dets.json'}", f"coco.image_dir={tmp_path / 'images'}",
            f"coco.annotation_file={tmp_path / 'gt.json'}", "coco.num_workers=0", "benchmark=false",
            "sam_baseline=false"]
    result = evaluate(eval_cfg(tmp_path / "out", *coco))
    metrics = result["coco"]["metrics"]
    assert set(metrics) == {"hq"} and 0.0 <= metrics["hq"]["mask_AP"] <= 1.0
    assert (tmp_path / "out" / "coco.md").is_file()
    # detections of an image the GT json does not have
    (tmp_path / "dets.json").write_text(json.dumps([{**dets[0], "image_id": 7}]))
    with pytest.raises(EvaluationError, match=r"not in the GT json, e\.g\. \[7\]"):
        evaluate(eval_cfg(tmp_path / "out2", *coco))
    # an image file that is not there is named
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    (tmp_path / "images" / "1.png").unlink()
    with pytest.raises(EvaluationError, match=r"1\.png"):
        evaluate(eval_cfg(tmp_path / "out3", *coco))


def test_coco_transform_auto_follows_the_family_input_rule():
    from samhq_train.evaluation.entry import coco_transform
    from samhq_train.model import build_sam_hq

    sam1 = build_sam_hq("vit_demo", seed=0)
    sam2 = build_sam_hq("sam2.1_hq_hiera_demo", seed=0)
    assert coco_transform("auto", sam1) == "longest_side"
    assert coco_transform("auto", sam2) == "resize"
    assert coco_transform("resize", sam1) == "resize"


@pytest.mark.parametrize("transform", ["resize", "longest_side"])
def test_coco_boxes_are_scaled_per_axis_into_the_model_frame(tmp_path, transform):
    """A 128 x 96 image squashed to S x S ("resize") scales x and y apart; the best
    max_detections boxes of an image are kept."""
    from samhq_train.evaluation.coco import load_coco, load_detections
    from samhq_train.evaluation.coco_runner import CocoPromptImages

    gt = write_coco(tmp_path)
    boxes = [[10, 20, 30, 40], [50, 5, 20, 60], [0, 0, 128, 96]]
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": box, "score": score}
        for box, score in zip(boxes, (0.5, 0.9, 0.1))
    ]
    coco = load_coco(gt)
    images = CocoPromptImages(coco, tmp_path / "images", load_detections(dets, coco), 64,
                              transform=transform, max_detections=2)
    item = images[0]
    sx, sy = (64 / 128, 64 / 96) if transform == "resize" else (64 / 128, 64 / 128)
    expected = [[x * sx, y * sy, (x + w) * sx, (y + h) * sy] for x, y, w, h in boxes[1::-1]]
    torch.testing.assert_close(item["boxes"], torch.tensor(expected), atol=1e-4, rtol=0)
    assert [d["score"] for d in item["detections"]] == [0.9, 0.5]
