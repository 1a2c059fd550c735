"""COCO AP of exemplar-box prompts (samhq-evaluate coco.prompts=concept coco.concept.exemplars=
visual | text_and_visual) on the SAM 3 miniature with its detector (random weights): each image x
category with GT is asked with one of its GT boxes, the one concept training's validation
exemplars draw for the same seed; the detections are ConceptPredictor's called by hand with that
box, and their box and mask AP are those of Meta's positive-split evaluator
(CocoEvaluatorOfflineWithPredFileEvaluators(positive_split=True), run here on CPU)."""

# ruff: noqa: F811 (the fixtures test_coco_concept's, taken as arguments)
import json

import cv2
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from samhq_train.config_check import ConfigError
from samhq_train.data.concept_batch import collate_concepts
from samhq_train.data.concept_dataset import ConceptDataset
from samhq_train.data.concept_val_exemplars import (
    ValExemplarSettings,
    exemplar_batch,
    val_exemplar_row,
)
from samhq_train.evaluation import entry
from samhq_train.evaluation.coco import encode_mask, load_coco
from samhq_train.evaluation.coco_concept_exemplars import draw_exemplars
from samhq_train.evaluation.entry import evaluate
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.inference.concept import ConceptPredictor
from tests.evaluation.test_coco_concept import (  # noqa: F401 (files, model, pictures: fixtures)
    CATEGORIES,
    NAMES,
    SOURCES,
    assert_scores_match,
    by_hand,
    concept_cfg,
    files,
    model,
    no_model,
    pictures,
)

pytest.importorskip("sam3.eval.coco_eval_offline")
from sam3.eval.coco_eval_offline import CocoEvaluatorOfflineWithPredFileEvaluators  # noqa: E402

SEED = 3
# (image id, category id): its GT boxes besides those taken from the detections (x, y, w, h,
# crowd); the other image x category pairs have no instance (negatives: never asked)
OWN_BOXES = {
    (1, 1): [(4, 6, 20, 14, 0), (30, 2, 12, 30, 0)],
    (1, 3): [(10, 20, 40, 20, 0)],
    (2, 7): [(3, 4, 30, 18, 0), (0, 30, 25, 26, 1)],
    (5, 1): [(12, 10, 16, 16, 0)],
    (5, 3): [(2, 2, 20, 36, 0), (22, 5, 18, 30, 0)],
}
# per pair, the detections (mask source, query) taken as GT too, so that every row finds some
FROM_DETECTIONS = [("detector", 0), ("hq", 1), ("sam", 2)]


def box_mask(height, width, x, y, w, h) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    mask[y:y + h, x:x + w] = True
    return mask


def pixel_box(bbox) -> list[float]:
    x, y, w, h = bbox
    return [x, y, x + w, y + h]


def ask(predictor, text, box) -> list:
    """[(score, (detector mask, SAM mask, HQ mask), box)] of one exemplar prompt, called by hand."""
    plain = predictor.predict(text, exemplar_boxes=[box], use_hq=False)
    hq = predictor.predict(text, exemplar_boxes=[box], use_hq=True)
    return [(float(plain.scores[k]), (plain.detector_masks[k], plain.masks[k], hq.masks[k]),
             plain.boxes[k].tolist()) for k in range(len(plain))]


@pytest.fixture(scope="module")
def exemplar_set(tmp_path_factory, files, model, pictures):
    """(GT json, image folder): each pair's own boxes and, as GT too, some of the detections its
    exemplar (its first own box) gives; the exemplar placed where the seed's draw over the final
    instance count lands, so the evaluation asks that box."""
    root = tmp_path_factory.mktemp("coco_exemplars")
    (root / "images").mkdir()
    predictor = ConceptPredictor(model, files[1], threshold=0.0)
    images, annotations = [], []
    for image_id, picture in pictures.items():
        cv2.imwrite(str(root / "images" / f"{image_id}.png"), picture[..., ::-1])
        h, w = picture.shape[:2]
        images.append({"id": image_id, "file_name": f"{image_id}.png", "height": h, "width": w})
        predictor.set_image(picture)
        for (pair_image, category_id), own in OWN_BOXES.items():
            if pair_image != image_id:
                continue
            instances = [(box_mask(h, w, *b[:4]), list(b[:4]), b[4]) for b in own]
            found = ask(predictor, None, pixel_box(own[0][:4]))
            for source, query in FROM_DETECTIONS:
                _, masks, box = found[query]
                x0, y0, x1, y1 = np.clip(box, 0, [w, h, w, h]).tolist()  # a json box is inside
                instances.append((masks[SOURCES.index(source)], [x0, y0, x1 - x0, y1 - y0], 0))
            exemplar, others = instances[0], instances[1:]
            others.insert(val_exemplar_row(SEED, image_id, category_id, len(instances)), exemplar)
            for mask, bbox, crowd in others:
                annotations.append({
                    "id": len(annotations) + 1, "image_id": image_id,
                    "category_id": category_id, "segmentation": encode_mask(mask),
                    "area": int(mask.sum()), "iscrowd": crowd, "bbox": bbox,
                })
    gt = root / "gt.json"
    gt.write_text(json.dumps({"images": images, "annotations": annotations,
                              "categories": CATEGORIES}))
    return gt, root / "images"


