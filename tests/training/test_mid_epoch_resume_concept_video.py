"""A concept or video fine-tuning run stopped inside an epoch (Ctrl+C: checkpoints/interrupted.ckpt)
and resumed from there ends bit for bit as the uninterrupted run (weights, optimiser, schedule),
having trained after the resume on the batches the uninterrupted run trained on (same images,
same augmentation draws), without Lightning's "not resumable" warning: the training loaders
(data.loaders.EpochSeededLoader) draw an epoch from (seed, epoch) and drop its batches done."""

import warnings

import pytest
import torch

from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.train import train
from samhq_train.training.concept.module import ConceptTrainModule
from samhq_train.training.video.module import VideoTrainModule
from tests.training.concept.concept_run import concept_cfg, concept_files  # noqa: F401 (fixture)
from tests.training.test_interrupt_concept_video import _ctrl_c_at
from tests.training.video.test_video_resume import assert_same_state
from tests.training.video.test_video_run import video_cfg

# 2 epochs of 2 steps; trainer.deterministic: the CPU backward's sums in one order
CONCEPT = ["data.val_split=null", "export=false", "trainer.max_epochs=2",
           "trainer.deterministic=true", "concept.policy=detector"]
# 1 epoch of 2 steps (test_video_resume.py resumes in a later epoch)
VIDEO = ["data.val_root=null", "export=false", "validate_before_training=false",
         "trainer.limit_train_batches=2", "trainer.max_epochs=1",
         "video.freeze_image_encoder=true", "video.prompts.prob_to_use_pt_input=1.0",
         "video.prompts.prob_to_use_box_input=0.5",
         # the MOSE augmentations: their draws too must be the uninterrupted run's
         "data.augmentation.degrees=10", "data.augmentation.grayscale_prob=0.5"]


def concept_batch(batch) -> tuple:
    return tuple(batch.image_ids.tolist()), batch.images.double().sum().item()


def video_batch(batch) -> tuple:
    return (tuple(batch["names"]), batch["images"].double().sum().item(),
            batch["masks"].sum().item())


def recording(patch, module_class, fingerprint) -> dict:
    """{global step: the fingerprint of the batch trained on there}, filled as the runs train."""
    seen, step = {}, module_class.training_step

    def training_step(self, batch, batch_idx):
        seen[self.trainer.global_step] = fingerprint(batch)
        return step(self, batch, batch_idx)

    patch.setattr(module_class, "training_step", training_step)
    return seen


def stopped_and_resumed(tmp_path, monkeypatch, run_module, cfg, signal_step):
    """(the straight run, the resumed run, the batches each trained on by step, the Lightning
    warnings of the resumed run): the second run is stopped by Ctrl+C when step `signal_step`
    starts (its interrupted.ckpt: the step after), then resumed."""
    module_class, fingerprint = {
        "concept": (ConceptTrainModule, concept_batch), "video": (VideoTrainModule, video_batch)
    }[run_module]
    with monkeypatch.context() as patch:
        straight_seen = recording(patch, module_class, fingerprint)
        _, straight = train(cfg(tmp_path / "straight"))
    with monkeypatch.context() as patch:
        _ctrl_c_at(patch, f"samhq_train.training.{run_module}.run", signal_step)
        with pytest.raises(SystemExit):
            train(cfg(tmp_path / "stopped"))
    ckpt = tmp_path / "stopped" / "checkpoints" / "interrupted.ckpt"
    assert torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"] == signal_step + 1
    with monkeypatch.context() as patch, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed_seen = recording(patch, module_class, fingerprint)
        _, resumed = train(cfg(tmp_path / "resumed", f"ckpt_path={ckpt}"))
    return straight, resumed, straight_seen, resumed_seen, [str(w.message) for w in caught]


@pytest.mark.slow
def test_a_concept_run_resumed_mid_epoch_equals_the_uninterrupted_run(
    tmp_path, monkeypatch, keep_handlers, concept_files  # noqa: F811
):
    straight, resumed, straight_seen, resumed_seen, warned = stopped_and_resumed(
        tmp_path, monkeypatch, "concept",
        lambda out, *more: concept_cfg(out, concept_files, *CONCEPT, *more), signal_step=2)
    assert list(resumed_seen) == [3]  # epoch 1's second step, after the checkpoint's first
    assert resumed_seen[3] == straight_seen[3]
    assert straight_seen[3] != straight_seen[1]  # epoch 1 differs from epoch 0 there
    assert not [w for w in warned if "not resumable" in w], warned
    assert_same_state(straight, resumed)


@pytest.mark.slow
def test_a_video_run_resumed_mid_epoch_equals_the_uninterrupted_run(
    tmp_path, monkeypatch, keep_handlers
):
    root = write_moving_shapes(tmp_path / "shapes", num_videos=3, num_frames=5, size=64,
                               num_objects=2)
    straight, resumed, straight_seen, resumed_seen, warned = stopped_and_resumed(
        tmp_path, monkeypatch, "video",
        lambda out, *more: video_cfg(out, root, *VIDEO, *more), signal_step=0)
    assert list(resumed_seen) == [1]
    assert resumed_seen[1] == straight_seen[1]
    assert not [w for w in warned if "not resumable" in w], warned
    assert_same_state(straight, resumed)
