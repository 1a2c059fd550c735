"""A concept or video fine-tuning run trains every parameter and writes no record of a base: its
last.ckpt / best.ckpt hold the whole model under "model.". They are read as `lightning_full`:
the whole model, loaded exactly (samhq-export, samhq-predict, evaluation), and still a run to
resume. Before, load_checkpoint asked for the base they never had."""

import pytest
import torch

from samhq_train.model import Use, build_sam_hq, inspect, load_checkpoint
from samhq_train.model.formats import lightning as lightning_format


@pytest.mark.parametrize("variant", ["sam2.1_hq_hiera_demo", "vit_demo"])
def test_a_run_checkpoint_of_the_whole_model_loads_exactly(tmp_path, variant):
    model = build_sam_hq(variant, seed=4)
    path = tmp_path / "best.ckpt"
    torch.save({
        lightning_format.STATE_KEY: {lightning_format.MODEL_PREFIX + k: v
                                     for k, v in model.state_dict().items()},
        lightning_format.LOOP_STATE_KEY: {"fit_loop": {}},
        "pytorch-lightning_version": "2.6.0",
    }, path)
    info = inspect(path)
    assert (info.format, info.variant, info.needs_base) == ("lightning_full", variant, False)
    assert info.allows(Use.RESUME) and not info.allows(Use.START)
    loaded = load_checkpoint(path).state_dict()
    expected = model.state_dict()
    assert set(loaded) == set(expected)
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)
