"""LVIS in the concept evaluation (audit 14; no model, a two-category GT dict): an LVIS json is
told by any one of its keys; a federated list that is not a list is refused; the detection
limit defaults to LVIS's 300 and is the evaluator's limit; the figures are over the prompted
categories only; the table writes percent and n/a; per_image=annotated asks an image's
verified-absent categories too."""

import pytest

from samhq_train.evaluation.coco import load_coco
from samhq_train.evaluation.coco_concept_queries import prompted_categories
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.lvis_concept import lvis_markdown, score_lvis_concepts
from samhq_train.evaluation.lvis_eval import federated_ap
from samhq_train.evaluation.lvis_gt import check_gt_entries, is_lvis, max_detections_of

GT_BOX = [10, 10, 20, 20]


def lvis_gt() -> dict:
    """Image 1: one instance of category 1 and of category 2, category 3 verified absent."""
    annotations = [{"id": c, "image_id": 1, "category_id": c, "bbox": GT_BOX, "area": 400.0,
                    "iscrowd": 0, "segmentation": []} for c in (1, 2)]
    return {"images": [{"id": 1, "height": 64, "width": 64, "coco_url": "http://x/val2017/1.jpg",
                        "neg_category_ids": [3], "not_exhaustive_category_ids": []}],
            "annotations": annotations,
            "categories": [{"id": c, "name": f"thing {c}", "frequency": "f"} for c in (1, 2, 3)]}


def detection(category_id, score, bbox=GT_BOX) -> dict:
    return {"image_id": 1, "category_id": category_id, "score": score, "bbox": list(bbox)}


def box_ap(predictions, categories, max_detections=300) -> float:
    scored = score_lvis_concepts(
        load_coco(lvis_gt()), {"boxes": predictions}, categories=categories,
        max_detections=max_detections, caption="", labels={"boxes": "boxes"})
    return scored["metrics"]["boxes"]["box_AP"]


def test_an_lvis_json_is_told_by_any_one_of_its_keys():
    """Mutants: the category frequencies or the not_exhaustive lists not looked at."""
    assert is_lvis({"images": [{"id": 1}], "categories": [{"id": 1, "frequency": "r"}]})
    assert is_lvis({"images": [{"id": 1, "not_exhaustive_category_ids": []}], "categories": []})
    assert not is_lvis({"images": [{"id": 1, "file_name": "a.jpg"}], "categories": [{"id": 1}]})
    check_gt_entries({"images": [{"id": 1, "file_name": "a.jpg"}], "categories": [{"id": 1}]},
                     "coco.json")  # a COCO json: no federated labels asked for


def test_a_federated_list_that_is_not_a_list_is_refused():
    """Mutant: the key's presence checked, not that it holds a list."""
    data = lvis_gt()
    data["images"][0]["neg_category_ids"] = None
    with pytest.raises(EvaluationError, match='lvis.json: image 1 has no "neg_category_ids" list'):
        check_gt_entries(data, "lvis.json")


def test_the_detection_limit_defaults_to_the_gts_protocol():
    """Mutant: COCO's 100 for an LVIS json too."""
    assert max_detections_of(None, lvis_gt()) == 300
    assert max_detections_of(None, {"images": [], "categories": []}) == 100
    assert max_detections_of(20, lvis_gt()) == 20


def test_the_limit_is_the_evaluators_and_the_figures_are_the_prompted_categories():
    """Mutants: score_lvis_concepts averaging over every category of the GT, or counting 100
    detections per image whatever max_detections says."""
    wrong = [detection(1, 0.9 - 0.001 * k, [40, 40, 10, 10]) for k in range(150)]
    found = [*wrong, detection(1, 0.5), detection(2, 0.9, [40, 40, 10, 10])]
    assert box_ap(found, {1: "thing 1"}, max_detections=300) == pytest.approx(
        federated_ap(load_coco(lvis_gt()), found, "bbox", category_ids=[1])["AP"], abs=1e-12)
    assert box_ap(found, {1: "thing 1"}, max_detections=300) > 0  # the 151st counts
    assert box_ap(found, {1: "thing 1"}, max_detections=100) == 0
    # category 2 (found nowhere right) is not prompted: it does not lower the figure
    alone = [detection(1, 0.9), detection(2, 0.8, [40, 40, 10, 10])]
    assert box_ap(alone, {1: "thing 1"}) == pytest.approx(1)


def test_the_table_writes_percent_and_na():
    """Mutants: n/a for a figure and a number for NaN; fractions written as they are."""
    figures = dict.fromkeys(("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf"),
                            0.25)
    figures["APr"] = float("nan")
    table = lvis_markdown({"boxes": {f"box_{k}": v for k, v in figures.items()}}, "caption",
                          {"boxes": "the boxes"})
    assert "| the boxes | 25.0 | 25.0 | 25.0 | 25.0 | 25.0 | 25.0 | n/a | 25.0 | 25.0 |" in table


def test_annotated_asks_an_images_verified_absent_categories():
    """Mutant: per_image=annotated asking only the categories an image has GT of (its
    neg_category_ids, verified absent, are scored by the federated AP and must be asked)."""
    data = lvis_gt()
    data["annotations"] = data["annotations"][:1]
    categories = {c: f"thing {c}" for c in (1, 2, 3)}
    asked = prompted_categories(load_coco(data), 1, categories, "annotated")
    assert asked == [(1, "thing 1"), (3, "thing 3")]
    assert len(prompted_categories(load_coco(data), 1, categories, "all")) == 3
