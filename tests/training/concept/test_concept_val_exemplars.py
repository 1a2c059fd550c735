"""Validation of exemplar prompts (data.val_exemplars=true) through train(cfg) on the drawn SAM 3
miniature (the start weights' validation), against the same run without it (the default):

- the text queries' figures and detections are bit for bit the default run's, which logs no
  exemplar figure (the opt-in leaves the recipe's validation as it was);
- the exemplar run logs val/exemplar_core_loss and val/exemplar_box_AP, AP50, AP75 through the
  run's logger (metrics.csv), best.ckpt still chosen by val/box_AP;
- its AP is what Meta's offline evaluator (sam3's CocoEvaluatorOfflineWithPredFileEvaluators,
  pycocotools' COCOeval with positive_split, as its visual evaluations run) gives the same
  detections, also when the negative queries' text detections are added to its file (the
  positive split leaves them out, as our validation never asks them)."""

import csv
import json
import math

import lightning as L
import pytest
import torch

from samhq_train.data.concept_batch import collate_concepts
from samhq_train.data.concept_dataset import ConceptDataset
from samhq_train.data.concept_val_exemplars import ValExemplarSettings, exemplar_batch
from samhq_train.data.demo_concepts import ANNOTATIONS, ensure_concept_demo
from samhq_train.model.sam3.concept.boxes import box_cxcywh_to_xyxy
from samhq_train.train import train
from samhq_train.training.concept.validation import BoxDetections

from .concept_run import concept_cfg, concept_files  # noqa: F401 (fixture)

EXEMPLAR_KEYS = ("exemplar_core_loss", "exemplar_box_AP", "exemplar_box_AP50",
                 "exemplar_box_AP75")
COMMON = ("concept.policy=detector", "validate_before_training=false", "data.num_workers=0")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, concept_files):  # noqa: F811
    """The run's validation of the start weights, without and with exemplars: fit left out
    (training's thread-order rounding would part the two runs; test_concept_exemplar_run.py
    trains with them), so the run's closing trainer.validate scores the start weights."""
    found = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(L.Trainer, "fit", lambda *args, **kwargs: None)
        for name, extra in (("text", ()), ("exemplar", ("data.val_exemplars=true",))):
            out = tmp_path_factory.mktemp(name)
            metrics, objects = train(concept_cfg(out, concept_files, *COMMON, *extra))
            found[name] = (out, metrics["after"], objects["module"])
    return found


def test_the_default_validation_is_unchanged(runs):
    _, text, text_module = runs["text"]
    _, exemplar, exemplar_module = runs["exemplar"]
    assert not any(k.startswith("exemplar_") for k in text)
    assert {k: v for k, v in exemplar.items() if not k.startswith("exemplar_")} == text
    detections = [m.val_detections.coco_results() for m in (text_module, exemplar_module)]
    assert detections[0] == detections[1] and detections[0]
    assert text_module.val_exemplar_detections.coco_results() == []


def test_the_exemplar_figures_are_logged(runs):
    out, exemplar, module = runs["exemplar"]
    assert all(math.isfinite(exemplar[k]) for k in EXEMPLAR_KEYS)
    assert exemplar["exemplar_core_loss"] > 0 and module.val_exemplar_detections.coco_results()
    logged = {}
    for path in out.rglob("metrics.csv"):
        with open(path) as f:
            for row in csv.DictReader(f):
                logged.update({k: float(v) for k, v in row.items() if v and k.startswith("val/")})
    assert {f"val/{k}" for k in EXEMPLAR_KEYS} <= logged.keys()
    for key in EXEMPLAR_KEYS:
        assert logged[f"val/{key}"] == pytest.approx(exemplar[key], rel=1e-6)
    best = [c for c in module.trainer.checkpoint_callbacks if c.monitor]
    assert [c.monitor for c in best] == ["val/box_AP"]
    figures = module.val_exemplar_detections.box_ap(module.val_annotation_file)
    assert [exemplar[f"exemplar_box_{k}"] for k in ("AP", "AP50", "AP75")] == [
        figures[f"box_{k}"] for k in ("AP", "AP50", "AP75")]


def noisy_outputs(batch, generator: torch.Generator) -> dict:
    """Each query's GT boxes, each side moved by up to 20% of the box's width / height, and 4
    random boxes more, with random logits: detections between hits and misses."""
    targets = batch.targets
    n, slots = len(targets.num_boxes), int(targets.num_boxes.max()) + 4
    xyxy = box_cxcywh_to_xyxy(torch.rand(n, slots, 4, generator=generator) * 0.5 + 0.1)
    for q, count in enumerate(targets.num_boxes.tolist()):
        boxes = targets.boxes_padded[q, :count]
        shift = (torch.rand(count, 4, generator=generator) - 0.5) * 0.4 * boxes[:, [2, 3, 2, 3]]
        xyxy[q, :count] = box_cxcywh_to_xyxy(boxes) + shift
    logits = torch.randn(n, slots, 1, generator=generator) * 2 - 2
    for q, count in enumerate(targets.num_boxes.tolist()):
        logits[q, :count] += 4  # the moved GT boxes mostly rank higher
    return {"pred_logits": logits,
            "pred_boxes_xyxy": xyxy, "presence_logit_dec": torch.full((n, 1), 3.0)}


def test_the_exemplar_ap_is_metas_positive_split_coco_eval(tmp_path, capsys):
    """Our box AP of the exemplar queries' detections (and not of the negative queries', which
    are not asked) is Meta's positive-split COCOeval of the file holding both."""
    pytest.importorskip("sam3.eval.coco_eval_offline")
    from sam3.eval.coco_eval_offline import CocoEvaluatorOfflineWithPredFileEvaluators

    root = ensure_concept_demo(tmp_path / "data", num_train=1, num_val=6, size=96, seed=3)
    gt_path = root / "val" / ANNOTATIONS
    data = ConceptDataset(gt_path, root / "val", training=False, resolution=224)
    text = collate_concepts([data[i] for i in range(len(data))])
    asked = exemplar_batch(text, ValExemplarSettings(seed=0))
    generator = torch.Generator().manual_seed(0)
    ours = BoxDetections()
    ours.add_batch(noisy_outputs(asked, generator), asked)
    everything = BoxDetections(max_per_image=10_000)  # the text queries' detections
    everything.add_batch(noisy_outputs(text, generator), text)
    present = {(a["image_id"], a["category_id"])
               for a in json.loads(gt_path.read_text())["annotations"]}
    negatives = [d for d in everything.coco_results()
                 if (d["image_id"], d["category_id"]) not in present]
    assert negatives and int(text.targets.num_boxes.max()) > 1
    figures = ours.box_ap(gt_path)
    assert 0.1 < figures["box_AP"] < 0.9
    evaluator = CocoEvaluatorOfflineWithPredFileEvaluators(
        str(gt_path), tide=False, iou_type="bbox", positive_split=True)
    for dumped in (ours.coco_results(), ours.coco_results() + negatives):
        path = tmp_path / f"dump{len(dumped)}.json"
        path.write_text(json.dumps(dumped))
        stats = evaluator.evaluate(path)
        metas = [stats[f"coco_eval_bbox_{name}"] for name in ("AP", "AP_50", "AP_75")]
        assert [figures[f"box_{k}"] for k in ("AP", "AP50", "AP75")] == metas
