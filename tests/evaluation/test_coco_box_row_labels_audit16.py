"""The box-prompted COCO table (not only LVIS's) names SAM's row after the model's policy
(audit 16; tests/evaluation/test_coco_box_row_labels.py has the LVIS table)."""

from samhq_train.evaluation import coco_runner
from samhq_train.evaluation.report import model_labels
from tests.evaluation.test_lvis_boxes_audit15 import decoded  # noqa: F401 - fixture
from tests.evaluation.test_lvis_eval_audit15 import gt_json


def coco_gt() -> dict:
    """The LVIS test json without LVIS's keys: a COCO json."""
    gt = gt_json()
    for image in gt["images"]:
        del image["neg_category_ids"], image["not_exhaustive_category_ids"]
    for category in gt["categories"]:
        del category["frequency"]
    return gt


def test_the_coco_table_names_the_rows_after_the_policy(decoded):  # noqa: F811
    for policy, sam in (("hq+decoder", "SAM, fine-tuned decoder"), ("hq", "SAM")):
        out = coco_runner.evaluate_coco_model(None, annotation_file=coco_gt(),
                                              image_dir="unused", detections="unused",
                                              labels=model_labels(policy))
        assert out["table"].startswith("### COCO")
        rows = [line.split(" | ")[0] for line in out["table"].splitlines()
                if line.startswith("| S")]
        assert rows == [f"| {sam}", "| SAM-HQ"]
