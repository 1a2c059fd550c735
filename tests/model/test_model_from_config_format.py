"""build_model_from_config says what model.checkpoint was read as for a training run too (not
None), so that what a run does with it (the HQ parts trained or not) needs no second look at the
file; the model is the one build_sam_hq makes from the file."""

import pytest
import torch
from omegaconf import OmegaConf

from samhq_train.model import TrainablePolicy, build_sam_hq, save_checkpoint, without_hq
from samhq_train.model_from_config import build_model_from_config


@pytest.mark.parametrize(("format", "policy"), [("sam", "hq"), ("sam_hq", "hq+lora")])
def test_a_training_runs_model_says_the_format_it_was_read_as(tmp_path, format, policy):
    model = build_sam_hq("vit_demo", seed=3)
    path = save_checkpoint(model, tmp_path / "w.pth", "sam_hq")
    if format == "sam":
        torch.save(without_hq(torch.load(path, weights_only=True)), path)
    cfg = OmegaConf.create({"variant": "vit_demo", "checkpoint": str(path)})
    trainable = TrainablePolicy(name=policy)
    loaded = build_model_from_config(cfg, trainable, purpose="train")
    assert loaded.format == format
    assert loaded.provenance.base_checkpoint == str(path)
    expected = build_sam_hq("vit_demo", checkpoint=path, policy=trainable).state_dict()
    state = loaded.model.state_dict()
    assert set(state) == set(expected)
    same_init = [k for k in expected if torch.equal(state[k], expected[k])]
    # fresh HQ parts / LoRA adapters are drawn anew; everything the file held is the file's
    assert all(k in same_init for k in torch.load(path, weights_only=True))
