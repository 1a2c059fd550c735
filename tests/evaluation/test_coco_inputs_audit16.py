"""samhq-evaluate's check stage (evaluation/checks.py's check_inputs) and the COCO files it reads
(evaluation/coco_inputs.py): each refusal names its file and what to give, what it hands on (the
task, the GT, the raw detections; the prompted categories only), no model involved."""

import json

import pytest
from hydra import compose, initialize_config_dir
from pycocotools.coco import COCO

from samhq_train.clip_tokenizer import TokenizerFileError
from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.errors import UserError
from samhq_train.evaluation.checks import check_inputs, read_saco_inputs
from samhq_train.evaluation.coco_inputs import read_coco_inputs, read_concept_inputs
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.output_check import OutputError
from tests.model.sam3.concept.synthetic_bpe import write_merges_file

GT = {
    "images": [{"id": 1, "file_name": "1.png", "height": 8, "width": 8}],
    "annotations": [],
    "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "bird"}],
}
DETECTIONS = [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5}]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("coco_inputs")
    (folder / "gt.json").write_text(json.dumps(GT))
    (folder / "dets.json").write_text(json.dumps(DETECTIONS))
    (folder / "images").mkdir()
    (folder / "images" / "1.png").write_bytes(b"")  # the check stage looks for it, never reads it
    write_merges_file(folder / "bpe.txt.gz")
    return folder


def refused(error, call, *args) -> str:
    with pytest.raises(error) as info:
        call(*args)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_the_box_inputs_read_and_each_refusal(files, tmp_path):
    gt, found = read_coco_inputs(files / "gt.json", files / "images", files / "dets.json")
    assert isinstance(gt, COCO) and gt.dataset["images"] == GT["images"] and found == DETECTIONS
    images, dets = files / "images", files / "dets.json"
    missing = tmp_path / "missing.json"
    assert refused(EvaluationError, read_coco_inputs, missing, images, dets) == (
        f"cannot read the COCO GT json {missing}: No such file or directory; give the annotation "
        "file (e.g. annotations/instances_val2017.json)")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert refused(EvaluationError, read_coco_inputs, broken, images, dets).startswith(
        f"cannot read the COCO GT json {broken}: ")
    broken.write_text(json.dumps({"images": 3}))
    assert f"{broken} is not a COCO GT json (missing or bad " in refused(
        EvaluationError, read_coco_inputs, broken, images, dets)
    gt = files / "gt.json"
    assert refused(EvaluationError, read_coco_inputs, gt, images, missing) == (
        f"cannot read the detections json {missing}: No such file or directory; give a COCO "
        "results json [{image_id, category_id, bbox, score}]")
    not_json = tmp_path / "not.json"
    not_json.write_text("{")
    assert refused(EvaluationError, read_coco_inputs, gt, images, not_json).startswith(
        f"cannot read the detections json {not_json}: Expecting")
    bad_entry = tmp_path / "bad_entry.json"  # an annotation without its image id
    bad_entry.write_text(json.dumps(dict(GT, annotations=[{"id": 1, "category_id": 1}])))
    assert refused(EvaluationError, read_coco_inputs, bad_entry, images, dets) == (
        f"{bad_entry} is not a COCO GT json (missing or bad 'image_id'); it needs 'images', "
        "'annotations' and 'categories'")
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    assert refused(EvaluationError, read_coco_inputs, gt, images, empty) == (
        f"{empty}: no detections, nothing to prompt the model with")
    assert refused(EvaluationError, read_coco_inputs, gt, tmp_path / "no_images", dets) == (
        f"COCO image folder not found: {tmp_path / 'no_images'}")
    nameless = tmp_path / "nameless.json"  # an image without its file: refused before any model
    nameless.write_text(json.dumps(dict(GT, images=[{"id": 1, "height": 8, "width": 8}])))
    assert refused(EvaluationError, read_coco_inputs, nameless, images, dets).startswith(
        f"{nameless}: image 1 has neither \"file_name\" nor \"coco_url\"")


def test_the_concept_inputs_keep_the_categories_asked_for(files, tmp_path):
    gt, images, bpe = files / "gt.json", files / "images", files / "bpe.txt.gz"
    _, categories = read_concept_inputs(gt, images, bpe)
    assert categories == {1: "cat", 2: "dog", 3: "bird"}
    assert read_concept_inputs(gt, images, bpe, ["bird", "cat"])[1] == {1: "cat", 3: "bird"}
    names = ["cat", "zebra", "ant", "yak", "emu"]
    assert refused(EvaluationError, read_concept_inputs, gt, images, bpe, names) == (
        f"coco.concept.categories: ['ant', 'emu', 'yak', 'zebra'] are not category names of {gt} "
        "(it has e.g. ['bird', 'cat', 'dog'])")
    blank = tmp_path / "blank.json"
    blank.write_text(json.dumps(dict(GT, categories=[{"id": 1, "name": " "}])))
    assert refused(EvaluationError, read_concept_inputs, blank, images, bpe).startswith(
        f"{blank}: category {{'id': 1, 'name': ' '}} has no name; text prompts need")
    none = tmp_path / "none.json"
    none.write_text(json.dumps(dict(GT, categories=[])))
    assert refused(EvaluationError, read_concept_inputs, none, images, bpe) == (
        f"{none}: no categories, nothing to prompt with")
    no_images, no_bpe = tmp_path / "no_images", tmp_path / "no_bpe.txt.gz"
    assert refused(EvaluationError, read_concept_inputs, gt, no_images, no_bpe) == (
        f"COCO image folder not found: {no_images}")  # the folder before the merges file
    assert str(no_bpe) in refused(TokenizerFileError, read_concept_inputs, gt, images, no_bpe)
    nameless = tmp_path / "nameless.json"
    nameless.write_text(json.dumps(dict(GT, images=[{"id": 1, "height": 8, "width": 8}])))
    assert refused(EvaluationError, read_concept_inputs, nameless, images, bpe).startswith(
        f"{nameless}: image 1 has neither \"file_name\" nor \"coco_url\"")


