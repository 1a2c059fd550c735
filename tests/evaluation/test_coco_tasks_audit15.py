"""Which COCO evaluation a samhq-evaluate config asks for and the checks of its keys
(evaluation/coco_tasks.py, the config check's coco.concept choices, draw_exemplars' modes and
what entry / predict_concepts hand on; audit 15; no model, no file read)."""

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from samhq_train.config_check import ConfigError, check_config
from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.evaluation import coco_concept, entry
from samhq_train.evaluation.coco import load_coco
from samhq_train.evaluation.coco_concept_exemplars import ExemplarPrompts, draw_exemplars
from samhq_train.evaluation.coco_tasks import check_coco_task, coco_task, concept_threshold
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.saco_metrics import CGF1_THRESHOLD


@pytest.fixture(scope="module")
def eval_cfg():
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("eval", overrides=["benchmark=false"])


@pytest.fixture
def cfg_of(eval_cfg):
    def cfg_of(**keys):
        cfg = OmegaConf.create(OmegaConf.to_container(eval_cfg))
        for key, value in keys.items():
            OmegaConf.update(cfg, key.replace("__", "."), value)
        return cfg
    return cfg_of


CONCEPT = {"coco__prompts": "concept", "coco__annotation_file": "gt.json",
           "coco__image_dir": "images", "coco__concept__bpe": "bpe.txt.gz", "model__variant": None}


def refused(cfg) -> str:
    with pytest.raises(EvaluationError) as info:
        check_coco_task(cfg)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_the_task_and_the_threshold_of_its_metric(cfg_of):
    """Mutants: saco and concept swapped; boxes without coco.detections; the null threshold's
    protocols swapped."""
    assert coco_task(cfg_of()) is None
    assert coco_task(cfg_of(coco__detections="d.json")) == "boxes"
    assert coco_task(cfg_of(**CONCEPT)) == "concept"
    saco = cfg_of(**CONCEPT, coco__concept__metric="cgf1")
    assert coco_task(saco) == "saco"
    assert concept_threshold(cfg_of(**CONCEPT).coco) == 0.0
    assert concept_threshold(saco.coco) == CGF1_THRESHOLD == 0.5
    assert concept_threshold(cfg_of(**CONCEPT, coco__concept__threshold=0.3).coco) == 0.3


def test_box_prompts_need_the_json_and_the_images(cfg_of):
    """Mutant: a missing coco.image_dir not asked for."""
    assert refused(cfg_of(coco__detections="d.json", coco__annotation_file="gt.json")) == (
        "coco.detections is set but coco.image_dir is not: give the GT json "
        "(coco.annotation_file=...) and the image folder (coco.image_dir=...)")
    check_coco_task(cfg_of(coco__detections="d.json", coco__annotation_file="gt.json",
                           coco__image_dir="images"))


def test_concept_settings_refused_and_passed(cfg_of):
    """Mutants: per_image=annotated refused without exemplars, or passed with them; the BPE file
    not asked for; a SAM 2 variant let through; the cgf1 checks of per_image / exemplars
    skipped."""
    check_coco_task(cfg_of(**CONCEPT, coco__concept__per_image="annotated"))
    check_coco_task(cfg_of(**CONCEPT, coco__concept__exemplars="visual"))
    check_coco_task(cfg_of(**{**CONCEPT, "model__variant": "sam3_hq"}))
    assert "leave coco.concept.per_image out" in refused(cfg_of(
        **CONCEPT, coco__concept__per_image="annotated", coco__concept__exemplars="visual"))
    assert refused(cfg_of(**{**CONCEPT, "coco__concept__bpe": None})).startswith(
        "coco.prompts=concept needs coco.concept.bpe:")
    assert "model.variant=sam2.1_hq_hiera_t is a sam2 model" in refused(
        cfg_of(**{**CONCEPT, "model__variant": "sam2.1_hq_hiera_t"}))
    saco = {**CONCEPT, "coco__concept__metric": "cgf1"}
    check_coco_task(cfg_of(**saco))
    assert refused(cfg_of(**saco, coco__concept__per_image="annotated")).startswith(
        "coco.concept.per_image=annotated chooses COCO categories per image")
    assert refused(cfg_of(**saco, coco__concept__exemplars="visual")).startswith(
        "coco.concept.exemplars=visual asks COCO categories with GT boxes")


