"""Mutation audit 18: the family refusals where audit 17's neighbours left them open: a video run
called without the check stage (train_video's own load words it as the check stage does), and a
box-prompt evaluation, which takes every family: a SAM 3 file with model=vit_demo_base keeps the
loader's hint to use its own model= (not the text prompts' refusal)."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.evaluation.entry import evaluate
from samhq_train.model import CheckpointError
from samhq_train.training.video.run import train_video

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo_base"
SAM1_FILE = DEMO / "vit_demo_base.safetensors"
SAM3_FILE = DEMO / "sam3_hq_demo_base.pt"


def _composed(config: str, overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config, overrides=overrides)


def test_a_video_run_called_without_the_check_stage_words_it_alike(tmp_path, keep_handlers):
    cfg = _composed("train", ["experiment=video_finetune", f"model.checkpoint={SAM1_FILE}",
                              f"paths.output_dir={tmp_path / 'run'}", f"data.root={tmp_path}"])
    with pytest.raises(CheckpointError) as err:
        train_video(cfg)
    assert str(err.value).startswith(
        f"model.checkpoint={SAM1_FILE} holds a vit_demo_base model (sam1 family): video "
        "fine-tuning trains SAM 2.1's or SAM 3's tracker")


def test_a_box_prompt_evaluation_of_a_sam3_file_keeps_the_loaders_hint(tmp_path):
    cfg = _composed("eval", [f"output_dir={tmp_path / 'eval'}", "progress=false", "data=demo",
                             f"data.root={tmp_path / 'demo'}", "model=vit_demo_base",
                             f"model.checkpoint={SAM3_FILE}", "device=cpu"])
    with pytest.raises(CheckpointError) as err:
        evaluate(cfg)
    assert "but variant vit_demo_base was asked: use model=sam3_hq_demo" in str(err.value)
    assert "coco.prompts=concept" not in str(err.value)
