"""samhq-evaluate coco.prompts=concept on the concept demo's val split (its COCO json with
uncompressed RLE masks, the images beside it, its merges file) with a full export of the
sam3_hq_demo miniature given a fresh detector: what a concept fine-tune of the demo is scored
with. A fresh detector finds next to nothing; the test checks the rows and that every figure is
COCOeval's on the written results."""

import json

import pytest
from hydra import compose, initialize_config_dir
from pycocotools.cocoeval import COCOeval

from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.data.demo_concepts import ANNOTATIONS, DEMO_MERGES_FILE, ensure_concept_demo
from samhq_train.evaluation.coco import load_coco
from samhq_train.evaluation.entry import evaluate
from samhq_train.model import build_sam_hq, save_checkpoint
from samhq_train.model.sam3.family import add_fresh_detector

ROWS = ("SAM 3 detector boxes (box AP)", "SAM 3 detector masks", "SAM", "SAM-HQ")


def test_the_demo_val_split_is_scored(tmp_path):
    root = ensure_concept_demo(tmp_path / "concepts", num_train=1, num_val=2, size=64)
    model = build_sam_hq("sam3_hq_demo", seed=0)
    add_fresh_detector(model, seed=0)
    checkpoint = save_checkpoint(model, tmp_path / "fresh.pt", "sam_hq")
    out = tmp_path / "eval"
    # the command: samhq-evaluate model=sam3_hq_demo model.checkpoint=... benchmark=false ...
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("eval", overrides=[
            f"output_dir={out}", "progress=false", "model=sam3_hq_demo",
            f"model.checkpoint={checkpoint}", "benchmark=false", "coco.prompts=concept",
            f"coco.concept.bpe={root / DEMO_MERGES_FILE}",
            f"coco.annotation_file={root / 'val' / ANNOTATIONS}",
            f"coco.image_dir={root / 'val'}",
        ])
    result = evaluate(cfg)["coco"]
    table = (out / "coco.md").read_text()
    assert "4 categories prompted by name (all per image), 96 detections on 2 images" in table
    rows = [line.split(" | ")[0].strip("| ") for line in table.splitlines()[6:] if line]
    assert rows == list(ROWS)
    gt = load_coco(root / "val" / ANNOTATIONS)
    for source, iou_type, prefix in (("boxes", "bbox", "box"), ("hq", "segm", "mask")):
        written = json.loads((out / f"coco_results_{source}.json").read_text())
        assert len(written) == 96  # 4 phrases x the miniature's 12 queries, on each image
        evaluator = COCOeval(gt, gt.loadRes(written), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        assert result["metrics"][source][f"{prefix}_AP"] == pytest.approx(evaluator.stats[0])
