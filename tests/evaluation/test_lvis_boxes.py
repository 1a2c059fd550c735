"""LVIS AP of box prompts (samhq-evaluate coco.detections=... with an LVIS json): a detector's
boxes decoded by the demo model (SAM and SAM-HQ rows, the COCO box path's decoding), scored with
LVIS's federated mask AP (lvis-api's LVISEval on the written masks, within 1e-12) and boundary AP
(LVISEval with the boundary-iou-api's IoU), at most 300 detections per image unless set; bad
input refused in one line before the model is read."""

import json

import cv2
import numpy as np
import pycocotools.mask as mask_utils
import pytest
from hydra import compose, initialize_config_dir

from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.evaluation import entry
from samhq_train.evaluation.entry import evaluate
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.lvis_eval import LVIS_AP_NAMES
from tests.evaluation.lvis_reference import lvis_eval, needs_lvis
from tests.evaluation.lvis_synthetic import GT_BOXES, SIZES, assert_close, detections, lvis_gt

# the synthetic LVIS set's GT (image, category) pairs, each GT mask one of the model's own masks
# for a box of that image (alternately SAM's and SAM-HQ's), so that both rows find some
GT_PAIRS = [(b[0], b[1]) for b in GT_BOXES]


def cfg_of(out, gt, root, dets, *overrides):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("eval", overrides=[
            f"output_dir={out}", "progress=false", "benchmark=false", "device=cpu",
            "coco.num_workers=0", f"coco.detections={dets}", f"coco.annotation_file={gt}",
            f"coco.image_dir={root}", *overrides,
        ])


def lvis_json(annotations=()) -> dict:
    return {**lvis_gt(), "annotations": list(annotations)}


@pytest.fixture(scope="module")
def lvis_set(tmp_path_factory):
    """(GT json, COCO root, detections json, the masks of a GT-less run): noise images under
    <root>/val2017/ (their coco_url), the synthetic set's boxes as the detector's, GT masks taken
    from the model's masks (found first with a json without annotations: the masks do not depend
    on the GT)."""
    root = tmp_path_factory.mktemp("lvis_boxes")
    rng = np.random.RandomState(0)
    (root / "val2017").mkdir()
    for image_id, (h, w) in SIZES.items():
        cv2.imwrite(str(root / "val2017" / f"{image_id:012d}.jpg"),
                    (rng.rand(h, w, 3) * 255).astype(np.uint8))
    dets = root / "detections.json"
    dets.write_text(json.dumps(detections(seed=3)["bbox"][::3]))  # 30 boxes: a fast decode
    empty = root / "lvis_empty.json"
    empty.write_text(json.dumps(lvis_json()))
    first = evaluate(cfg_of(root / "first", empty, root, dets))["coco"]["predictions"]
    annotations = []
    for k, (image_id, category_id) in enumerate(GT_PAIRS):
        source = first["sam" if k % 2 else "hq"]
        found = [p for p in source if p["image_id"] == image_id
                 and mask_utils.area(p["segmentation"]) > 0]
        segmentation = found[(3 * k) % len(found)]["segmentation"]
        annotations.append({"id": k + 1, "image_id": image_id, "category_id": category_id,
                            "segmentation": segmentation,
                            "area": float(mask_utils.area(segmentation)),
                            "bbox": mask_utils.toBbox(segmentation).tolist()})
    gt = root / "lvis_v1_tiny.json"
    gt.write_text(json.dumps(lvis_json(annotations)))
    return gt, root, dets, first


@needs_lvis
def test_lvis_box_prompts_are_lvis_apis_mask_and_boundary_ap(tmp_path, lvis_set):
    gt, root, dets, first = lvis_set
    result = evaluate(cfg_of(tmp_path, gt, root, dets))["coco"]
    n_dets = len(json.loads(dets.read_text()))
    data = json.loads(gt.read_text())
    for row in ("sam", "hq"):
        written = json.loads((tmp_path / f"lvis_results_{row}.json").read_text())
        assert written == result["predictions"][row] == first[row] and len(written) == n_dets
        figures = result["metrics"][row]
        assert_close({n: figures[f"mask_{n}"] for n in LVIS_AP_NAMES},
                     lvis_eval(data, written, "segm", tmp_path))
        assert_close({n: figures[f"boundary_{n}"] for n in LVIS_AP_NAMES},
                     lvis_eval(data, written, "segm", tmp_path, boundary_ratio=0.02))
        assert 0 < figures["boundary_AP"] <= figures["mask_AP"] < 1, figures
    assert result["metrics"]["sam"]["mask_AP"] != result["metrics"]["hq"]["mask_AP"]
    metrics = json.loads((tmp_path / "lvis_metrics.json").read_text())
    assert set(metrics) == {"sam", "hq"}
    assert set(metrics["hq"]) == {f"{k}_{n}" for k in ("mask", "boundary") for n in LVIS_AP_NAMES}
    table = (tmp_path / "lvis.md").read_text()
    assert "| model | IoU | AP | AP50 | AP75 | APs | APm | APl | APr | APc | APf |" in table
    for label in ("| SAM | mask |", "| SAM | boundary |", "| SAM-HQ | mask |",
                  "| SAM-HQ | boundary |"):
        assert label in table
    assert f"4 images with {n_dets} detection boxes as prompts; LVIS's federated AP, at most " \
           "300 per image" in table
    assert not (tmp_path / "coco.md").exists()


@needs_lvis
def test_max_detections_cuts_the_prompts_and_is_the_evaluators_limit(tmp_path, lvis_set):
    gt, root, dets, _ = lvis_set
    result = evaluate(cfg_of(tmp_path, gt, root, dets, "coco.max_detections=5",
                             "sam_baseline=false"))["coco"]
    written = result["predictions"]["hq"]
    assert set(result["metrics"]) == {"hq"}
    per_image = [sum(p["image_id"] == i for p in written) for i in SIZES]
    assert per_image == [5] * len(SIZES)
    reference = lvis_eval(json.loads(gt.read_text()), written, "segm", tmp_path, max_dets=5)
    assert_close({n: result["metrics"]["hq"][f"mask_{n}"] for n in LVIS_AP_NAMES}, reference)


def test_bad_lvis_box_input_is_refused_in_one_line_before_the_model(tmp_path, lvis_set,
                                                                     monkeypatch):
    gt, root, dets, _ = lvis_set

    def no_model(*args, **kwargs):
        raise AssertionError("the model was read before the LVIS files were checked")

    monkeypatch.setattr(entry, "build_model_from_config", no_model)

    def refused(*overrides, detections=dets, annotation_file=gt) -> str:
        with pytest.raises(EvaluationError) as info:
            evaluate(cfg_of(tmp_path, annotation_file, root, detections, *overrides))
        assert "\n" not in str(info.value)
        return str(info.value)

    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps([{"image_id": 1, "category_id": 77, "bbox": [1, 2, 5, 5],
                                    "score": 0.9}]))
    assert refused(detections=unknown) == (
        f"{unknown}: category id(s) [77] are not in the GT json")
    broken = tmp_path / "broken.json"
    data = json.loads(gt.read_text())
    data["images"][1].pop("neg_category_ids")
    broken.write_text(json.dumps(data))
    assert refused(annotation_file=broken).startswith(
        f"{broken}: image 2 has no \"neg_category_ids\" list; an LVIS json")
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        no_detections = compose("eval", overrides=[
            f"output_dir={tmp_path}", "benchmark=false", f"coco.annotation_file={gt}",
            f"coco.image_dir={root}"])
    with pytest.raises(EvaluationError, match="nothing to evaluate: .*no coco.detections given"):
        evaluate(no_detections)