def exemplars_by_hand(gt) -> dict:
    """{(image id, category id): x0 y0 x1 y1} of the GT box val_exemplar_row picks."""
    coco_gt = load_coco(gt)
    chosen = {}
    for image_id, category_id in OWN_BOXES:
        anns = [a for a in coco_gt.imgToAnns[image_id] if a["category_id"] == category_id]
        chosen[image_id, category_id] = pixel_box(
            anns[val_exemplar_row(SEED, image_id, category_id, len(anns))]["bbox"])
    return chosen


@pytest.fixture(scope="module")
def found(files, model, pictures, exemplar_set):
    """{mode: {(image id, category id): ask(...)}}: ConceptPredictor called by hand per image x
    category with GT, with the box exemplars_by_hand picks."""
    predictor = ConceptPredictor(model, files[1], threshold=0.0)
    boxes = exemplars_by_hand(exemplar_set[0])
    out = {"visual": {}, "text_and_visual": {}}
    for image_id, picture in pictures.items():
        predictor.set_image(picture)
        for (pair_image, category_id), box in boxes.items():
            if pair_image == image_id:
                out["visual"][image_id, category_id] = ask(predictor, None, box)
                out["text_and_visual"][image_id, category_id] = ask(
                    predictor, NAMES[category_id], box)
    return out


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, exemplar_set, files):
    """mode -> (samhq-evaluate's COCO result with coco.concept.exemplars=mode, its output
    folder), each mode evaluated once."""
    runs = {}

    def run(mode):
        if mode not in runs:
            out = tmp_path_factory.mktemp(mode)
            cfg = concept_cfg(out, exemplar_set, files, f"coco.concept.exemplars={mode}",
                              f"coco.concept.exemplar_seed={SEED}")
            runs[mode] = evaluate(cfg)["coco"], out
        return runs[mode]

    return run


def positive(image_id) -> list:
    return [c for c in NAMES if (image_id, c) in OWN_BOXES]


@pytest.mark.parametrize("mode", ["visual", "text_and_visual"])
def test_each_positive_pair_is_asked_with_its_drawn_gt_box(exemplar_set, evaluated, found, mode):
    result, out = evaluated(mode)
    expected = by_hand(found[mode], positive)
    assert len(expected["detector"]) == 5 * 12  # 5 positive pairs x 12 queries, no negative
    assert result["predictions"]["boxes"] == expected["boxes"]
    for source in SOURCES:
        got = result["predictions"][source]
        assert [(p["image_id"], p["category_id"], p["score"], p["segmentation"]) for p in got] == [
            (p["image_id"], p["category_id"], p["score"], p["segmentation"])
            for p in expected[source]
        ]
    assert_scores_match(result["metrics"], expected, exemplar_set[0])
    caption = (out / "coco.md").read_text()
    assert f"3 categories, exemplars={mode}: each image x category with GT instances" in caption
    assert f"seed {SEED}; scored on Meta's positive split" in caption
    assert "60 detections on 3 images" in caption


def test_the_ap_is_metas_positive_split_evaluation(exemplar_set, evaluated):
    """Meta's offline evaluator with positive_split=True (detections of a category the image has
    no instance of dropped) on the written results gives our box and mask figures."""
    gt, _ = exemplar_set
    result, out = evaluated("visual")
    metrics = result["metrics"]
    assert metrics["boxes"]["box_AP"] > 0 and min(metrics[s]["mask_AP"] for s in SOURCES) > 0
    for source, iou_type, kind in [("boxes", "bbox", "box"), *((s, "segm", "mask")
                                                                for s in SOURCES)]:
        meta = CocoEvaluatorOfflineWithPredFileEvaluators(
            str(gt), tide=False, iou_type=iou_type, positive_split=True
        ).evaluate(out / f"coco_results_{source}.json")
        for ours, theirs in (("AP", "AP"), ("AP50", "AP_50"), ("AP75", "AP_75")):
            assert metrics[source][f"{kind}_{ours}"] == pytest.approx(
                meta[f"coco_eval_{iou_type}_{theirs}"], abs=1e-12), (source, ours)


