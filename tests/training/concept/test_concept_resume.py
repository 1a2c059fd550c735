"""Exact resume of concept fine-tuning (policy detector, the cheapest; policy full passed this test
too when it was written, in twice the time): a 2-epoch run stopped after its first epoch and
resumed from last.ckpt ends bit for bit as the uninterrupted run (weights, AdamW state, the
inverse-square-root schedule, the step count). The data draws per (seed, epoch, index)
and the shuffle per (seed, epoch), the epoch set when its loader iterator is made (also while the
resumed run restores its loops); dropout draws from torch's generator, whose state the checkpoint
carries. trainer.deterministic: without it two identical runs already differ by ~1e-9 (the CPU
backward's float sums in other orders)."""

import pytest

from samhq_train.train import train
from samhq_train.training.concept.module import ConceptTrainModule
from tests.training.video.test_video_resume import assert_same_state

from .concept_run import concept_cfg, concept_files  # noqa: F401 (fixture)

COMMON = ["data.val_split=null", "export=false", "trainer.max_epochs=2",
          "trainer.deterministic=true", "concept.policy=detector"]


@pytest.mark.slow
def test_resumed_run_equals_the_uninterrupted_run(tmp_path, monkeypatch, concept_files):  # noqa: F811
    _, straight = train(concept_cfg(tmp_path / "straight", concept_files, *COMMON))
    with monkeypatch.context() as patch:  # the run stops after epoch 1 (last.ckpt written)
        patch.setattr(ConceptTrainModule, "on_train_epoch_end",
                      lambda self: setattr(self.trainer, "should_stop", True), raising=False)
        _, first = train(concept_cfg(tmp_path / "first", concept_files, *COMMON))
    assert first["trainer"].global_step == 2
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    _, resumed = train(concept_cfg(tmp_path / "resumed", concept_files, *COMMON,
                                   f"ckpt_path={last}"))
    assert resumed["trainer"].global_step == 4
    assert_same_state(straight, resumed)
