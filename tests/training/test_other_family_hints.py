"""A checkpoint of a model family the command cannot use: the refusal says what the file holds
and what kind of file the command needs, not the loader's "use model=<the file's model>" (which
video fine-tuning or concept evaluation would then refuse too)."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.data.demo_concepts import write_demo_merges
from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.evaluation.entry import evaluate
from samhq_train.model import CheckpointError
from samhq_train.run.checks import check_inputs
from samhq_train.training.concept.run import build_concept_model

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo_base"
SAM1_FILE = DEMO / "vit_demo_base.safetensors"
SAM2_FILE = DEMO / "sam2.1_hq_hiera_demo_base.pt"


def test_a_sam1_file_for_video_fine_tuning_asks_for_a_sam2_or_sam3_file(tmp_path):
    clips = write_moving_shapes(tmp_path / "clips", num_videos=1, num_frames=2, size=32)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[
            "experiment=video_finetune", f"model.checkpoint={SAM1_FILE}",
            f"paths.output_dir={tmp_path / 'run'}", f"data.root={clips}", "data.num_frames=2"])
    with pytest.raises(CheckpointError) as err:
        check_inputs(cfg)
    message = str(err.value)
    assert message.startswith(f"model.checkpoint={SAM1_FILE} holds a vit_demo_base model (sam1 "
                              "family): video fine-tuning trains SAM 2.1's or SAM 3's tracker")
    assert "model=vit_demo_base" not in message


def test_a_sam2_file_for_concept_evaluation_asks_for_a_sam3_file(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "gt.json").write_text(
        '{"images": [], "annotations": [], "categories": [{"id": 1, "name": "cat"}]}')
    write_demo_merges(tmp_path / "merges.txt.gz")
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("eval", overrides=[
            f"output_dir={tmp_path / 'eval'}", "progress=false", "model=sam3_hq_demo",
            f"model.checkpoint={SAM2_FILE}", "benchmark=false", "coco.prompts=concept",
            f"coco.annotation_file={tmp_path / 'gt.json'}",
            f"coco.image_dir={tmp_path / 'images'}",
            f"coco.concept.bpe={tmp_path / 'merges.txt.gz'}",
            "device=cpu"])
    with pytest.raises(CheckpointError) as err:
        evaluate(cfg)
    message = str(err.value)
    assert message.startswith(f"model.checkpoint={SAM2_FILE} holds a sam2.1_hq_hiera_demo model "
                              "(sam2 family): coco.prompts=concept prompts SAM 3's text detector")
    assert "model=sam2" not in message


def test_a_concept_run_called_without_the_check_stage_words_it_alike(tmp_path):
    """train_concept called directly (no run/checks.py stage): its load says the same line."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[
            "experiment=concept_demo", f"model.checkpoint={SAM2_FILE}",
            f"paths.output_dir={tmp_path / 'run'}"])
    with pytest.raises(CheckpointError) as err:
        build_concept_model(cfg)
    assert str(err.value).startswith(
        f"model.checkpoint={SAM2_FILE} holds a sam2.1_hq_hiera_demo model (sam2 family): concept "
        "fine-tuning trains SAM 3's text detector")
