"""SA-Co's cgF1 / IL_MCC / pmF1 (evaluation/saco_metrics.py) against Meta's CGF1Evaluator
(sam3 0.1.4) on synthetic SA-Co jsons: (image, noun phrase) pairs sharing images, negatives,
crowd and polygon instances, pairs left out as not exhaustive, one or three annotator files,
predictions below the threshold, none at all; every figure Meta reports, within 1e-12, by mask
IoU and by box IoU (iou_type "bbox": the predictions' boxes, not their masks' boxes)."""

import contextlib
import io
import json
import warnings

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from samhq_train.evaluation.coco import encode_mask
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.saco_metrics import cgf1_metrics, read_saco_gt

H, W = 24, 32
PHRASES = ("a cat", "red car", "the tall tree", "wheel", "blue sky", "dog")


def box_mask(rng, around=None) -> np.ndarray:
    """A random rectangle, or one near `around`'s (a shifted, resized copy)."""
    if around is None:
        y0, x0 = rng.randint(0, H - 4), rng.randint(0, W - 4)
        y1, x1 = y0 + rng.randint(3, 12), x0 + rng.randint(3, 14)
    else:
        ys, xs = np.nonzero(around)
        y0, x0 = ys.min() + rng.randint(-2, 3), xs.min() + rng.randint(-2, 3)
        y1, x1 = ys.max() + rng.randint(-1, 3), xs.max() + rng.randint(-1, 3)
    mask = np.zeros((H, W), bool)
    mask[max(y0, 0) : max(y1, 1), max(x0, 0) : max(x1, 1)] = True
    if not mask.any():
        mask[0, 0] = True
    return mask


def annotation(rng, mask, pair_id, n, crowd=False) -> dict:
    ys, xs = np.nonzero(mask)
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    polygon = rng.rand() < 0.3 and not crowd
    segmentation = [[x0, y0, x1, y0, x1, y1, x0, y1]] if polygon else encode_mask(mask)
    return {"id": n, "image_id": pair_id, "category_id": 1, "segmentation": segmentation,
            "area": int(mask.sum()), "bbox": [x0, y0, x1 - x0, y1 - y0], "iscrowd": int(crowd)}


def synthetic_saco(tmp_path, seed, n_files=3, n_pairs=14, predict=True):
    """(GT paths, predictions json path): the annotators' files differ (an instance dropped or
    moved, a pair negative in one file, exhaustive in some); predictions near GT instances,
    stray ones, on negatives, below the threshold."""
    rng = np.random.RandomState(seed)
    pairs, base = [], {}
    for k in range(n_pairs):
        pair_id = 100 + 3 * k  # ids are not 0..n-1
        pairs.append({"id": pair_id, "file_name": f"{k // 2}.jpg", "height": H, "width": W,
                      "text_input": PHRASES[k % len(PHRASES)], "queried_category": "1"})
        n = 0 if rng.rand() < 0.35 else rng.randint(1, 5)  # about a third are negatives
        base[pair_id] = [box_mask(rng) for _ in range(n)]
        if n and rng.rand() < 0.4:  # overlapping instances: the matching's choice matters
            base[pair_id].append(box_mask(rng, base[pair_id][0]))
    paths = []
    for f in range(n_files):
        images, annotations = [], []
        for entry in pairs:
            exhaustive = not (f > 0 and rng.rand() < 0.12) and not (f == 0 and rng.rand() < 0.08)
            images.append({**entry, "is_instance_exhaustive": bool(exhaustive)})
            masks = list(base[entry["id"]])
            if f and rng.rand() < 0.3 and masks:  # another annotator: one instance moved or gone
                masks[rng.randint(len(masks))] = box_mask(rng, masks[0])
                masks = masks[: rng.randint(0, len(masks) + 1)]
            for m in masks:
                annotations.append(annotation(rng, m, entry["id"], len(annotations) + 1))
            if rng.rand() < 0.1:
                annotations.append(annotation(rng, box_mask(rng), entry["id"],
                                              len(annotations) + 1, crowd=True))
        path = tmp_path / f"gold_{seed}_{'abc'[f]}.json"
        path.write_text(json.dumps({"images": images, "annotations": annotations,
                                    "categories": [{"id": 1, "name": "object"}]}))
        paths.append(path)
    predictions = []
    jitter = np.random.RandomState(seed + 1000)  # the boxes' own draws: the masks stay as they were
    for entry in pairs if predict else []:
        if rng.rand() < 0.15:
            continue  # a pair without any prediction
        wanted = [box_mask(rng, m) for m in base[entry["id"]] if rng.rand() < 0.8]
        wanted += [box_mask(rng) for _ in range(rng.randint(0, 3))]
        for m in wanted:  # with a box, as Meta's dump (its evaluator needs one with 3 files)
            ys, xs = np.nonzero(m)
            box = [int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1]
            # a box (the detector's) not the mask's: box IoU differs from mask IoU
            box = [float(v) for v in np.add(box, jitter.uniform(-1.5, 1.5, 4)).clip(0.5)]
            predictions.append({"image_id": entry["id"], "category_id": 1, "bbox": box,
                                "score": float(rng.choice([rng.rand(), 0.5])),  # = threshold
                                "segmentation": encode_mask(m)})
    pred_path = tmp_path / f"pred_{seed}.json"
    pred_path.write_text(json.dumps(predictions))
    return paths, pred_path


