"""COCO AP of SAM 3 text prompts (samhq-evaluate coco.prompts=concept) on a tiny COCO set and the
SAM 3 miniature with its detector (random weights): the detections' boxes (box AP) and each of the
three mask sources (the detector's masks, SAM 3's decoder, the HQ decoder) score what
ConceptPredictor gives when called directly per image x category, scored here with pycocotools by
hand; bad input is refused in one line before the model is read."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from pycocotools.cocoeval import COCOeval

from samhq_train.clip_tokenizer import TokenizerFileError
from samhq_train.config_check import ConfigError
from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.evaluation import entry
from samhq_train.evaluation.coco import BoundaryCOCOeval, encode_mask, load_coco
from samhq_train.evaluation.coco_concept import (
    concept_predictor,
    detect_image,
    evaluate_concept_model,
    predict_concepts,
)
from samhq_train.evaluation.coco_inputs import read_concept_inputs
from samhq_train.evaluation.entry import evaluate
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.inference.concept import ConceptInstances, ConceptPredictor
from samhq_train.model import load_checkpoint, save_checkpoint
from samhq_train.model.sam3.concept.detector import NoDetectorError
from tests.model.sam3.concept.ours_file import write_sam3_with_detector

ROOT = Path(__file__).resolve().parents[2]
CATEGORIES = [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}, {"id": 7, "name": "red car"}]
NAMES = {c["id"]: c["name"] for c in CATEGORIES}
SIZES = {1: (48, 64), 2: (56, 40), 5: (40, 40)}  # image id: (height, width)
SOURCES = ("detector", "sam", "hq")
# The GT: (image id, category id, the source and query index of the predictor's mask taken as
# its mask), so that each source finds some of its own masks in the GT (random weights find none);
# the detector-mask ones take that query's detected box as their box, so box AP finds some too
GT_FROM = [(1, 1, "detector", 0), (1, 3, "hq", 1), (2, 7, "sam", 0), (2, 1, "detector", 2),
           (5, 3, "hq", 0), (5, 7, "detector", 1)]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """(the miniature's file with the detector and HQ parts, its merges file): the HQ parts
    scaled so that HQ masks differ from SAM 3's (on random weights both fill the image)."""
    folder = tmp_path_factory.mktemp("sam3_file")
    plain, bpe = write_sam3_with_detector(folder)
    with torch.random.fork_rng():
        torch.manual_seed(1)  # the HQ parts a file without them gets are drawn
        model = load_checkpoint(plain)
    with torch.no_grad():
        model.sam_mask_decoder.hf_mlp.layers[2].weight.mul_(30)
        model.sam_mask_decoder.hf_mlp.layers[2].bias.mul_(30)
    return save_checkpoint(model, folder / "sam3_hq.pt", "sam_hq"), bpe


@pytest.fixture(scope="module")
def model(files):
    return load_checkpoint(files[0]).eval()


@pytest.fixture(scope="module")
def pictures():
    rng = np.random.RandomState(0)
    return {i: (rng.rand(h, w, 3) * 255).astype(np.uint8) for i, (h, w) in SIZES.items()}


@pytest.fixture(scope="module")
def found(files, model, pictures):
    """{(image id, category id): [(score, (detector mask, SAM mask, HQ mask), box x0 y0 x1 y1)]
    in query order}: ConceptPredictor.predict called directly per image x category (threshold 0:
    every query)."""
    predictor = ConceptPredictor(model, files[1], threshold=0.0)
    out = {}
    for image_id, picture in pictures.items():
        predictor.set_image(picture)
        for category_id, name in NAMES.items():
            plain = predictor.predict(name, use_hq=False)
            hq = predictor.predict(name, use_hq=True)
            out[image_id, category_id] = [
                (float(plain.scores[k]), (plain.detector_masks[k], plain.masks[k], hq.masks[k]),
                 plain.boxes[k].tolist())
                for k in range(len(plain))
            ]
    return out


@pytest.fixture(scope="module")
def coco_set(tmp_path_factory, pictures, found):
    """(GT json path, image folder): random-noise images, GT masks taken from the predictor's."""
    root = tmp_path_factory.mktemp("coco_concept")
    (root / "images").mkdir()
    images, annotations = [], []
    for image_id, picture in pictures.items():
        cv2.imwrite(str(root / "images" / f"{image_id}.png"), picture[..., ::-1])
        h, w = picture.shape[:2]
        images.append({"id": image_id, "file_name": f"{image_id}.png", "height": h, "width": w})
    for image_id, category_id, source, query in GT_FROM:
        _, masks, (x0, y0, x1, y1) = found[image_id, category_id][query]
        mask = masks[SOURCES.index(source)]
        ys, xs = np.nonzero(mask)
        box = [int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1]
        annotations.append({
            "id": len(annotations) + 1, "image_id": image_id, "category_id": category_id,
            "segmentation": encode_mask(mask), "area": int(mask.sum()), "iscrowd": 0,
            "bbox": [x0, y0, x1 - x0, y1 - y0] if source == "detector" else box,
        })
    gt = root / "gt.json"
    gt.write_text(json.dumps({"images": images, "annotations": annotations,
                              "categories": CATEGORIES}))
    return gt, root / "images"


def eval_cfg(out, *overrides):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("eval", overrides=[f"output_dir={out}", "progress=false", *overrides])


def concept_cfg(out, coco_set, files, *overrides, model="sam3_hq_demo", checkpoint=None):
    gt, image_dir = coco_set
    checkpoint = files[0] if checkpoint is None else checkpoint
    return eval_cfg(
        out, f"model={model}", f"model.checkpoint={checkpoint}", "benchmark=false",
        "coco.prompts=concept", f"coco.annotation_file={gt}", f"coco.image_dir={image_dir}",
        f"coco.concept.bpe={files[1]}", "device=cpu", *overrides,
    )


def by_hand(found, prompts_of, max_detections=100):
    """Each source's COCO results (and the boxes') from the predictor's answers (found), the
    image's max_detections highest scores over its prompts kept (a stable sort: prompt, query
    order)."""
    out = {s: [] for s in ("boxes", *SOURCES)}
    for image_id in SIZES:
        pool = [(score, category_id, masks, box) for category_id in prompts_of(image_id)
                for score, masks, box in found[image_id, category_id]]
        order = np.argsort([-entry[0] for entry in pool], kind="stable")[:max_detections]
        for i in order:
            score, category_id, masks, (x0, y0, x1, y1) = pool[i]
            out["boxes"].append({"image_id": image_id, "category_id": category_id,
                                 "score": score, "bbox": [x0, y0, x1 - x0, y1 - y0]})
            for source, mask in zip(SOURCES, masks):
                out[source].append({"image_id": image_id, "category_id": category_id,
                                    "score": score, "segmentation": encode_mask(mask)})
    return out


def cocoeval_stats(gt, results, evaluator, category_ids=None) -> dict:
    coco_gt = load_coco(gt)
    e = evaluator(coco_gt, coco_gt.loadRes([dict(r) for r in results]))
    if category_ids is not None:
        e.params.catIds = category_ids
    e.evaluate()
    e.accumulate()
    e.summarize()
    return dict(zip(("AP", "AP50", "AP75"), e.stats[:3]))


def assert_scores_match(metrics, expected, gt, category_ids=None):
    boxes = cocoeval_stats(gt, expected["boxes"], lambda g, d: COCOeval(g, d, "bbox"),
                           category_ids)
    for name in ("AP", "AP50", "AP75"):
        assert metrics["boxes"][f"box_{name}"] == pytest.approx(boxes[name], abs=1e-12)
    for source in SOURCES:
        masks = cocoeval_stats(gt, expected[source], lambda g, d: COCOeval(g, d, "segm"),
                               category_ids)
        bounds = cocoeval_stats(gt, expected[source], BoundaryCOCOeval, category_ids)
        for name in ("AP", "AP50", "AP75"):
            assert metrics[source][f"mask_{name}"] == pytest.approx(masks[name], abs=1e-12)
            assert metrics[source][f"boundary_{name}"] == pytest.approx(bounds[name], abs=1e-12)


def test_every_category_on_every_image_scores_what_the_predictor_gives(
    tmp_path, coco_set, files, found
):
    gt, _ = coco_set
    result = evaluate(concept_cfg(tmp_path, coco_set, files))["coco"]
    expected = by_hand(found, lambda image_id: list(NAMES))
    for source in SOURCES:  # the same detections in every row, 3 categories x 12 queries
        got = result["predictions"][source]
        assert len(got) == len(expected[source]) == 3 * 3 * 12
        assert [(p["image_id"], p["category_id"], p["score"]) for p in got] == [
            (p["image_id"], p["category_id"], p["score"]) for p in expected[source]
        ]
        assert [p["segmentation"] for p in got] == [p["segmentation"] for p in expected[source]]
    assert result["predictions"]["boxes"] == expected["boxes"]
    assert_scores_match(result["metrics"], expected, gt)
    aps = {s: result["metrics"][s]["mask_AP"] for s in SOURCES}
    assert len(set(aps.values())) == 3 and min(aps.values()) > 0, aps  # three different rows
    assert result["metrics"]["boxes"]["box_AP"] > 0
    table = (tmp_path / "coco.md").read_text()
    assert "3 categories prompted by name (all per image), 108 detections on 3 images" in table
    box_ap = 100 * result["metrics"]["boxes"]["box_AP"]
    for row in (f"| SAM 3 detector boxes (box AP) | n/a | {box_ap:.1f} |",
                "| SAM 3 detector masks |", "| SAM |", "| SAM-HQ |"):
        assert row in table
    for source in ("boxes", *SOURCES):
        written = json.loads((tmp_path / f"coco_results_{source}.json").read_text())
        assert written == result["predictions"][source]


def test_top_detections_per_image_subset_and_annotated_categories(coco_set, files, model, found):
    """max_detections cuts each image's pool over its prompts; per_image=annotated prompts only
    the image's GT categories; a category subset is prompted and scored alone."""
    gt, image_dir = coco_set
    coco_gt, categories = read_concept_inputs(gt, image_dir, files[1], ["cat", "dog"])
    assert categories == {1: "cat", 3: "dog"}
    predictor = concept_predictor(model, files[1])
    result = evaluate_concept_model(
        predictor, coco_gt=coco_gt, image_dir=image_dir, categories=categories,
        per_image="annotated", max_detections=10, progress=False,
    )

    def annotated(image_id):
        present = {a["category_id"] for a in coco_gt.imgToAnns[image_id]}
        return [c for c in categories if c in present]

    expected = by_hand(found, annotated, max_detections=10)
    # images 1 (cat, dog: 24 cut to 10), 2 (cat: 12 cut to 10), 5 (dog: 12 cut to 10)
    assert len(result["predictions"]["detector"]) == 30
    for source in SOURCES:
        got = result["predictions"][source]
        assert [(p["image_id"], p["category_id"], p["score"]) for p in got] == [
            (p["image_id"], p["category_id"], p["score"]) for p in expected[source]
        ]
        assert [p["segmentation"] for p in got] == [p["segmentation"] for p in expected[source]]
    assert_scores_match(result["metrics"], expected, gt, category_ids=[1, 3])


def test_without_the_sam_baseline_the_sam_row_is_left_out(coco_set, files, model, found):
    gt, image_dir = coco_set
    result = evaluate_concept_model(
        concept_predictor(model, files[1]), coco_gt=load_coco(gt), image_dir=image_dir,
        categories={7: "red car"}, max_detections=3, sam_baseline=False, progress=False,
    )
    assert set(result["predictions"]) == set(result["metrics"]) == {"boxes", "detector", "hq"}
    assert "| SAM |" not in result["table"] and "| SAM-HQ |" in result["table"]
    expected = by_hand(found, lambda image_id: [7], max_detections=3)
    for source in ("boxes", "detector", "hq"):
        assert result["predictions"][source] == expected[source]


def test_an_image_without_an_annotated_prompted_category_is_skipped(coco_set, files, model, found):
    """per_image=annotated with "red car" alone: image 1 has none, so nothing prompts it."""
    gt, image_dir = coco_set
    predictions = predict_concepts(
        concept_predictor(model, files[1]), load_coco(gt), image_dir, {7: "red car"},
        per_image="annotated", sam_baseline=False, progress=False,
    )
    expected = by_hand(found, lambda image_id: [] if image_id == 1 else [7])
    assert {p["image_id"] for p in expected["detector"]} == {2, 5}
    for source in ("detector", "hq"):
        assert [(p["image_id"], p["score"], p["segmentation"]) for p in predictions[source]] == [
            (p["image_id"], p["score"], p["segmentation"]) for p in expected[source]
        ]


def no_model(*args, **kwargs):
    raise AssertionError("the model was read before the settings were checked")


def test_bad_input_is_refused_before_the_model_is_read(tmp_path, coco_set, files, monkeypatch):
    gt, image_dir = coco_set
    monkeypatch.setattr(entry, "build_model_from_config", no_model)

    def refused(error, *overrides, **model) -> str:
        with pytest.raises(error) as info:
            evaluate(concept_cfg(tmp_path, coco_set, files, *overrides, **model))
        assert "\n" not in str(info.value)
        return str(info.value)

    assert "model.variant=vit_demo is a sam1 model; text prompts need a SAM 3" in refused(
        EvaluationError, model="vit_demo", checkpoint="null"
    )
    missing = tmp_path / "missing.txt.gz"
    assert str(missing) in refused(TokenizerFileError, f"coco.concept.bpe={missing}")
    assert "needs coco.concept.bpe" in refused(EvaluationError, "coco.concept.bpe=null")
    assert "coco.detections is for coco.prompts=boxes" in refused(
        EvaluationError, f"coco.detections={gt}"
    )
    assert "['bird'] are not category names" in refused(
        EvaluationError, "coco.concept.categories=[cat,bird]"
    )
    nameless = tmp_path / "nameless.json"
    data = json.loads(gt.read_text())
    data["categories"][1] = {"id": 3}
    nameless.write_text(json.dumps(data))
    assert refused(EvaluationError, f"coco.annotation_file={nameless}") == (
        f"{nameless}: category {{'id': 3}} has no name; text prompts need each category's name "
        '("name": "cat")'
    )
    data["categories"][1] = {"id": 3, "name": "  "}  # blank: no text to prompt with
    nameless.write_text(json.dumps(data))
    assert "category {'id': 3, 'name': '  '} has no name" in refused(
        EvaluationError, f"coco.annotation_file={nameless}"
    )
    assert "coco.concept.per_image=some" in refused(ConfigError, "coco.concept.per_image=some")
    assert "coco.concept.threshold=1.0" in refused(ConfigError, "coco.concept.threshold=1.0")
    assert "a list of category names" in refused(ConfigError, "coco.concept.categories=[]")
    assert "coco.prompts=points" in refused(ConfigError, "coco.prompts=points")


def test_a_sam3_file_without_the_detector_is_refused_before_any_image(tmp_path, coco_set, files):
    interactive, _ = write_sam3_with_detector(tmp_path, with_detector=False)
    gt, images = coco_set
    unreadable = tmp_path / "unreadable"  # the json's file names, none an image: read, one fails
    unreadable.mkdir()
    for image in images.iterdir():
        (unreadable / image.name).write_bytes(b"")
    with pytest.raises(NoDetectorError, match="has no concept detector") as info:
        evaluate(concept_cfg(tmp_path, (gt, unreadable), files, checkpoint=interactive))
    assert "\n" not in str(info.value)


def test_the_command_refuses_a_missing_merges_file_in_one_line(tmp_path, coco_set, files):
    gt, image_dir = coco_set
    missing = tmp_path / "bpe.txt.gz"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "evaluate.py"), f"output_dir={tmp_path}",
         "model=sam3_hq_demo", f"model.checkpoint={files[0]}", "benchmark=false",
         "coco.prompts=concept", f"coco.annotation_file={gt}", f"coco.image_dir={image_dir}",
         f"coco.concept.bpe={missing}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(missing) in lines[0], lines


def test_tied_scores_keep_the_prompt_then_query_order():
    """Two prompts, each 10 queries at 0.5 then 10 at 0.3: the top 30 are the first prompt's 0.5s,
    the second's, then the first's 0.3s (a stable sort, as by_hand and the docstring say)."""

    class Answers:
        def predict(self, name, refine, threshold):
            prompt = {"cat": 0, "dog": 1}[name]
            return ConceptInstances(
                scores=np.repeat(np.float32([0.5, 0.3]), 10),
                boxes=np.stack([np.arange(20) + 100 * prompt] * 4, 1).astype(np.float32),
                detector_masks=np.zeros((20, 2, 2), bool),
                masks=np.zeros((20, 2, 2), bool),
                mask_scores=None,
            )

    kept = detect_image(Answers(), [(1, "cat"), (3, "dog")], threshold=0.0, max_detections=30)
    want = [*range(10), *range(100, 110), *range(10, 20)]
    np.testing.assert_array_equal(kept["boxes"][:, 0], want)
    np.testing.assert_array_equal(kept["category_ids"], [1] * 10 + [3] * 10 + [1] * 10)
