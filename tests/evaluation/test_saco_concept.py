"""SA-Co's evaluation of SAM 3 text prompts (samhq-evaluate coco.prompts=concept
coco.concept.metric=cgf1) on a tiny SA-Co subset (3 annotator files, 3 images x 2-3 noun phrases)
and the SAM 3 miniature with its detector (random weights): each mask source's predictions are
ConceptPredictor's, called by hand per pair, and its figures those of Meta's CGF1Evaluator on
them (the box figures: its iou_type="bbox" on the detections' boxes); the SA-Co keys that
would be ignored are refused before the model is read."""

import contextlib
import io
import json

import cv2
import numpy as np
import pytest

from samhq_train.config_check import ConfigError
from samhq_train.evaluation import entry
from samhq_train.evaluation.coco import encode_mask
from samhq_train.evaluation.entry import evaluate
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.inference.concept import ConceptPredictor
from tests.evaluation.test_coco_concept import eval_cfg, files, model, no_model, pictures
from tests.evaluation.test_saco_metrics import meta_cgf1_evaluator

__all__ = ["files", "model", "pictures"]  # the COCO concept test's fixtures, shared

SOURCES = ("detector", "sam", "hq")
THRESHOLD = 0.2  # the random miniature scores 0.13 to 0.24: some pairs predicted, some not
# pair id: (image id, noun phrase); 22 is not exhaustive in file c, so not prompted
PAIRS = {10: (1, "cat"), 11: (1, "dog"), 20: (2, "cat"), 21: (2, "red car"), 22: (2, "dog"),
         50: (5, "dog"), 51: (5, "a blue bird")}
# the GT per file (a, b, c): pair id -> [(source, query index) of the predictor's masks taken
# as instances]; absent: a negative pair
GT_FROM = (
    {11: [("detector", 0)], 20: [("detector", 0), ("detector", 3)], 50: [("sam", 1)]},
    {11: [("hq", 2)], 20: [("hq", 0)], 21: [("hq", 0)], 50: [("sam", 1), ("hq", 4)]},
    {20: [("sam", 0), ("hq", 3)], 21: [("detector", 1), ("sam", 5)], 51: [("detector", 0)]},
)


@pytest.fixture(scope="module")
def by_hand(files, model, pictures):
    """{pair id: [(score, box x0 y0 x1 y1, (detector, SAM, HQ masks))] in query order}, every
    query (threshold 0): ConceptPredictor called directly per pair."""
    predictor = ConceptPredictor(model, files[1], threshold=0.0)
    out = {}
    for pair_id, (image_id, phrase) in PAIRS.items():
        if pair_id % 10 == 0:  # the image's first pair
            predictor.set_image(pictures[image_id])
        plain = predictor.predict(phrase, use_hq=False)
        hq = predictor.predict(phrase, use_hq=True)
        out[pair_id] = [(float(plain.scores[k]), plain.boxes[k].tolist(),
                         (plain.detector_masks[k], plain.masks[k], hq.masks[k]))
                        for k in range(len(plain))]
    return out


@pytest.fixture(scope="module")
def saco_set(tmp_path_factory, pictures, by_hand):
    """(the 3 annotator files, the image folder)."""
    root = tmp_path_factory.mktemp("saco")
    (root / "images").mkdir()
    for image_id, picture in pictures.items():
        cv2.imwrite(str(root / "images" / f"{image_id}.png"), picture[..., ::-1])
    paths = []
    for f, gt_from in enumerate(GT_FROM):
        images, annotations = [], []
        for pair_id, (image_id, phrase) in PAIRS.items():
            h, w = pictures[image_id].shape[:2]
            images.append({"id": pair_id, "file_name": f"{image_id}.png", "height": h, "width": w,
                           "text_input": phrase, "queried_category": "1",
                           "is_instance_exhaustive": not (pair_id == 22 and f == 2)})
            for source, query in gt_from.get(pair_id, []):
                _, (x0, y0, x1, y1), masks = by_hand[pair_id][query]
                mask = masks[SOURCES.index(source)]
                ys, xs = np.nonzero(mask)
                box = [int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1]
                if f == 1:  # file b: the detection's own box (the random detector's boxes do not
                    box = [x0, y0, x1 - x0, y1 - y0]  # fit its masks): box matches there
                annotations.append({
                    "id": len(annotations) + 1, "image_id": pair_id, "category_id": 1,
                    "segmentation": encode_mask(mask), "area": int(mask.sum()), "iscrowd": 0,
                    "bbox": box,
                })
        path = root / f"gold_tiny_merged_{'abc'[f]}_release_test.json"
        path.write_text(json.dumps({"images": images, "annotations": annotations,
                                    "categories": [{"id": 1, "name": "object"}]}))
        paths.append(path)
    return paths, root / "images"


