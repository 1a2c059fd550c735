"""The collectives of one DDP training step of concept and video training, counted on a stand-in
2-process group (tests/training/stand_in_group.py; the trainer's strategy Lightning's DDPStrategy;
the 2-process launches of test_concept_ddp.py and test_video_ddp_failures.py count them too).
A healthy step makes 2 all-reduces, the loss's of its instance / object count and check_loss's
of the loss, each carrying the failed-batch flag beside its value, and no other collective (the
step used to begin with an all-gather of every process's failure, and check_loss's reduce came
with a barrier); its loss is the one-process loss when the other process has the same count. A
step where the other process failed stops in the count's all-reduce (RankStopped naming it, after
one all-gather of the reasons, before backward); the failing process joins that all-reduce with
[0, 1] and raises its own error."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from lightning.pytorch.strategies import DDPStrategy

from samhq_train.data.loaders import LoadFailure
from samhq_train.distributed import RankStopped
from samhq_train.training.concept.loss import ConceptLossSettings, concept_detection_loss
from samhq_train.training.concept.module import ConceptTrainModule
from samhq_train.training.video.clip_forward import FrameSteps
from samhq_train.training.video.loss import MultiStepMaskLoss
from samhq_train.training.video.module import VideoTrainModule
from samhq_train.video_settings import ClipPromptSettings
from tests.training.concept.concept_loss_case import make_outputs, make_targets
from tests.training.stand_in_group import StandInGroup, other_failed

BAD = OSError("cannot read image file /d/0004.jpg: truncated")


def stand_in(**fields) -> SimpleNamespace:
    trainer = SimpleNamespace(world_size=2, strategy=DDPStrategy(), current_epoch=0,
                              global_step=0)
    return SimpleNamespace(trainer=trainer, device=torch.device("cpu"),
                           log=lambda *args, **kwargs: None, **fields)


def concept_case():
    """(a concept module stand-in, its batch, its one-process loss, its instance count)."""
    targets = make_targets([3, 0, 2])
    outputs = make_outputs(targets)
    fake = stand_in(model=SimpleNamespace(training=True), loss_settings=ConceptLossSettings())
    fake.outputs = lambda batch: outputs
    fake.losses = lambda outputs, batch: ConceptTrainModule.losses(fake, outputs, batch)
    batch = SimpleNamespace(phrases=["ring", "cup", "dog"], targets=targets)
    return fake, ConceptTrainModule, batch, concept_detection_loss(outputs, targets)["core_loss"], 5


def video_frames(gt: torch.Tensor) -> list[FrameSteps]:
    g = torch.Generator().manual_seed(0)
    frames = []
    for _ in range(gt.shape[0]):
        steps = FrameSteps()
        steps.multimasks.append(torch.randn(gt.shape[1], 3, *gt.shape[-2:], generator=g))
        steps.ious.append(torch.rand(gt.shape[1], 3, generator=g))
        steps.object_scores.append(torch.randn(gt.shape[1], 1, generator=g))
        frames.append(steps)
    return frames


def video_case():
    """(a video module stand-in, its clip, its one-process loss, its object count)."""
    gt = torch.rand(3, 2, 1, 8, 8, generator=torch.Generator().manual_seed(1)) > 0.5
    fake = stand_in(prompts=ClipPromptSettings(prob_to_use_pt_input=0.0),
                    rng=np.random.default_rng(0), freeze_image_encoder=False,
                    loss=MultiStepMaskLoss())
    fake.clip_forward = lambda images, masks, object_video, plan, rng: video_frames(masks)
    batch = {"masks": gt, "images": torch.zeros(3, 1, 3, 8, 8), "object_video": torch.zeros(2)}
    return fake, VideoTrainModule, batch, MultiStepMaskLoss()(video_frames(gt), gt)["loss"], 2


CASES = {"concept": concept_case, "video": video_case}


@pytest.mark.parametrize("case", CASES)
def test_a_healthy_step_makes_the_loss_all_reduces_alone(monkeypatch, case):
    fake, module, batch, one_process_loss, count = CASES[case]()
    group = StandInGroup(monkeypatch)  # the other process: the same count and loss
    loss = module.training_step(fake, batch, 0)
    module.on_before_backward(fake, loss)
    assert dict(group.calls) == {"all_reduce": 2}
    assert group.reduced == [[count, 0.0], [float(loss.detach()), 0.0]]
    assert torch.equal(loss, one_process_loss)


@pytest.mark.parametrize("case", CASES)
def test_a_step_stops_at_the_count_when_the_other_process_failed(monkeypatch, case):
    fake, module, batch, _, count = CASES[case]()
    group = StandInGroup(monkeypatch, other=other_failed, reason=str(BAD))
    with pytest.raises(RankStopped, match=f"^rank 1 stopped: {BAD}$"):
        module.training_step(fake, batch, 0)
    assert dict(group.calls) == {"all_reduce": 1, "all_gather_object": 1}
    assert group.reduced == [[count, 0.0]]


@pytest.mark.parametrize("case", CASES)
def test_the_failing_process_joins_the_count_all_reduce_and_raises_its_error(monkeypatch, case):
    fake, module, _, _, _ = CASES[case]()
    fake.outputs = fake.clip_forward = lambda *args: pytest.fail("a failed batch is not run")
    group = StandInGroup(monkeypatch)
    with pytest.raises(OSError) as info:
        module.training_step(fake, LoadFailure(BAD), 0)
    assert info.value is BAD
    assert dict(group.calls) == {"all_reduce": 1, "all_gather_object": 1}
    assert group.reduced == [[0.0, 1.0]]