@pytest.fixture(scope="module")
def eval_cfg(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval_out")

    def cfg(*overrides):
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return compose("eval", overrides=[f"output_dir={out}", *overrides])
    return cfg


def test_the_evaluation_check_stage(files, tmp_path, eval_cfg):
    inputs = check_inputs(eval_cfg("benchmark=false", f"coco.annotation_file={files / 'gt.json'}",
                                   f"coco.image_dir={files / 'images'}",
                                   f"coco.detections={files / 'dets.json'}"))
    assert inputs.task == "boxes" and inputs.coco_prompts == DETECTIONS
    assert isinstance(inputs.coco_gt, COCO) and inputs.checkpoint is None
    with pytest.raises(EvaluationError, match="^nothing to evaluate: benchmark=false"):
        check_inputs(eval_cfg("benchmark=false", "clicks.enabled=false"))
    clicks_only = eval_cfg("benchmark=false", "clicks.enabled=true", "data=demo")
    assert check_inputs(clicks_only).task is None
    with pytest.raises(EvaluationError, match="^coco.detections is set but coco.image_dir is not"):
        check_inputs(eval_cfg("benchmark=false", f"coco.annotation_file={files / 'gt.json'}",
                              f"coco.detections={files / 'dets.json'}"))
    taken = tmp_path / "a_file"
    taken.write_text("")
    with pytest.raises(OutputError, match=f"^output_dir={taken} is a file"):  # before the above
        check_inputs(eval_cfg("benchmark=false", "clicks.enabled=false", f"output_dir={taken}"))
    missing = tmp_path / "missing.pth"
    with pytest.raises(UserError, match=rf"^model.checkpoint={missing} not found"):
        check_inputs(eval_cfg("data=demo", f"model.checkpoint={missing}"))
    with pytest.raises(EvaluationError, match="^cannot read the detections json"):  # before it
        check_inputs(eval_cfg("benchmark=false", f"model.checkpoint={missing}",
                              f"coco.annotation_file={files / 'gt.json'}",
                              f"coco.image_dir={files / 'images'}",
                              f"coco.detections={tmp_path / 'no_dets.json'}"))


SACO_IMAGE = {"id": 5, "file_name": "1.png", "height": 8, "width": 8, "text_input": "a cat",
              "is_instance_exhaustive": True}


def test_the_saco_inputs_one_file_or_several(files, tmp_path, eval_cfg):
    saco = tmp_path / "saco.json"
    saco.write_text(json.dumps({"images": [SACO_IMAGE], "annotations": [],
                                "categories": [{"id": 1, "name": "object"}]}))
    images, bpe = files / "images", files / "bpe.txt.gz"
    assert read_saco_inputs(saco, images, bpe).paths == (str(saco),)
    assert refused(EvaluationError, read_saco_inputs, [saco], tmp_path / "none", bpe) == (
        f"SA-Co image folder not found: {tmp_path / 'none'}")
    assert str(tmp_path) in refused(TokenizerFileError, read_saco_inputs, [saco], images,
                                    tmp_path / "no.txt.gz")
    settings = ["model=sam3_hq_demo", "model.checkpoint=null", "benchmark=false",
                "coco.prompts=concept", "coco.concept.metric=cgf1", f"coco.concept.bpe={bpe}",
                f"coco.image_dir={images}"]
    inputs = check_inputs(eval_cfg(*settings, f"coco.annotation_file={saco}"))
    assert inputs.task == "saco" and inputs.coco_prompts is None
    assert inputs.coco_gt.paths == (str(saco),) and inputs.coco_gt.pair_ids == (5,)
    inputs = check_inputs(eval_cfg(*settings, f"coco.annotation_file=[{saco},{saco}]"))
    assert inputs.coco_gt.paths == (str(saco),) * 2


def test_the_concept_task_hands_on_the_categories_asked_and_their_exemplars(files, tmp_path,
                                                                          eval_cfg):
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(dict(GT, annotations=[
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 3, 3], "area": 9,
         "iscrowd": 0, "segmentation": [[1, 1, 4, 1, 4, 4, 1, 4]]}])))
    settings = ["model=sam3_hq_demo", "model.checkpoint=null", "benchmark=false",
                "coco.prompts=concept", f"coco.concept.bpe={files / 'bpe.txt.gz'}",
                f"coco.image_dir={files / 'images'}", f"coco.annotation_file={gt}"]
    inputs = check_inputs(eval_cfg(*settings, "coco.concept.categories=[cat,dog]",
                                   "coco.concept.exemplars=visual"))
    categories, exemplars = inputs.coco_prompts
    assert inputs.task == "concept" and categories == {1: "cat", 2: "dog"}
    assert exemplars is not None
    assert check_inputs(eval_cfg(*settings)).coco_prompts[1] is None  # exemplars=none