def saco_cfg(out, saco_set, files, *overrides, model="sam3_hq_demo", checkpoint=None):
    paths, image_dir = saco_set
    return eval_cfg(
        out, f"model={model}", f"model.checkpoint={checkpoint or files[0]}", "benchmark=false",
        "coco.prompts=concept", "coco.concept.metric=cgf1",
        f"coco.annotation_file=[{','.join(map(str, paths))}]", f"coco.image_dir={image_dir}",
        f"coco.concept.bpe={files[1]}", "device=cpu", *overrides,
    )


def expected_results(by_hand) -> dict:
    """Each source's COCO results: the scored pairs' predictions with score >= THRESHOLD."""
    out = {s: [] for s in SOURCES}
    for pair_id in (10, 11, 20, 21, 50, 51):
        for score, (x0, y0, x1, y1), masks in by_hand[pair_id]:
            if score >= THRESHOLD:
                for source, mask in zip(SOURCES, masks):
                    out[source].append({
                        "image_id": pair_id, "category_id": 1, "score": score,
                        "bbox": [x0, y0, x1 - x0, y1 - y0], "segmentation": encode_mask(mask),
                    })
    return out


def meta_figures(gt_paths, results, tmp_path, iou_type="segm") -> dict:
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps(results))
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = meta_cgf1_evaluator()([str(p) for p in gt_paths], iou_type=iou_type)
        for coco_eval in evaluator.coco_evals:
            coco_eval.threshold = THRESHOLD  # what counts, as in the run
        out = evaluator.evaluate(str(pred))
    return {k.removeprefix(f"cgF1_eval_{iou_type}_"): v for k, v in out.items()}


def test_each_pair_is_prompted_once_and_scored_as_metas_evaluator_scores_it(
    tmp_path, saco_set, files, by_hand
):
    result = evaluate(saco_cfg(tmp_path, saco_set, files, f"coco.concept.threshold={THRESHOLD}"))
    result = result["coco"]
    expected = expected_results(by_hand)
    counts = {p: sum(s >= THRESHOLD for s, _, _ in by_hand[p]) for p in PAIRS}
    assert counts[10] == counts[11] == 0 and min(counts[20], counts[21], counts[51]) > 0, counts
    for source in SOURCES:
        got = result["predictions"][source]
        assert len(got) == len(expected[source]) == sum(counts.values()) - counts[22]
        assert [(p["image_id"], p["score"], p["segmentation"]) for p in got] == [
            (p["image_id"], p["score"], p["segmentation"]) for p in expected[source]
        ]
        np.testing.assert_allclose([p["bbox"] for p in got],
                                   [p["bbox"] for p in expected[source]], atol=1e-4)
        meta = meta_figures(saco_set[0], expected[source], tmp_path)
        assert set(result["metrics"][source]) == set(meta) and len(meta) == 26
        for name, value in meta.items():
            assert result["metrics"][source][name] == pytest.approx(value, abs=1e-12), name
    # the box figures: Meta's (box IoU) on the run's results (every row's hold the same boxes)
    meta = meta_figures(saco_set[0], result["predictions"]["detector"], tmp_path, "bbox")
    assert set(result["metrics"]["boxes"]) == set(meta)
    for name, value in meta.items():
        assert result["metrics"]["boxes"][name] == pytest.approx(value, abs=1e-12), name
    assert result["metrics"]["boxes"] != result["metrics"]["detector"]
    assert result["metrics"]["boxes"]["positive_micro_F1"] > 0  # file b's boxes match
    metrics = result["metrics"]
    # the same detections, but the oracle's choice of annotator per pair follows the masks:
    # pair 21 is a false positive against file a, a true positive against b or c if they match
    assert len({metrics[s]["positive_micro_F1"] for s in SOURCES}) == 3
    assert metrics["detector"]["IL_MCC"] != metrics["hq"]["IL_MCC"]
    assert -1 < metrics["hq"]["IL_MCC"] < 1 and metrics["hq"]["cgF1"] != 0
    table = (tmp_path / "saco.md").read_text()
    assert "6 (image, noun phrase) pairs on 3 images, 3 GT file(s)" in table
    assert f"{len(expected['hq'])} detections with score >= 0.2" in table
    for row in ("| SAM 3 detector masks |", "| SAM |", "| SAM-HQ |",
                "| SAM 3 detector boxes (box IoU) |"):
        assert row in table
    written = json.loads((tmp_path / "saco_metrics.json").read_text())
    assert written == metrics
    assert json.loads((tmp_path / "saco_results_hq.json").read_text()) == expected["hq"]


