"""samhq-evaluate coco.prompts=concept works out each image's queries once: the check stage
(coco_concept_queries.concept_queries, which also tells which images' files must be there) hands
them to the run, which asks them as they are. They were worked out three times (the check
stage's asked_images, the run's asked_images, then each image's again as the run went)."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

import samhq_train.evaluation.coco_concept_queries as queries_module
import samhq_train.evaluation.entry as entry
from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.evaluation import coco_concept
from samhq_train.evaluation.checks import check_inputs
from samhq_train.model import Provenance
from tests.model.sam3.concept.synthetic_bpe import write_merges_file


def annotation(ann_id, image_id, category_id) -> dict:
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "bbox": [1, 1, 3, 3],
            "area": 9, "iscrowd": 0, "segmentation": [[1, 1, 4, 1, 4, 4, 1, 4]]}


# image 1 has a cat, image 2 nothing, image 3 a dog and a cat
GT = {
    "images": [{"id": i, "file_name": f"{i}.png", "height": 8, "width": 8} for i in (1, 2, 3)],
    "annotations": [annotation(1, 1, 1), annotation(2, 3, 2), annotation(3, 3, 1)],
    "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
}
ASKED = {1: [(1, "cat")], 3: [(1, "cat"), (2, "dog")]}  # per_image=annotated


@pytest.fixture(scope="module")
def concept_cfg(tmp_path_factory):
    folder = tmp_path_factory.mktemp("queries_once")
    (folder / "gt.json").write_text(json.dumps(GT))
    (folder / "images").mkdir()
    for image in GT["images"]:
        (folder / "images" / image["file_name"]).write_bytes(b"")  # looked for, never read
    write_merges_file(folder / "bpe.txt.gz")
    settings = ["model=sam3_hq_demo", "model.checkpoint=null", "benchmark=false",
                "coco.prompts=concept", f"coco.concept.bpe={folder}/bpe.txt.gz",
                f"coco.image_dir={folder / 'images'}", f"coco.annotation_file={folder}/gt.json",
                "coco.concept.per_image=annotated", "progress=false"]

    def cfg(out):
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return compose("eval", overrides=[f"output_dir={out}", *settings])
    return cfg


@pytest.fixture
def worked_out(monkeypatch):
    """The image ids whose queries were worked out (coco_concept_queries.image_queries)."""
    calls, image_queries = [], queries_module.image_queries

    def counting(coco_gt, image_id, *args):
        calls.append(image_id)
        return image_queries(coco_gt, image_id, *args)

    monkeypatch.setattr(queries_module, "image_queries", counting)
    return calls


def test_the_run_asks_what_the_check_stage_worked_out(concept_cfg, worked_out, monkeypatch,
                                                      tmp_path):
    inputs = check_inputs(concept_cfg(tmp_path / "out"))
    assert worked_out == [1, 2, 3]
    assert {i: prompts for i, (prompts, _) in inputs.concept_queries.items()} == ASKED
    asked = {}

    def detect_image(predictor, prompts, threshold, max_detections, boxes=None):
        asked[predictor.image] = prompts
        return {"category_ids": np.zeros(0, np.int64), "scores": np.zeros(0, np.float32),
                "boxes": np.zeros((0, 4), np.float32), "masks": np.zeros((0, 8, 8), bool)}

    monkeypatch.setattr(coco_concept, "detect_image", detect_image)
    monkeypatch.setattr(coco_concept, "read_gt_image", lambda folder, image: image["id"])
    predictor = SimpleNamespace(set_image=lambda image: setattr(predictor, "image", image))
    categories, _ = inputs.coco_prompts
    coco_concept.predict_concepts(predictor, inputs.coco_gt, "unused", categories,
                                  per_image="annotated", sam_baseline=False, progress=False,
                                  queries=inputs.concept_queries)
    assert asked == ASKED and worked_out == [1, 2, 3]


def test_evaluate_hands_the_check_stages_queries_to_the_run(concept_cfg, worked_out,
                                                            monkeypatch, tmp_path):
    given = {}
    model = SimpleNamespace(image_size=8)
    loaded = SimpleNamespace(model=model, provenance=Provenance(variant="sam3_hq_demo"))
    monkeypatch.setattr(entry, "build_model_from_config", lambda *args, **kwargs: loaded)
    monkeypatch.setattr(entry, "concept_predictor", lambda *args, **kwargs: "predictor")

    def evaluate_concept_model(predictor, **kwargs):
        given.update(kwargs)
        return {"paths": {}, "table": ""}

    monkeypatch.setattr(entry, "evaluate_concept_model", evaluate_concept_model)
    entry.evaluate(concept_cfg(tmp_path / "out"))
    assert {i: prompts for i, (prompts, _) in given["queries"].items()} == ASKED
    assert worked_out == [1, 2, 3]