def meta_cgf1_evaluator():
    """Meta's CGF1Evaluator, imported here: without Meta's sam3 only the tests that compare
    with it skip, not the whole file."""
    return pytest.importorskip("sam3.eval.cgf1_eval").CGF1Evaluator


def meta_figures(gt_paths, pred_path, iou_type="segm") -> dict:
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # Meta's 0/0 without positive pairs
        evaluator = meta_cgf1_evaluator()([str(p) for p in gt_paths], iou_type=iou_type)
        out = evaluator.evaluate(str(pred_path))
    return {k.removeprefix(f"cgF1_eval_{iou_type}_"): v for k, v in out.items()}


def assert_same_figures(ours: dict, meta: dict):
    assert set(ours) == set(meta) and len(meta) == 26
    for name, value in meta.items():
        assert ours[name] == pytest.approx(value, abs=1e-12, rel=0), name


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n_files", [1, 3])
def test_every_figure_equals_metas_cgf1_evaluator(tmp_path, seed, n_files, iou_type):
    gt_paths, pred_path = synthetic_saco(tmp_path, seed, n_files)
    meta = meta_figures(gt_paths, pred_path, iou_type)
    predictions = json.loads(pred_path.read_text())
    ours = cgf1_metrics(read_saco_gt(gt_paths), predictions, iou_type=iou_type)
    assert_same_figures(ours, meta)
    assert -1 < ours["IL_MCC"] < 1 and 0 < ours["positive_micro_F1"] < 1, ours  # not trivial


def test_box_figures_match_by_the_predictions_boxes(tmp_path):
    """The boxes are not the masks' (jittered): the box figures differ from the mask figures, and
    each prediction's box moved onto its mask's box changes them (Meta's evaluator agreeing); a
    prediction without a box is scored with its mask's box (pycocotools' loadRes rule)."""
    gt_paths, pred_path = synthetic_saco(tmp_path, 3, 3)
    gt, predictions = read_saco_gt(gt_paths), json.loads(pred_path.read_text())
    boxes = cgf1_metrics(gt, predictions, iou_type="bbox")
    assert boxes["positive_micro_F1"] != cgf1_metrics(gt, predictions)["positive_micro_F1"]
    for p in predictions:
        p["bbox"] = mask_utils.toBbox(p["segmentation"]).tolist()
    pred_path.write_text(json.dumps(predictions))
    of_masks = cgf1_metrics(gt, predictions, iou_type="bbox")
    assert_same_figures(of_masks, meta_figures(gt_paths, pred_path, "bbox"))
    assert of_masks["positive_micro_F1"] != boxes["positive_micro_F1"]
    without = [{k: v for k, v in p.items() if k != "bbox"} for p in predictions]
    assert cgf1_metrics(gt, without, iou_type="bbox") == of_masks


