"""Mutation audit 19 (audit 18's open EN2): an SA-Co evaluation (coco.concept.metric=cgf1) given
a SAM 2 file gets the text prompts' refusal (a SAM 3 file with its detector is needed), as the
COCO concept evaluation does, not the loader's hint to use the file's own model=, on a one-pair
SA-Co json."""

import json
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from PIL import Image

from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.data.demo_concepts import write_demo_merges
from samhq_train.evaluation.entry import evaluate
from samhq_train.model import CheckpointError

SAM2_FILE = Path(__file__).resolve().parents[2] / "data" / "demo_base" / \
    "sam2.1_hq_hiera_demo_base.pt"


def test_an_saco_evaluation_of_a_sam2_file_asks_for_a_sam3_file(tmp_path):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images" / "a.png")
    (tmp_path / "gt.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "height": 8, "width": 8,
                    "text_input": "cat", "is_instance_exhaustive": True}],
        "annotations": [], "categories": [{"id": 1, "name": "object"}]}))
    write_demo_merges(tmp_path / "merges.txt.gz")
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("eval", overrides=[
            f"output_dir={tmp_path / 'eval'}", "progress=false", "model=sam3_hq_demo",
            f"model.checkpoint={SAM2_FILE}", "benchmark=false", "coco.prompts=concept",
            "coco.concept.metric=cgf1", f"coco.annotation_file=[{tmp_path / 'gt.json'}]",
            f"coco.image_dir={tmp_path / 'images'}",
            f"coco.concept.bpe={tmp_path / 'merges.txt.gz'}", "device=cpu"])
    with pytest.raises(CheckpointError) as err:
        evaluate(cfg)
    message = str(err.value)
    assert message.startswith(f"model.checkpoint={SAM2_FILE} holds a sam2.1_hq_hiera_demo model "
                              "(sam2 family): coco.prompts=concept prompts SAM 3's text detector")
    assert "model=sam2" not in message
