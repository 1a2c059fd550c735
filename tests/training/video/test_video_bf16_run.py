"""experiment=video_finetune with trainer.precision=bf16-mixed (SAM 2's MOSE recipe: amp, bfloat16)
through train(cfg), on HQ-SAM 2 and HQ-SAM 3: the clip forward and the loss run under bf16
autocast with the loss terms fp32, validation tracks under the same autocast, the weights stay
fp32, the logged losses are finite, and last.ckpt and the export load back with the trained
weights. (The values against SAM2Train under autocast: test_parity_sam2train_bf16.py.)"""

import math

import pytest
import torch

from samhq_train.compat import autocast_dtype
from samhq_train.model import build_sam_hq, family_of_model, load_checkpoint
from samhq_train.train import train
from samhq_train.training.video import MultiStepMaskLoss
from samhq_train.training.video import module as video_module
from samhq_train.video_settings import ClipPromptSettings

from .test_video_run import shapes, video_cfg  # noqa: F401 (the fixture)

MODELS = {
    "hq-sam2": ["video.use_hq=true"],
    "hq-sam3": ["model=sam3_hq_demo_base", "video.init_missing_video_parts=true"],
}


def autocast_state() -> torch.dtype | None:
    return autocast_dtype("cpu")


@pytest.fixture(scope="module", params=list(MODELS))
def bf16_run(request, tmp_path_factory, shapes):  # noqa: F811
    out = tmp_path_factory.mktemp(f"video_bf16_{request.param}")
    # one step and two validation frames: what autocast covers is the same at every step and
    # every tracked frame (the bf16 work is emulated on CPUs without bf16 instructions)
    cfg = video_cfg(out, shapes, "trainer.precision=bf16-mixed", "logger=csv",
                    "trainer.limit_train_batches=1", "data.val_max_frames=2",
                    *MODELS[request.param])
    seen = {"loss": [], "validation": []}
    loss_call, score = MultiStepMaskLoss.__call__, video_module.score_tracking

    def spied_loss(self, frames, gt_masks):
        losses = loss_call(self, frames, gt_masks)
        seen["loss"].append((autocast_state(), {k: v.dtype for k, v in losses.items()},
                             float(losses["loss"].detach())))
        return losses

    def spied_score(*args, **kwargs):
        seen["validation"].append(autocast_state())
        return score(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MultiStepMaskLoss, "__call__", spied_loss)
        patch.setattr(video_module, "score_tracking", spied_score)
        metrics, objects = train(cfg)
    return out, metrics, objects, seen


def test_training_and_validation_run_under_bf16_autocast(bf16_run):
    _, metrics, objects, seen = bf16_run
    assert objects["trainer"].precision == "bf16-mixed"
    assert objects["trainer"].global_step == 1
    assert len(seen["loss"]) == 1
    for state, dtypes, loss in seen["loss"]:
        assert state == torch.bfloat16
        assert set(dtypes.values()) == {torch.float32}  # the loss as SAM 2's: fp32 terms
        assert math.isfinite(loss)
    # J&F before (trainer.validate) and after (inside fit) training, one sequence each
    assert seen["validation"] == [torch.bfloat16] * 2
    for when in ("before", "after"):
        assert 0.0 <= metrics[when]["J&F"] <= 100.0
    assert all(p.dtype == torch.float32 for p in objects["model"].parameters())


def test_checkpoint_and_export_load_back_in_fp32(bf16_run, request):
    out, _, objects, _ = bf16_run
    trained = objects["model"].state_dict()
    saved = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    weights = saved["state_dict"]
    assert all(v.dtype == torch.float32 for v in weights.values() if v.is_floating_point())
    model = build_sam_hq(objects["cfg"].model.variant, seed=1)  # other weights, video parts
    module = video_module.VideoTrainModule(model, prompts=ClipPromptSettings(),
                                           loss=MultiStepMaskLoss())
    module.load_state_dict(weights, strict=True)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in trained.items())
    loaded = load_checkpoint(objects["exports"]["model"])
    exported = loaded.state_dict()
    # hq-sam3 starts from the demo base without HQ parts and video.use_hq unset (false): the
    # export leaves the untrained HQ parts out (it loads as plain SAM 3, their fresh init)
    untrained = set()
    if loaded.untrained_hq is not None:
        untrained = {k for k in trained if family_of_model(loaded).is_hq_key(k)}
        assert untrained and request.node.callspec.id == "hq-sam3"
    assert all(exported[k].dtype == v.dtype and torch.equal(exported[k], v)
               for k, v in trained.items() if k not in untrained)