def test_the_default_threshold_is_metas_and_one_file_is_enough(tmp_path, saco_set, files):
    """No miniature score reaches CGF1Eval's 0.5: nothing is predicted, every positive pair is
    missed (cgF1 0); a single annotator file is read alone."""
    paths, image_dir = saco_set
    result = evaluate(saco_cfg(tmp_path, ([paths[0]], image_dir), files, "sam_baseline=false"))
    coco = result["coco"]
    assert set(coco["metrics"]) == {"detector", "hq", "boxes"} and not coco["predictions"]["hq"]
    assert coco["metrics"]["hq"]["cgF1"] == 0 and coco["metrics"]["hq"]["IL_recall"] == 0
    assert coco["metrics"]["hq"]["positive_macro_F1"] == -1  # no pair to average: Meta's -1
    assert coco["metrics"]["hq"] == coco["metrics"]["detector"]
    assert "7 (image, noun phrase) pairs" in coco["table"]  # 22 is exhaustive in file a


def test_keys_that_would_be_ignored_are_refused_before_the_model_is_read(
    tmp_path, saco_set, files, monkeypatch
):
    monkeypatch.setattr(entry, "build_model_from_config", no_model)
    paths, image_dir = saco_set

    def refused(error, *overrides, saco=saco_set) -> str:
        with pytest.raises(error) as info:
            evaluate(saco_cfg(tmp_path, saco, files, *overrides))
        assert "\n" not in str(info.value)
        return str(info.value)

    assert "coco.concept.categories chooses COCO categories" in refused(
        EvaluationError, "coco.concept.categories=[cat]")
    assert "coco.concept.per_image=annotated chooses" in refused(
        EvaluationError, "coco.concept.per_image=annotated")
    assert "coco.concept.metric=f1" in refused(ConfigError, "coco.concept.metric=f1")
    assert f"cannot read the COCO GT json {tmp_path / 'x.json'}" in refused(
        EvaluationError, saco=([paths[0], tmp_path / "x.json"], image_dir))
    plain = tmp_path / "plain.json"
    data = json.loads(paths[0].read_text())
    del data["images"][3]["text_input"]
    plain.write_text(json.dumps(data))
    assert f"{plain}: image 21 has no text_input" in refused(
        EvaluationError, saco=([plain], image_dir))
    assert "SA-Co image folder not found" in refused(
        EvaluationError, saco=(paths, tmp_path / "none"))
    assert "COCO AP reads one GT json; a list" in refused(EvaluationError, "coco.concept.metric=ap")
