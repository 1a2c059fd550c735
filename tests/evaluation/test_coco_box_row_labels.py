"""The box-prompted COCO / LVIS tables name SAM's row after the model's policy (after hq+decoder
the decoder without the HQ token is the fine-tuned one, not SAM), as the other tables do."""

from types import SimpleNamespace

from samhq_train.evaluation import coco_runner, entry
from samhq_train.evaluation.report import model_labels
from tests.evaluation.test_lvis_boxes_audit15 import decoded  # noqa: F401 - fixture
from tests.evaluation.test_lvis_eval_audit15 import gt_json


def test_the_lvis_table_names_the_rows_after_the_policy(decoded):  # noqa: F811
    out = coco_runner.evaluate_coco_model(None, annotation_file=gt_json(), image_dir="unused",
                                          detections="unused",
                                          labels=model_labels("hq+decoder"))
    rows = [line.split(" | ")[0] for line in out["table"].splitlines() if line.startswith("| S")]
    assert rows == ["| SAM, fine-tuned decoder"] * 2 + ["| SAM-HQ"] * 2


def test_the_command_hands_its_labels_to_the_box_evaluation(monkeypatch):
    calls = []
    monkeypatch.setattr(entry, "evaluate_coco_model", lambda model, **kw: calls.append(kw))
    coco = SimpleNamespace(image_dir="images", transform=None, hq_token_only=False,
                           max_detections=None, prompt_batch=1, num_workers=0)
    cfg = SimpleNamespace(coco=coco, sam_baseline=True, metrics=SimpleNamespace(
        dilation_ratio=0.02), progress=False)
    monkeypatch.setattr(entry, "coco_transform", lambda transform, model: None)
    labels = model_labels("full")
    entry._run_coco(cfg, None, "gt", "dets", labels, "cpu", "fp32", None)
    assert calls[0]["labels"] is labels