def test_the_boxes_are_training_validations_exemplars(exemplar_set, files):
    """The drawn boxes are those data.val_exemplars asks with data.seed the same (normalised
    (cx, cy, w, h) of the validation batch), and exemplars_by_hand's; another seed draws others."""
    gt, image_dir = exemplar_set
    coco_gt = load_coco(gt)
    drawn = draw_exemplars(coco_gt, NAMES, "visual", SEED).boxes
    dataset = ConceptDataset(gt, image_dir, training=False, resolution=64,
                             categories_per_datapoint=2)
    batch = exemplar_batch(collate_concepts([dataset[i] for i in range(len(dataset))]),
                           ValExemplarSettings(seed=SEED))
    training = {}
    for q, image in enumerate(batch.image_index.tolist()):
        key = int(batch.image_ids[image]), int(batch.category_ids[q])
        training[key] = batch.exemplar_boxes[q, 0]
    assert set(training) == set(drawn) == set(OWN_BOXES)
    for (image_id, category_id), box in drawn.items():
        h, w = coco_gt.imgs[image_id]["height"], coco_gt.imgs[image_id]["width"]
        x0, y0, x1, y1 = torch.from_numpy(box) / torch.tensor([w, h, w, h])
        ours = torch.stack(((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)).float()
        torch.testing.assert_close(ours, training[image_id, category_id], rtol=0, atol=1e-6)
    assert {k: v.tolist() for k, v in drawn.items()} == exemplars_by_hand(gt)
    rows = [val_exemplar_row(SEED, i, c, len(coco_gt.getAnnIds(imgIds=i, catIds=c)))
            for i, c in OWN_BOXES]
    assert len(set(rows)) > 1  # not always the same row
    other = draw_exemplars(coco_gt, NAMES, "visual", SEED + 1).boxes
    assert any(other[k].tolist() != drawn[k].tolist() for k in drawn)


def test_the_text_only_default_asks_no_exemplar(exemplar_set, files, model):
    assert draw_exemplars(load_coco(exemplar_set[0]), NAMES, "none") is None
    assert OmegaConf.select(concept_cfg("out", exemplar_set, files),
                            "coco.concept.exemplars") == "none"


def test_exemplar_settings_are_refused_before_the_model(tmp_path, exemplar_set, files,
                                                        monkeypatch):
    monkeypatch.setattr(entry, "build_model_from_config", no_model)

    def refused(error, *overrides, gt=None) -> str:
        coco = exemplar_set if gt is None else (gt, exemplar_set[1])
        with pytest.raises(error) as info:
            evaluate(concept_cfg(tmp_path, coco, files, *overrides))
        assert "\n" not in str(info.value)
        return str(info.value)

    bad_mode = "coco.concept.exemplars=box: expected one of none, visual, text_and_visual"
    assert bad_mode in refused(ConfigError, "coco.concept.exemplars=box")
    with pytest.raises(EvaluationError) as direct:  # a direct caller: the same line
        draw_exemplars(load_coco(exemplar_set[0]), NAMES, "box")
    assert str(direct.value) == bad_mode
    assert "coco.concept.exemplar_seed=-1" in refused(
        ConfigError, "coco.concept.exemplars=visual", "coco.concept.exemplar_seed=-1")
    assert "leave coco.concept.per_image out" in refused(
        EvaluationError, "coco.concept.exemplars=visual", "coco.concept.per_image=annotated")
    assert "with coco.concept.metric=cgf1" in refused(
        EvaluationError, "coco.concept.exemplars=text_and_visual", "coco.concept.metric=cgf1")
    data = json.loads(exemplar_set[0].read_text())
    for ann in data["annotations"]:
        if (ann["image_id"], ann["category_id"]) == (5, 1):
            ann["bbox"] = [12, 10, 0, 16]  # an empty box: nothing to ask with
    empty = tmp_path / "empty_box.json"
    empty.write_text(json.dumps(data))
    message = refused(EvaluationError, "coco.concept.exemplars=visual", gt=empty)
    assert "(image 5, category 1), drawn as an exemplar, has bbox [12, 10, 0, 16]" in message
