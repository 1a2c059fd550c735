"""experiment=video_finetune through train(cfg): a short run on moving shapes (train, J&F before /
after, checkpoints, export, resume), and its one-line refusals."""

import json
import random

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from samhq_train.data.moving_shapes import MARKER, ensure_moving_shapes, write_moving_shapes
from samhq_train.errors import UserError
from samhq_train.model import TrainablePolicy, build_sam_hq, inspect, load_checkpoint
from samhq_train.model.formats import LoadedCheckpoint
from samhq_train.model.provenance import Provenance
from samhq_train.model_from_config import build_model_from_config
from samhq_train.train import train
from samhq_train.training.video import MultiStepMaskLoss
from samhq_train.training.video.module import VideoTrainModule
from samhq_train.video_settings import ClipPromptSettings
from tests.training.helpers import CONF, ROOT

DEMO_SAM2_BASE = ROOT / "data" / "demo_base" / "sam2.1_hq_hiera_demo_base.pt"  # no HQ parts

SHORT = [
    "experiment=video_finetune",
    "model=sam2.1_hq_hiera_demo",
    "trainer.accelerator=cpu",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "data.num_frames=3",
    "data.max_num_objects=2",
    "data.num_workers=0",
    "video.prompts.num_correction_pt_per_frame=1",
    "video.lr=1e-4",
]
# a short run's validation: one sequence, its first 4 frames (refused without a val_root)
SHORT_VALIDATION = ["data.val_sequences=1", "data.val_max_frames=4"]


def short_settings(overrides) -> list[str]:
    """SHORT, and SHORT_VALIDATION unless `overrides` turn validation off (data.val_root=null)."""
    return [*SHORT, *([] if "data.val_root=null" in overrides else SHORT_VALIDATION)]


def video_cfg(out, root, *overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=[f"paths.output_dir={out}", f"data.root={root}",
                                           f"data.val_root={root}", *short_settings(overrides),
                                           *overrides])


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return write_moving_shapes(tmp_path_factory.mktemp("shapes"), num_videos=2, num_frames=5,
                               size=64, num_objects=2)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, shapes):
    out = tmp_path_factory.mktemp("video_run")
    cfg = video_cfg(out, shapes, "video.freeze_image_encoder=true", "logger=[csv,tensorboard]")
    start = build_sam_hq(cfg.model.variant, seed=int(cfg.model.seed)).state_dict()
    metrics, objects = train(cfg)
    return out, metrics, objects, start


def test_short_run_trains_the_memory_path_and_scores_jf(short_run):
    out, metrics, objects, start = short_run
    assert objects["trainer"].global_step == 2
    for when in ("before", "after"):
        assert 0.0 <= metrics[when]["J&F"] <= 100.0
    trained = objects["model"].state_dict()
    changed = {k for k, v in trained.items() if not torch.equal(v, start[k])}
    assert any(k.startswith("memory_attention.") for k in changed)
    assert any(k.startswith("memory_encoder.") for k in changed)
    assert any(k.startswith("sam_mask_decoder.hf_") for k in changed)  # the HQ parts train too
    assert not any(k.startswith("image_encoder.") for k in changed)  # frozen here
    assert (out / "checkpoints" / "last.ckpt").is_file()
    # the logger group, as image training: logger=[csv,tensorboard]
    assert "val/J&F" in (out / "csv" / "metrics.csv").read_text().splitlines()[0]
    assert list((out / "tensorboard").rglob("events.out.tfevents.*"))
    assert (out / "checkpoints" / "best.ckpt").is_file()
    exported = load_checkpoint(objects["exports"]["model"])
    assert all(torch.equal(exported.state_dict()[k], v) for k, v in trained.items())
    # a random backbone's run trains the HQ parts (video.use_hq unset): its checkpoints say so
    last = inspect(out / "checkpoints" / "last.ckpt")
    assert (last.format, last.provenance.trained_hq) == ("lightning_full", True)
    assert load_checkpoint(last.path).untrained_hq is None


def test_resume_continues_the_run(short_run, shapes):
    out, _, objects, _ = short_run
    last = out / "checkpoints" / "last.ckpt"
    saved = torch.load(last, map_location="cpu", weights_only=False)
    assert "video_prompt_rng" in saved
    # export=false: the first run's export stays (a run never writes over an export)
    cfg = video_cfg(out, shapes, "video.freeze_image_encoder=true", f"ckpt_path={last}",
                    "trainer.max_epochs=2", "export=false")
    _, resumed = train(cfg)
    assert resumed["trainer"].global_step == 4


