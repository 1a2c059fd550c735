"""Audit 21: a whole-model run checkpoint (lightning_full) without the loop state is no run to
resume, as a lightning one without it is not."""

import torch

from samhq_train.model import Use, build_sam_hq, inspect
from samhq_train.model.formats import lightning as lightning_format


def test_a_whole_model_checkpoint_without_the_loop_state_cannot_resume(tmp_path):
    """Mutant: lightning_full's probe gave no refusals."""
    model = build_sam_hq("vit_demo", seed=4)
    path = tmp_path / "weights_only.ckpt"
    torch.save({lightning_format.STATE_KEY: {lightning_format.MODEL_PREFIX + k: v
                                             for k, v in model.state_dict().items()}}, path)
    info = inspect(path)
    assert info.format == "lightning_full"
    assert not info.allows(Use.RESUME)
    assert info.allows(Use.EVALUATE) and info.allows(Use.EXPORT)
