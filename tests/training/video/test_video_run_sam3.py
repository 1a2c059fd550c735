"""experiment=video_finetune on SAM 3 / HQ-SAM 3 through train(cfg): a short run from the image-only
SAM 3 demo base (its tracker parts started fresh, as the log says), J&F before / after, the export
tracked by samhq-video's predictor; the refusal of a file without video parts, the SAM 2.1-only
refusal of teacher forcing, and the SAM 3 demo experiment's composition."""

import logging

import numpy as np
import pytest
import torch

from samhq_train.constants import SAM3_VIDEO_FILES
from samhq_train.errors import UserError
from samhq_train.inference.video import VideoPredictor
from samhq_train.model import family_of_model, load_checkpoint
from samhq_train.model.sam3.model import VIDEO_PARTS
from samhq_train.train import train
from tests.training.helpers import CONF

from .test_video_run import shapes, video_cfg  # noqa: F401 (the fixture)

SAM3 = ["model=sam3_hq_demo_base", "video.freeze_image_encoder=true"]


@pytest.fixture(scope="module")
def sam3_run(tmp_path_factory, shapes):  # noqa: F811
    out = tmp_path_factory.mktemp("video_run_sam3")
    cfg = video_cfg(out, shapes, *SAM3, "video.init_missing_video_parts=true",
                    "video.teacher_force_object_scores=true")
    start = load_checkpoint(cfg.model.checkpoint).state_dict()
    metrics, objects = train(cfg)
    return out, metrics, objects, start


def test_image_only_sam3_base_starts_its_tracker_fresh_and_trains(sam3_run, caplog):
    out, metrics, objects, start = sam3_run
    assert objects["trainer"].global_step == 2
    for when in ("before", "after"):
        assert 0.0 <= metrics[when]["J&F"] <= 100.0
    trained = objects["model"].state_dict()
    assert not any(k.startswith(tuple(f"tracker.{p}" for p in VIDEO_PARTS)) for k in start)
    fresh = [k for k in trained if k.startswith("tracker.transformer.encoder.")]
    assert fresh, "no memory attention was added"
    changed = {k for k, v in trained.items() if k in start and not torch.equal(v, start[k])}
    assert any(k.startswith("tracker.sam_mask_decoder.") for k in changed)
    assert not any(k.startswith("detector.") for k in changed)  # frozen image encoder, carried
    exported = load_checkpoint(objects["exports"]["model"])
    assert exported.has_video_parts
    # the demo base has no HQ parts and video.use_hq is unset (false): plain SAM 3 trained, so
    # the export leaves the untrained HQ parts out and loads as plain SAM 3
    hq = [k for k in trained if family_of_model(exported).is_hq_key(k)]
    assert hq and exported.untrained_hq is not None
    assert all(torch.equal(exported.state_dict()[k], v) for k, v in trained.items() if k not in hq)


def test_export_tracks_in_the_video_predictor(sam3_run, shapes):  # noqa: F811
    _, _, objects, _ = sam3_run
    predictor = VideoPredictor(load_checkpoint(objects["exports"]["model"]))
    video = shapes / "JPEGImages" / "shapes000"
    predictor.set_video(video)
    from PIL import Image

    first = np.array(Image.open(shapes / "Annotations" / "shapes000" / "00000.png"))
    predictor.add_mask(0, 1, first == np.unique(first)[1])
    tracked = list(predictor.propagate())
    assert [frame for frame, _, _ in tracked] == list(range(5))
    assert all(ids == [1] and masks.shape[-2:] == first.shape[:2] for _, ids, masks in tracked)


def test_fresh_tracker_parts_are_said_in_the_log(tmp_path, shapes, caplog):  # noqa: F811
    cfg = video_cfg(tmp_path, shapes, *SAM3, "video.init_missing_video_parts=true",
                    "trainer.limit_train_batches=0", "trainer.max_epochs=1",
                    "validate_before_training=false", "export=false")
    with caplog.at_level(logging.INFO):
        train(cfg)
    assert any("no tracker video parts" in r.getMessage() and "start fresh" in r.getMessage()
               for r in caplog.records)


def test_sam3_refusals_are_one_line(tmp_path, shapes):  # noqa: F811
    refusal = "has no tracker video parts.*init_missing_video_parts"
    with pytest.raises(UserError, match=refusal) as err:
        train(video_cfg(tmp_path, shapes, *SAM3))
    assert f"use {SAM3_VIDEO_FILES}, or start them fresh" in str(err.value)  # the one wording
    with pytest.raises(UserError, match="teacher_force_object_scores=true is SAM 3's option"):
        train(video_cfg(tmp_path, shapes, "video.teacher_force_object_scores=true"))


def test_sam3_demo_experiment_composes(tmp_path):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=video_demo_sam3",
                                          f"paths.output_dir={tmp_path}"])
    assert cfg.model.variant == "sam3_hq_demo"
    assert cfg.model.checkpoint.endswith("data/demo_base/sam3_hq_demo_base.pt")
    assert cfg.video.init_missing_video_parts and cfg.video.freeze_image_encoder
    assert not cfg.video.teacher_force_object_scores and cfg.trainer.accelerator == "cpu"
    assert cfg.data.root == "data/video_demo/train"


def sam3_groups(model, layer_decay: float):
    from samhq_train.training.video import MultiStepMaskLoss
    from samhq_train.training.video.module import VideoTrainModule
    from samhq_train.video_settings import ClipPromptSettings, VideoOptimSettings

    optim = VideoOptimSettings(lr=1e-3, vision_lr=1e-5, layer_decay=layer_decay)
    module = VideoTrainModule(model, prompts=ClipPromptSettings(), loss=MultiStepMaskLoss(),
                              optim=optim)
    module.trainer = type("T", (), {"estimated_stepping_batches": 10})()
    return module.configure_optimizers()["optimizer"].param_groups


def test_sam3_image_encoder_gets_the_vision_lr():
    from samhq_train.model import build_sam_hq

    model = build_sam_hq("sam3_hq_demo", seed=0)
    vision = {id(p) for p in model.image_encoder.parameters()}
    for group in sam3_groups(model, layer_decay=1.0):
        in_vision = {id(p) in vision for p in group["params"]}
        assert len(in_vision) == 1
        assert group["lr"] == (1e-5 if in_vision.pop() else 1e-3)


def test_sam3_vit_blocks_get_the_layer_decay():
    """BEiT's rule on SAM 3's ViT (its parameters live under detector.*): block i of L at
    vision_lr * 0.9^(L - i), the patch embedding at 0.9^(L + 1), the position embedding at 1."""
    from samhq_train.model import build_sam_hq

    model = build_sam_hq("sam3_hq_demo", seed=0)
    trunk = model.image_encoder.trunk
    depth = len(trunk.blocks)
    lr_of = {id(p): g["lr"] for g in sam3_groups(model, layer_decay=0.9) for p in g["params"]}
    for i, block in enumerate(trunk.blocks):
        for param in block.parameters():
            assert lr_of[id(param)] == pytest.approx(1e-5 * 0.9 ** (depth - i), rel=1e-12)
    assert lr_of[id(trunk.patch_embed.proj.weight)] == pytest.approx(1e-5 * 0.9 ** (depth + 1))
    assert lr_of[id(trunk.pos_embed)] == 1e-5
    assert lr_of[id(model.sam_mask_decoder.iou_token.weight)] == 1e-3