def test_bad_settings_are_one_line(tmp_path, shapes):
    with pytest.raises(UserError, match="data.root is not set"):
        train(video_cfg(tmp_path, shapes, "data.root=null"))
    with pytest.raises(UserError, match="needs a SAM 2.1 / HQ-SAM 2 or SAM 3"):
        train(video_cfg(tmp_path, shapes, "model=vit_demo"))
    with pytest.raises(UserError,
                       match=r"^data.augmentation.degrees=-1: expected a number in \[0, 180\]"):
        train(video_cfg(tmp_path, shapes, "data.augmentation.degrees=-1"))
    with pytest.raises(UserError, match=r"^data.augmentation.degree: not an augmentation setting; "
                       "known: degrees, shear"):
        train(video_cfg(tmp_path, shapes, "+data.augmentation.degree=5"))
    with pytest.raises(UserError, match=r"^data.augmentation=True: a mapping of degrees, shear"):
        train(video_cfg(tmp_path, shapes, "data.augmentation=true"))
    with pytest.raises(UserError, match="trainer.precision=bf16-true: .* use 32, bf16-mixed"):
        train(video_cfg(tmp_path, shapes, "trainer.precision=bf16-true"))
    with pytest.raises(UserError, match=r"trainer.precision=16-mixed: .*\(16-mixed needs a GPU\)"):
        train(video_cfg(tmp_path, shapes, "trainer.precision=16-mixed"))
    with pytest.raises(UserError, match="video.dropout=1.5"):
        train(video_cfg(tmp_path, shapes, "video.dropout=1.5"))
    with pytest.raises(UserError, match="data.root=.*folder not found"):
        train(video_cfg(tmp_path, shapes, f"data.root={tmp_path / 'none'}"))


def test_experiment_is_the_mose_finetune(tmp_path):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=video_finetune", "model=sam2.1_hq_hiera_b+",
                                          f"paths.output_dir={tmp_path}"])
    assert (cfg.data.num_frames, cfg.data.max_num_objects, cfg.data.multiplier) == (8, 3, 2)
    assert (cfg.video.lr, cfg.video.vision_lr, cfg.video.weight_decay) == (5e-6, 3e-6, 0.1)
    assert dict(cfg.video.loss) == {"weight_mask": 20.0, "weight_dice": 1.0, "weight_iou": 1.0,
                                    "weight_class": 1.0, "supervise_all_iou": True,
                                    "iou_use_l1_loss": True}
    assert cfg.trainer.gradient_clip_val == 0.1 and cfg.trainer.max_epochs == 40
    assert cfg.model.variant == "sam2.1_hq_hiera_b+" and not cfg.video.freeze_image_encoder
    assert (cfg.video.drop_path_rate, cfg.video.dropout, cfg.video.layer_decay) == (0.1, 0.1, 0.9)
    assert cfg.data.augmentation.degrees == 25 and cfg.data.augmentation.grayscale_prob == 0.05
    with pytest.raises(UserError, match="data.root is not set"):
        train(cfg)


def test_demo_experiment_composes(tmp_path):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=video_demo", f"paths.output_dir={tmp_path}"])
    assert cfg.model.variant == "sam2.1_hq_hiera_demo"
    assert cfg.model.checkpoint.endswith("data/demo_base/sam2.1_hq_hiera_demo_base.pt")
    assert cfg.video.freeze_image_encoder and cfg.trainer.accelerator == "cpu"
    assert cfg.data.root == "data/video_demo/train" and cfg.data.moving_shapes.val.seed == 100
    # the README's demo numbers: HQ parts trained from fresh, no dropout, no augmentation
    assert cfg.video.use_hq and cfg.data.augmentation is None
    assert cfg.video.dropout == cfg.video.drop_path_rate == 0.0


def test_demo_videos_are_written_once(tmp_path):
    settings = {"num_videos": 1, "num_frames": 3, "size": 32, "num_objects": 1, "seed": 0}
    ensure_moving_shapes(tmp_path, **settings)
    frame = tmp_path / "Annotations" / "shapes000" / "00002.png"
    stamp = frame.stat().st_mtime_ns
    ensure_moving_shapes(tmp_path, **settings)
    assert frame.stat().st_mtime_ns == stamp
    ensure_moving_shapes(tmp_path, **{**settings, "num_frames": 2})
    assert not frame.exists()


def test_demo_videos_with_a_marker_cut_short_are_written_again(tmp_path):
    settings = {"num_videos": 1, "num_frames": 2, "size": 32, "num_objects": 1, "seed": 0}
    ensure_moving_shapes(tmp_path, **settings)
    marker = tmp_path / MARKER
    marker.write_text(marker.read_text()[:5])  # a run stopped while writing it (before: atomic)
    ensure_moving_shapes(tmp_path, **settings)
    assert json.loads(marker.read_text()) == settings