def test_pairs_not_exhaustive_in_any_file_are_left_out(tmp_path):
    gt_paths, _ = synthetic_saco(tmp_path, 2, n_files=3)
    gt = read_saco_gt(gt_paths)
    partial = [{e["id"] for e in coco.dataset["images"] if not e["is_instance_exhaustive"]}
               for coco in gt.files]
    assert all(partial) and len(gt.pair_ids) == 14 - len(set.union(*partial)) == 9
    assert not set.union(*partial) & set(gt.pair_ids)
    assert gt.pair(gt.pair_ids[0])["text_input"] in PHRASES


def test_without_predictions_and_with_everything_right(tmp_path):
    gt_paths, pred_path = synthetic_saco(tmp_path, 7, n_files=1, predict=False)
    meta = meta_figures(gt_paths, pred_path)
    ours = cgf1_metrics(read_saco_gt(gt_paths), [])
    assert_same_figures(ours, meta)
    assert ours["positive_macro_F1"] == ours["positive_macro_F1@0.5"] == -1.0
    assert ours["cgF1"] == 0.0 and ours["IL_recall"] == 0.0
    gt = read_saco_gt(gt_paths)  # the GT itself as predictions, score 1: every figure ~1
    perfect = [{"image_id": a["image_id"], "category_id": 1, "score": 1.0, "bbox": a["bbox"],
                "segmentation": gt.files[0].annToRLE(a)}
               for a in gt.files[0].dataset["annotations"] if not a["iscrowd"]]
    for p in perfect:
        p["segmentation"] = {**p["segmentation"], "counts": p["segmentation"]["counts"]
                             if isinstance(p["segmentation"]["counts"], str)
                             else p["segmentation"]["counts"].decode()}
    pred_path.write_text(json.dumps(perfect))
    ours = cgf1_metrics(gt, perfect)
    assert_same_figures(ours, meta_figures(gt_paths, pred_path))
    assert ours["cgF1"] == pytest.approx(1, abs=1e-3) and ours["IL_MCC"] == pytest.approx(1, 1e-5)
    boxes = cgf1_metrics(gt, perfect, iou_type="bbox")
    assert_same_figures(boxes, meta_figures(gt_paths, pred_path, "bbox"))
    assert boxes["cgF1"] == pytest.approx(1, abs=1e-3)


def test_bad_gt_files_are_refused_in_one_line(tmp_path):
    gt_paths, _ = synthetic_saco(tmp_path, 0, n_files=2)
    data = json.loads(gt_paths[1].read_text())
    data["images"][0]["text_input"] = "another phrase"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    with pytest.raises(EvaluationError, match="do not hold the same"):
        read_saco_gt([gt_paths[0], other])
    del data["images"][2]["text_input"]
    other.write_text(json.dumps(data))
    with pytest.raises(EvaluationError, match="has no text_input"):
        read_saco_gt([other])
    data = json.loads(gt_paths[0].read_text())
    del data["images"][1]["is_instance_exhaustive"]
    other.write_text(json.dumps(data))
    with pytest.raises(EvaluationError, match="has no is_instance_exhaustive"):
        read_saco_gt([other])
    with pytest.raises(EvaluationError, match="cannot read the COCO GT json"):
        read_saco_gt([tmp_path / "missing.json"])
    for box in ([1, 2, 3], [1, 2, -3, 4], [1, "2", 3, 4], [1, 2, float("nan"), 4]):
        data = json.loads(gt_paths[0].read_text())
        data["annotations"][0]["bbox"] = box
        other.write_text(json.dumps(data))
        with pytest.raises(EvaluationError) as err:
            read_saco_gt([other])
        assert str(err.value) == (
            f'{other}: annotations[0] (id 1): "bbox" must be [x, y, w, h] (numbers, w and h >= 0), '
            f"got {box!r}; fix it in the json"
        )
