"""LVIS AP of SAM 3 text prompts (samhq-evaluate coco.prompts=concept with an LVIS json) on the
SAM 3 miniature with its detector (random weights): images found from coco_url (split folder /
file under coco.image_dir), every category prompted on every image, 300 detections per image,
each row's figures lvis-api's LVISEval on the written results (within 1e-12); bad LVIS input is
refused in one line, exit status 2."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pycocotools.mask as mask_utils
import pytest
from hydra import compose, initialize_config_dir

from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.evaluation import coco_concept
from samhq_train.evaluation.coco import load_coco
from samhq_train.evaluation.coco_concept import concept_predictor, predict_concepts
from samhq_train.evaluation.entry import evaluate
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.lvis_eval import LVIS_AP_NAMES
from samhq_train.evaluation.lvis_gt import image_file
from samhq_train.model import load_checkpoint
from tests.evaluation.lvis_reference import lvis_eval, needs_lvis
from tests.model.sam3.concept.ours_file import write_sam3_with_detector

ROOT = Path(__file__).resolve().parents[2]
# image id: (split folder, height, width); LVIS val draws images from COCO's train2017 too
IMAGES = {3: ("val2017", 48, 64), 8: ("train2017", 40, 40), 11: ("val2017", 56, 40)}
FREQUENCY = {1: "r", 2: "c", 4: "f", 6: "f"}
NAMES = {1: "cat", 2: "dog", 4: "red car", 6: "cup"}
NEGATIVES = {3: [2], 8: [1, 6], 11: []}
NOT_EXHAUSTIVE = {3: [4], 8: [], 11: [1]}
# GT: (image, category, the source and rank among that image x category's detections of the mask)
GT_FROM = [(3, 1, "detector", 0), (3, 4, "hq", 1), (8, 2, "sam", 0), (11, 1, "detector", 2),
           (11, 6, "hq", 0), (11, 4, "detector", 1)]
SOURCES = ("detector", "sam", "hq")


def lvis_json(annotations=()) -> dict:
    images = [{"id": i, "height": h, "width": w, "neg_category_ids": NEGATIVES[i],
               "not_exhaustive_category_ids": NOT_EXHAUSTIVE[i],
               "coco_url": f"http://images.cocodataset.org/{split}/{i:012d}.png"}
              for i, (split, h, w) in IMAGES.items()]
    categories = [{"id": c, "name": NAMES[c], "frequency": f} for c, f in FREQUENCY.items()]
    return {"images": images, "annotations": list(annotations), "categories": categories}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_sam3_with_detector(tmp_path_factory.mktemp("sam3_file"))


@pytest.fixture(scope="module")
def lvis_set(tmp_path_factory, files):
    """(GT json path, COCO root): noise images under <root>/<split>/, GT masks taken from the
    pipeline's own detections (found first with a GT-less json: prompting every category does
    not depend on the GT)."""
    root = tmp_path_factory.mktemp("lvis")
    rng = np.random.RandomState(0)
    for image_id, (split, h, w) in IMAGES.items():
        (root / split).mkdir(exist_ok=True)
        cv2.imwrite(str(root / split / f"{image_id:012d}.png"),
                    (rng.rand(h, w, 3) * 255).astype(np.uint8))
    predictor = concept_predictor(load_checkpoint(files[0]), files[1])
    found = predict_concepts(predictor, load_coco(lvis_json()), root, NAMES, progress=False)
    annotations = []
    for image_id, category_id, source, rank in GT_FROM:
        rows = [p for p in found[source]
                if (p["image_id"], p["category_id"]) == (image_id, category_id)]
        segmentation = rows[rank]["segmentation"]
        annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                            "category_id": category_id, "segmentation": segmentation,
                            "area": float(mask_utils.area(segmentation)),
                            "bbox": mask_utils.toBbox(segmentation).tolist()})
    gt = root / "lvis_v1_tiny.json"
    gt.write_text(json.dumps(lvis_json(annotations)))
    return gt, root


def concept_cfg(out, gt, image_dir, files, *overrides):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("eval", overrides=[
            f"output_dir={out}", "progress=false", "model=sam3_hq_demo",
            f"model.checkpoint={files[0]}", "benchmark=false", "coco.prompts=concept",
            f"coco.annotation_file={gt}", f"coco.image_dir={image_dir}",
            f"coco.concept.bpe={files[1]}", "device=cpu", *overrides,
        ])


def test_the_image_of_an_lvis_entry_is_its_coco_urls_split_and_file():
    assert image_file({"coco_url": "http://images.cocodataset.org/val2017/000000397133.jpg"}) == (
        "val2017/000000397133.jpg"
    )
    assert image_file({"file_name": "a/b.png", "coco_url": "http://x/val2017/1.jpg"}) == "a/b.png"


@needs_lvis
def test_lvis_rows_are_lvis_apis_federated_ap(tmp_path, lvis_set, files):
    gt, root = lvis_set
    result = evaluate(concept_cfg(tmp_path, gt, root, files))["coco"]
    predictions = result["predictions"]
    # Meta's protocol: every category prompted on every image, verified or not
    pairs = {(p["image_id"], p["category_id"]) for p in predictions["detector"]}
    assert pairs == {(i, c) for i in IMAGES for c in NAMES}
    n = len(predictions["detector"])
    assert n == 3 * 4 * 12  # under the 300 per image: every query kept
    data = json.loads(gt.read_text())
    for row in ("boxes", *SOURCES):
        written = json.loads((tmp_path / f"lvis_results_{row}.json").read_text())
        assert written == predictions[row]
        kind, iou_type = ("box", "bbox") if row == "boxes" else ("mask", "segm")
        reference = lvis_eval(data, written, iou_type, tmp_path)
        for name in LVIS_AP_NAMES:
            ours = result["metrics"][row][f"{kind}_{name}"]
            if np.isnan(reference[name]):
                assert np.isnan(ours), (row, name)
            else:
                assert ours == pytest.approx(reference[name], abs=1e-12, rel=0), (row, name)
    aps = {s: result["metrics"][s]["mask_AP"] for s in SOURCES}
    assert len(set(aps.values())) == 3 and min(aps.values()) > 0, aps
    metrics = json.loads((tmp_path / "lvis_metrics.json").read_text())
    assert set(metrics["hq"]) == {f"mask_{n}" for n in LVIS_AP_NAMES}
    table = (tmp_path / "lvis.md").read_text()
    assert "| model | AP | AP50 | AP75 | APs | APm | APl | APr | APc | APf |" in table
    assert f"4 categories prompted by name (all per image), {n} detections on 3 images" in table
    assert not (tmp_path / "coco.md").exists()


@needs_lvis
def test_annotated_prompts_an_lvis_images_verified_categories(tmp_path, lvis_set, files):
    """per_image=annotated: an image's GT categories and its neg_category_ids; max_detections
    cuts each image's pool and is the evaluator's limit too."""
    gt, root = lvis_set
    result = evaluate(concept_cfg(tmp_path, gt, root, files, "coco.concept.per_image=annotated",
                                  "coco.max_detections=20", "sam_baseline=false"))["coco"]
    verified = {3: {1, 2, 4}, 8: {1, 2, 6}, 11: {1, 4, 6}}
    for image_id, categories in verified.items():
        got = [p for p in result["predictions"]["hq"] if p["image_id"] == image_id]
        assert {p["category_id"] for p in got} <= categories and len(got) == 20
    data = json.loads(gt.read_text())
    reference = lvis_eval(data, result["predictions"]["hq"], "segm", tmp_path, max_dets=20)
    assert result["metrics"]["hq"]["mask_AP"] == pytest.approx(reference["AP"], abs=1e-12)


def broken(tmp_path, gt, change) -> Path:
    data = json.loads(gt.read_text())
    change(data)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    return path


def test_bad_lvis_input_is_refused_naming_the_json_and_key(tmp_path, lvis_set, files):
    gt, root = lvis_set

    def refused(change) -> str:
        path = broken(tmp_path, gt, change)
        with pytest.raises(EvaluationError) as info:
            evaluate(concept_cfg(tmp_path, path, root, files))
        assert "\n" not in str(info.value) and str(path) in str(info.value)
        return str(info.value)

    assert "category 2 (dog) has \"frequency\": None; LVIS AP needs r, c or f" in refused(
        lambda d: d["categories"][1].pop("frequency"))
    assert "category 4 (red car) has \"frequency\": 'x'" in refused(
        lambda d: d["categories"][2].update(frequency="x"))
    assert "image 8 has neither \"file_name\" nor \"coco_url\"" in refused(
        lambda d: d["images"][1].pop("coco_url"))
    assert "image 11 has no \"not_exhaustive_category_ids\" list" in refused(
        lambda d: d["images"][2].pop("not_exhaustive_category_ids"))


def test_a_direct_call_keeps_the_jsons_detections_per_image(monkeypatch, tmp_path):
    """As the command (coco.max_detections=null): 300 per image for an LVIS json, 100 for a
    COCO one, unless given. Mutant: evaluate_concept_model / predict_concepts keeping COCO's 100
    for an LVIS json. The detector stood in for: no detection, the limit each image asked with
    recorded."""
    asked, scored = [], {}
    nothing = {"category_ids": np.zeros(0, np.int64), "scores": np.zeros(0),
               "boxes": np.zeros((0, 4)), "masks": np.zeros((0, 4, 4), bool)}
    monkeypatch.setattr(coco_concept, "read_gt_image", lambda folder, info: None)
    monkeypatch.setattr(coco_concept, "detect_image",
                        lambda predictor, prompts, threshold, limit, boxes: asked.append(limit)
                        or nothing)
    monkeypatch.setattr(coco_concept, "score_lvis_concepts",
                        lambda gt, predictions, **kwargs: scored.update(kwargs))
    predictor = SimpleNamespace(set_image=lambda image: None)
    coco_concept.evaluate_concept_model(predictor, coco_gt=load_coco(lvis_json()),
                                        image_dir=tmp_path, categories=NAMES, progress=False)
    assert asked == [300] * len(IMAGES) and scored["max_detections"] == 300
    plain = lvis_json()
    plain["categories"] = [{"id": c, "name": n} for c, n in NAMES.items()]
    plain["images"] = [{k: v for k, v in image.items() if "category_ids" not in k}
                       for image in plain["images"]]
    asked.clear()
    predict_concepts(predictor, load_coco(plain), tmp_path, NAMES, progress=False)
    predict_concepts(predictor, load_coco(lvis_json()), tmp_path, NAMES, max_detections=7,
                     progress=False)
    assert asked == [100] * len(IMAGES) + [7] * len(IMAGES)


def test_the_command_refuses_a_category_without_frequency_in_one_line(tmp_path, lvis_set, files):
    gt, root = lvis_set
    path = broken(tmp_path, gt, lambda d: d["categories"][0].pop("frequency"))
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "evaluate.py"), f"output_dir={tmp_path}",
         "model=sam3_hq_demo", f"model.checkpoint={files[0]}", "benchmark=false",
         "coco.prompts=concept", f"coco.annotation_file={path}", f"coco.image_dir={root}",
         f"coco.concept.bpe={files[1]}"],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
        timeout=180,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: category 1 (cat)"), lines
    assert '"frequency"' in lines[0]