def test_the_config_check_takes_the_concept_choices_from_the_constants(cfg_of):
    """Mutants: a mode or per_image choice missing from constants; the choices swapped or not
    checked (a bad one then found only when the json is read)."""
    for keys in ({"coco__concept__per_image": "annotated"},
                 {"coco__concept__exemplars": "text_and_visual"},
                 {"coco__concept__exemplars": "visual"}):
        check_config(cfg_of(**keys))
    for key, value, choices in (("per_image", "visual", "all, annotated"),
                                ("exemplars", "box", "none, visual, text_and_visual")):
        with pytest.raises(ConfigError) as info:
            check_config(cfg_of(**{f"coco__concept__{key}": value}))
        assert str(info.value).startswith(
            f"coco.concept.{key}={value}: expected one of {choices}")


def one_image_gt() -> dict:
    return {"images": [{"id": 1, "height": 32, "width": 32, "file_name": "1.png"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 2, "bbox": [4, 4, 10, 10],
                             "area": 100.0, "iscrowd": 0, "segmentation": []}],
            "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}


def test_draw_exemplars_refuses_an_unknown_mode_and_asks_none_for_none():
    """Mutants: the mode not checked; mode "none" drawing boxes."""
    coco = load_coco(one_image_gt())
    with pytest.raises(EvaluationError, match="^coco.concept.exemplars=box: expected one of "
                       "none, visual, text_and_visual$"):
        draw_exemplars(coco, {1: "a", 2: "b"}, "box")
    assert draw_exemplars(coco, {1: "a", 2: "b"}, "none") is None


class Stop(Exception):
    pass


def test_predict_concepts_asks_the_exemplars_with_the_jsons_limit(monkeypatch):
    """Mutants: ExemplarPrompts given as per_image asked as category names; max_detections=None
    kept at COCO's 100 for an LVIS json."""
    asked = []

    def detect_image(predictor, prompts, threshold, max_detections, boxes=None):
        asked.append((prompts, max_detections, boxes))
        raise Stop

    monkeypatch.setattr(coco_concept, "detect_image", detect_image)
    monkeypatch.setattr(coco_concept, "read_gt_image", lambda *args: None)
    predictor = type("Predictor", (), {"set_image": lambda self, image: None})()
    exemplars = ExemplarPrompts("visual", 0, {(1, 2): np.array([4.0, 4, 14, 14])})
    lvis = one_image_gt()
    lvis["images"][0].update(neg_category_ids=[1], not_exhaustive_category_ids=[])
    for gt, per_image, limit in ((one_image_gt(), exemplars, 100), (lvis, "all", 300)):
        with pytest.raises(Stop):
            coco_concept.predict_concepts(predictor, load_coco(gt), "unused", {1: "a", 2: "b"},
                                          per_image=per_image, progress=False)
        assert asked[-1][1] == limit
    prompts, _, boxes = asked[0]
    assert prompts == [(2, None)] and boxes[0].tolist() == [4, 4, 14, 14]


def test_entry_hands_the_drawn_exemplars_to_the_evaluation(cfg_of, monkeypatch):
    """Mutant: entry's concept run asking coco.concept.per_image whatever exemplars were
    drawn."""
    given = {}
    monkeypatch.setattr(entry, "evaluate_concept_model",
                        lambda predictor, **kwargs: given.update(kwargs))
    exemplars = ExemplarPrompts("visual", 0, {})
    cfg = cfg_of(**CONCEPT, coco__concept__exemplars="visual")
    entry._run_concept_coco(cfg, None, load_coco(one_image_gt()), ({2: "b"}, exemplars), {}, None)
    assert given["per_image"] is exemplars
    entry._run_concept_coco(cfg_of(**CONCEPT, coco__concept__per_image="annotated"), None,
                            load_coco(one_image_gt()), ({2: "b"}, None), {}, None)
    assert given["per_image"] == "annotated"


def test_evaluate_concept_model_hands_on_its_queries_and_the_resolved_limit(monkeypatch):
    """Mutants: evaluate_concept_model asking every category whatever per_image says, or not
    resolving the LVIS limit (None) before its predictions and scoring."""
    given = []

    def predict_concepts(predictor, coco_gt, image_dir, categories, **kwargs):
        given.append(kwargs)
        raise Stop

    monkeypatch.setattr(coco_concept, "predict_concepts", predict_concepts)
    lvis = one_image_gt()
    lvis["images"][0].update(neg_category_ids=[1], not_exhaustive_category_ids=[])
    exemplars = ExemplarPrompts("visual", 0, {})
    for gt, per_image, limit in ((lvis, "annotated", 300), (one_image_gt(), exemplars, 100)):
        with pytest.raises(Stop):
            coco_concept.evaluate_concept_model(None, coco_gt=load_coco(gt), image_dir="unused",
                                                categories={1: "a"}, per_image=per_image)
        assert given[-1]["per_image"] is per_image and given[-1]["max_detections"] == limit
