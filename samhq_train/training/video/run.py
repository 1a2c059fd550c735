"""train_video(cfg): a video fine-tuning run (experiment=video_finetune), wiring only.

The config's `model` group gives the SAM 2.1 / HQ-SAM 2 or SAM 3 / HQ-SAM 3 weights, `data`
(data=video_folder) the clips' folder, `video` the prompts, loss, learning rates and which decoder
output trains. The run writes checkpoints/last.ckpt every epoch (trainer.fit resumes from
ckpt_path) and, with validation sequences, checkpoints/best.ckpt by val/J&F; at the end
export/<variant>_video.pt, the whole model in Meta's layout, which samhq-video loads (without the HQ
parts when they were never trained: the start file had none and video.use_hq was false).

A SAM 3 file without the tracker's video parts (an image-only HQ-SAM 3 export, the demo base) is
refused, or with video.init_missing_video_parts=true starts those parts as Meta's
Sam3TrackerBase does (a fresh init, said in the log).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import hydra
import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger
from omegaconf import OmegaConf

from samhq_train.constants import SAM3_VIDEO_FILES
from samhq_train.data.loaders import EpochSeededLoader, SampleLoader
from samhq_train.data.moving_shapes import ensure_moving_shapes
from samhq_train.data.video_clips import (
    SequenceListing,
    VideoClipDataset,
    collate_clips,
    find_sequences,
)
from samhq_train.errors import ConfigValueError
from samhq_train.model import TrainablePolicy, variant_config
from samhq_train.model.formats import LoadedCheckpoint, holds_trained_hq, taking_families
from samhq_train.model.sam3.family import add_fresh_video_parts
from samhq_train.model_from_config import absolute_path, build_model_from_config
from samhq_train.training.checkpointing import (
    AtomicCheckpointIO,
    export_whole_model,
    last_and_best,
    stop_together_on_failed_writes,
)
from samhq_train.training.ddp_settings import ddp_settings_for
from samhq_train.training.export_names import video_export_name
from samhq_train.training.interrupt import INTERRUPT_CHECKPOINT, CheckpointOnInterrupt
from samhq_train.training.resume import reporting_full_disk, reporting_interrupts
from samhq_train.training.run_families import VIDEO_RUN_FAMILIES, VIDEO_RUN_NEEDS

from .config_checks import (
    check_video_config,
    clip_augmentation,
    clip_prompt_settings,
    video_loss,
    video_optim_settings,
    video_regularisation,
)
from .module import VideoTrainModule
from .validation import VideoSequenceDataset, first_item

log = logging.getLogger(__name__)
def ensure_video_parts(model, cfg) -> None:
    """A SAM 3 model loaded from a file without the tracker's video parts: refused, or with
    video.init_missing_video_parts those parts start fresh (Meta's init), said in the log."""
    if getattr(model, "has_video_parts", True):
        return
    if not cfg.video.get("init_missing_video_parts"):
        raise ConfigValueError(
            f"model.checkpoint={cfg.model.checkpoint}: this SAM 3 file has no tracker video parts "
            f"(memory attention, memory encoder, object pointers): use {SAM3_VIDEO_FILES}, or "
            "start them fresh with video.init_missing_video_parts=true"
        )
    add_fresh_video_parts(model, variant_config(cfg.model.variant))
    log.info("model: %s has no tracker video parts; memory attention, memory encoder and object "
             "pointers start fresh (Meta's Sam3TrackerBase init, seed %s)",
             cfg.model.checkpoint, cfg.seed)


def video_loaders(cfg, image_size: int, processes: int = 1,
                  listed: dict[str, SequenceListing] | None = None):
    """(train loader, val loader or None); the clips of an epoch draw from (cfg.seed, epoch)
    alone (EpochSeededLoader: resumable mid-epoch). Under DDP (processes > 1) a clip or sequence
    that fails to load comes to the step as a LoadFailure (data.loaders), which stops every process
    together (the module), rather than raising in this process alone. `listed`: the check stage's
    listings by key (run/checks.py check_video_data), taken rather than listing the roots again."""
    listed = listed or {}
    data, seed = cfg.data, int(cfg.get("seed", 0))
    root = absolute_path(data.root)
    shapes = data.get("moving_shapes")  # the demo's videos, written on first use
    if shapes:
        ensure_moving_shapes(root, **shapes.train)
        if data.get("val_root"):  # the demo run without validation: data.val_root=null
            ensure_moving_shapes(absolute_path(data.val_root), "data.val_root", **shapes.val)
    train_set = VideoClipDataset(
        root, image_size=image_size, num_frames=int(data.num_frames),
        max_num_objects=int(data.max_num_objects), multiplier=int(data.get("multiplier", 1)),
        hflip_prob=float(data.get("hflip_prob", 0.5)), augmentation=clip_augmentation(data),
        seed=seed, listing=listed.get("data.root"),
    )
    workers, handed = int(data.get("num_workers", 0)), processes > 1
    train = EpochSeededLoader(train_set, batch_size=int(data.batch_size), shuffle=True,
                              num_workers=workers, collate_fn=collate_clips, drop_last=True,
                              hands_over_failures=handed, seed=seed)
    val_root = data.get("val_root")
    if not val_root:
        return train, None
    sequences = find_sequences(absolute_path(val_root), 2, "data.val_root",
                               listed.get("data.val_root"))
    sequences = sequences[: data.get("val_sequences")]
    val_set = VideoSequenceDataset(sequences, image_size, data.get("val_max_frames"))
    return train, SampleLoader(val_set, batch_size=1, num_workers=workers,
                               collate_fn=first_item, hands_over_failures=handed)


def chosen_use_hq(cfg, read_as: str | None) -> bool:
    """video.use_hq, or when unset (null) whether the start file, read as format `read_as` (the
    build's; None: no file), holds HQ parts: Meta's SAM 2.1 files (format "sam") do not, and
    fresh HQ parts would add an untrained mask to SAM's from the first step; a random backbone
    (no checkpoint) trains them along."""
    if cfg.video.get("use_hq") is not None:
        return bool(cfg.video.use_hq)
    if read_as is None or holds_trained_hq(read_as):
        return True
    log.info("video.use_hq=false: %s holds no HQ parts (Meta's weights), so plain SAM 2.1 / "
             "SAM 3 trains; video.use_hq=true trains fresh HQ parts along",
             cfg.model.get("checkpoint"))
    return False


def build_video_module(cfg, loaded: LoadedCheckpoint) -> VideoTrainModule:
    """The LightningModule around the model build_model_from_config read (`loaded`)."""
    v = cfg.video
    return VideoTrainModule(
        loaded.model, prompts=clip_prompt_settings(v), loss=video_loss(v),
        use_hq=chosen_use_hq(cfg, loaded.format), teacher_force_object_scores=bool(
            v.get("teacher_force_object_scores", False)),
        optim=video_optim_settings(v), **asdict(video_regularisation(v)),
        freeze_image_encoder=bool(v.get("freeze_image_encoder", False)),
        seed=int(cfg.seed),
    )


def train_video(cfg, build_loggers: Callable[[object], list] | None = None,
                checked: bool = False,
                listed: dict[str, SequenceListing] | None = None) -> tuple[dict, dict]:
    """Train per cfg (experiment=video_finetune); (metrics, objects) as train() returns.
    build_loggers: the run's loggers from cfg (train() passes the `logger` group's builder);
    without it a CSV log under logs/. SIGINT / SIGTERM stop the run as they stop image training
    (checkpoints/interrupted.ckpt, the resume command; training/interrupt.py, resume.py).
    checked: check_video_config(cfg) ran already (run/checks.py's check_inputs runs it);
    listed: the roots check_inputs listed, which the loaders take (video_loaders)."""
    if not checked:
        check_video_config(cfg)
    output_dir = Path(cfg.paths.output_dir)
    stop = CheckpointOnInterrupt(output_dir / "checkpoints" / INTERRUPT_CHECKPOINT)
    resumed_from = absolute_path(cfg.get("ckpt_path"))
    with reporting_interrupts(stop, resumed_from):
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        torch.set_float32_matmul_precision(cfg.get("float32_matmul_precision", "highest"))
        with taking_families(VIDEO_RUN_FAMILIES, "model.checkpoint", VIDEO_RUN_NEEDS):
            loaded = build_model_from_config(cfg.model, TrainablePolicy(name="full"))
        ensure_video_parts(loaded.model, cfg)
        image_size = variant_config(cfg.model.variant).image_size
        loggers = build_loggers(cfg) if build_loggers else [CSVLogger(output_dir, name="logs")]
        module = build_video_module(cfg, loaded)
        best_by = "val/J&F" if cfg.data.get("val_root") else None
        # the HQ parts are trained when the run trains them or the start file held trained ones
        trained_hq = module.use_hq or holds_trained_hq(loaded.format, loaded.provenance)
        trainer: L.Trainer = hydra.utils.instantiate(
            ddp_settings_for(cfg.trainer, "full"),
            callbacks=[stop, *last_and_best(output_dir / "checkpoints", best_by, trained_hq)],
            logger=loggers or False, plugins=[AtomicCheckpointIO()],
        )
        stop_together_on_failed_writes(trainer.strategy)  # rank 0 writes; all learn how it went
        train_loader, val_loader = video_loaders(cfg, image_size, trainer.world_size, listed)
        train_loader.follow(trainer)  # its epoch and batches done: a mid-epoch resume is exact
        metrics: dict = {}
        if (val_loader is not None and cfg.get("validate_before_training")
                and not cfg.get("ckpt_path")):
            stop.validation_label = "the validation before training"
            trainer.validate(module, val_loader, verbose=False)
            metrics["before"] = dict(module.val_results)
        with reporting_full_disk(trainer, resumed_from):  # a full disk: the resume command too
            trainer.fit(module, train_loader, val_loader, ckpt_path=resumed_from)
        if module.val_results:
            metrics["after"] = dict(module.val_results)
        exported = None
        if cfg.get("export") and trainer.is_global_zero:
            stop.phase = "the end-of-run export"
            exported = export_whole_model(module.model,
                                          output_dir / "export" / video_export_name(cfg),
                                          trained_hq)
    for when, values in metrics.items():
        log.info("val %s: %s", when, ", ".join(f"{k} {v:.2f}" for k, v in values.items()))
    objects = {"cfg": cfg, "model": module.model, "module": module, "trainer": trainer,
               "exports": {"model": exported} if exported else {},
               "config": OmegaConf.to_container(cfg, resolve=True)}
    return metrics, objects