def test_training_runs_the_model_in_train_mode():
    # load_checkpoint gives an eval-mode model and Lightning keeps modes: the decoder's
    # eval-only dynamic multimask would otherwise be on in training
    model = build_sam_hq("sam2.1_hq_hiera_demo", seed=0).eval()
    module = VideoTrainModule(model, prompts=ClipPromptSettings(), loss=MultiStepMaskLoss())
    module.on_train_start()
    assert model.training and model.sam_mask_decoder.training


def test_each_process_draws_its_own_dropout_and_prompts():
    """Under DDP, torch's stream (drop-path, dropout, box noise, clicks) and the prompt plan's
    differ between processes, as SAM 2 seeds each process apart; process 0 keeps its streams."""
    model = build_sam_hq("sam2.1_hq_hiera_demo", seed=0)
    numpy_state, python_state = np.random.get_state(), random.getstate()
    draws = []
    for rank in (None, 0, 1):  # None: no setup, the one-process stream
        module = VideoTrainModule(model, prompts=ClipPromptSettings(), loss=MultiStepMaskLoss())
        module._trainer = type("Trainer", (), {"global_rank": rank or 0})()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(7)
            if rank is not None:
                module.setup("fit")
            draws.append((torch.rand(4), module.rng.random(4)))
    np.random.set_state(numpy_state)
    random.setstate(python_state)
    (alone, plan_alone), (rank_0, plan_0), (rank_1, plan_1) = draws
    assert torch.equal(rank_0, alone) and (plan_0 == plan_alone).all()
    assert not torch.equal(rank_1, rank_0) and not (plan_1 == plan_0).any()


def random_build(variant: str = "sam2.1_hq_hiera_demo") -> LoadedCheckpoint:
    """A random demo model as build_model_from_config gives it without a file (format None)."""
    model = build_sam_hq(variant, seed=0)
    return LoadedCheckpoint(model, None, Provenance(variant=variant, seed=0))


def build_from(cfg) -> LoadedCheckpoint:
    return build_model_from_config(cfg.model, TrainablePolicy(name="full"))


def test_use_hq_follows_the_checkpoint_when_unset(tmp_path, caplog):
    from samhq_train.model import save_checkpoint
    from samhq_train.training.video.run import chosen_use_hq

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=video_finetune", "model=sam2.1_hq_hiera_demo",
                                          f"paths.output_dir={tmp_path}"])
    assert cfg.video.use_hq is None
    assert chosen_use_hq(cfg, build_from(cfg).format)  # a random backbone: HQ parts train along
    cfg.model.checkpoint = str(DEMO_SAM2_BASE)  # Meta's layout, no HQ parts: read as "sam"
    with caplog.at_level("INFO"):
        assert not chosen_use_hq(cfg, build_from(cfg).format)
    assert "video.use_hq=false" in caplog.text and "holds no HQ parts" in caplog.text
    with_hq = save_checkpoint(build_sam_hq("sam2.1_hq_hiera_demo", seed=0),
                              tmp_path / "hq.pt", "sam_hq")
    cfg.model.checkpoint = str(with_hq)
    assert chosen_use_hq(cfg, build_from(cfg).format)
    cfg.model.checkpoint, cfg.video.use_hq = str(DEMO_SAM2_BASE), True  # an explicit choice stays
    assert chosen_use_hq(cfg, build_from(cfg).format)


def test_the_module_takes_use_hq_from_the_build_not_a_second_read(tmp_path, monkeypatch):
    # the build read the file once and said its format; the module does not inspect it again
    from samhq_train.model.formats import inspection
    from samhq_train.training.video.run import build_video_module

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=video_finetune", "model=sam2.1_hq_hiera_demo",
                                          f"paths.output_dir={tmp_path}",
                                          f"model.checkpoint={DEMO_SAM2_BASE}"])
    loaded = build_from(cfg)
    reads = []
    inspected = inspection._inspect
    monkeypatch.setattr(inspection, "_inspect", lambda *a: reads.append(a) or inspected(*a))
    module = build_video_module(cfg, loaded)
    assert reads == [] and module.use_hq is False


def test_a_diverging_run_stops_in_one_line(tmp_path, shapes, monkeypatch):
    # as image training (training/divergence.py): the first NaN loss stops the run before its
    # backward, nothing written at that step
    loss_call = MultiStepMaskLoss.__call__

    def nan_loss(self, frames, gt_masks):
        losses = loss_call(self, frames, gt_masks)
        losses["loss"] = losses["loss"] * float("nan")
        return losses

    monkeypatch.setattr(MultiStepMaskLoss, "__call__", nan_loss)
    with pytest.raises(UserError, match="training diverged at epoch 0, step 0: the loss is nan"):
        train(video_cfg(tmp_path, shapes, "validate_before_training=false", "logger=csv"))
    assert not (tmp_path / "checkpoints" / "last.ckpt").exists()
