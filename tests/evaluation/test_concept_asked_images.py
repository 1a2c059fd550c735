"""samhq-evaluate coco.prompts=concept: the check stage looks for the files of the images the run
will read (coco_concept_queries.concept_queries: per_image, the category subset, the exemplars; with
coco.concept.metric=cgf1 the SA-Co pairs scored) and of no other; it refused a run with
per_image=annotated over a folder that holds only the annotated images, for an image that would
never be read, and let an SA-Co run start without the images of its pairs."""

import json

import pytest
from hydra import compose, initialize_config_dir

from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.evaluation.checks import check_inputs, read_saco_inputs
from samhq_train.evaluation.errors import EvaluationError
from tests.model.sam3.concept.synthetic_bpe import write_merges_file


def annotation(ann_id, image_id, category_id) -> dict:
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, "bbox": [1, 1, 3, 3],
            "area": 9, "iscrowd": 0, "segmentation": [[1, 1, 4, 1, 4, 4, 1, 4]]}


# image 1 has a cat, image 2 nothing, image 3 a dog; the folder holds 1.png alone
GT = {
    "images": [{"id": i, "file_name": f"{i}.png", "height": 8, "width": 8} for i in (1, 2, 3)],
    "annotations": [annotation(1, 1, 1), annotation(2, 3, 2)],
    "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
}


@pytest.fixture(scope="module")
def concept_cfg(tmp_path_factory):
    folder = tmp_path_factory.mktemp("asked_images")
    (folder / "gt.json").write_text(json.dumps(GT))
    (folder / "images").mkdir()
    (folder / "images" / "1.png").write_bytes(b"")  # looked for, never read
    write_merges_file(folder / "bpe.txt.gz")
    settings = [f"output_dir={folder / 'out'}", "model=sam3_hq_demo", "model.checkpoint=null",
                "benchmark=false", "coco.prompts=concept", f"coco.concept.bpe={folder}/bpe.txt.gz",
                f"coco.image_dir={folder / 'images'}", f"coco.annotation_file={folder}/gt.json"]

    def cfg(*overrides):
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return compose("eval", overrides=[*settings, *overrides])
    return folder, cfg


@pytest.mark.parametrize("overrides", [
    ("coco.concept.per_image=annotated", "coco.concept.categories=[cat]"),
    ("coco.concept.exemplars=visual", "coco.concept.categories=[cat]"),
])
def test_images_the_run_will_not_read_need_not_be_there(concept_cfg, overrides):
    _, cfg = concept_cfg
    assert check_inputs(cfg(*overrides)).task == "concept"


@pytest.mark.parametrize("overrides, first_missing", [
    ((), 2),  # every category on every image
    (("coco.concept.per_image=annotated",), 3),  # image 2 has nothing to ask
    (("coco.concept.exemplars=text_and_visual",), 3),
])
def test_a_missing_image_the_run_reads_is_refused_before_the_model(concept_cfg, overrides,
                                                                   first_missing):
    folder, cfg = concept_cfg
    with pytest.raises(EvaluationError) as info:
        check_inputs(cfg(*overrides))
    assert str(info.value) == (
        f"{folder / 'images' / f'{first_missing}.png'}: image {first_missing} of "
        f"{folder / 'gt.json'} is not there; give the folder that holds the json's images "
        "(coco.image_dir)"
    )


def test_the_saco_check_looks_for_the_images_of_the_pairs_scored(concept_cfg, tmp_path):
    """Pair 1 (1.png, there) and pair 2 (2.png, missing) scored; pair 3 (3.png, missing) is not
    exhaustively annotated, so never read."""
    folder, _ = concept_cfg
    pairs = [{"id": i, "file_name": f"{i}.png", "height": 8, "width": 8, "text_input": "a cat",
              "is_instance_exhaustive": i != 3} for i in (1, 2, 3)]
    saco = tmp_path / "saco.json"
    saco.write_text(json.dumps({"images": pairs, "annotations": [],
                                "categories": [{"id": 1, "name": "object"}]}))
    with pytest.raises(EvaluationError) as info:
        read_saco_inputs(saco, folder / "images", folder / "bpe.txt.gz")
    assert str(info.value) == (
        f"{folder / 'images' / '2.png'}: image 2 of {saco} is not there; give the folder that "
        "holds the json's images (coco.image_dir)"
    )
    pairs[1]["is_instance_exhaustive"] = False
    saco.write_text(json.dumps({"images": pairs, "annotations": [],
                                "categories": [{"id": 1, "name": "object"}]}))
    assert read_saco_inputs(saco, folder / "images", folder / "bpe.txt.gz").pair_ids == (1,)
