"""The `video` group's keys and the data.* counts a video run reads (experiment=video_finetune),
checked in one line each before anything heavy: samhq-train's check stage (run/checks.py)
runs check_video_config before the training stack is imported, and train_video runs it when
called on its own. Light on purpose: no Lightning, torchvision or albumentations here
(tests/cli/test_startup_imports.py). The records of values (prompts, loss, learning rates) are
built here too, so the run reads them as they were checked."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from samhq_train.data.video_transforms import ClipAugmentation
from samhq_train.errors import ConfigValueError
from samhq_train.training.run_config_checks import (
    FP32_WEIGHT_PRECISIONS,
    check_precision,
    run_family,
)
from samhq_train.training.run_families import VIDEO_RUN_FAMILIES
from samhq_train.video_settings import (
    IMAGE_ENCODER_KEYS,
    ClipPromptSettings,
    VideoOptimSettings,
    VideoRegularisation,
    group_values,
)

from .loss import MultiStepMaskLoss

# Lightning's aliases too (bf16, 16: the mixed precisions)
VIDEO_PRECISIONS = (*FP32_WEIGHT_PRECISIONS, "bf16", "16")

# the keys of the `video` group (conf/experiment/video_finetune.yaml and the records'
# defaults it names, samhq_train/video_settings.py)
VIDEO_KEYS = ("use_hq", "freeze_image_encoder", *VideoOptimSettings.__dataclass_fields__,
              *VideoRegularisation.__dataclass_fields__, "teacher_force_object_scores",
              "init_missing_video_parts", "prompts", "loss")
SAM3_KEYS = {  # video.<key> -> what it is; SAM 2.1 has no such thing
    "teacher_force_object_scores": "Meta's teacher_force_obj_scores_for_mem",
    "init_missing_video_parts": "fresh tracker video parts for a SAM 3 file without them",
}
# data.<key> -> what of data.val_root it keeps the first N of (conf/data/video_folder.yaml)
VALIDATION_COUNTS = {"val_sequences": "sequences", "val_max_frames": "frames of each"}


def check_video_config(cfg) -> None:
    """The keys a video run reads, before anything heavy (data.root and data.val_root:
    run/checks.py's check_video_data, before this module is imported)."""
    for key in ("num_frames", "max_num_objects", "batch_size", "multiplier"):
        if int(cfg.data.get(key, 1)) < 1:
            raise ConfigValueError(f"data.{key}={cfg.data.get(key)}: must be at least 1")
    check_validation_counts(cfg.data)
    family = run_family(cfg, VIDEO_RUN_FAMILIES, "video fine-tuning needs a SAM 2.1 / HQ-SAM 2 or "
                        "SAM 3 / HQ-SAM 3 model (model=sam2.1_hq_hiera_* or sam3_hq*)")
    check_video_keys(cfg.video, family)
    if cfg.video.get("freeze_image_encoder") and cfg.model.get("grad_checkpointing"):
        raise ConfigValueError(
            "model.grad_checkpointing=true recomputes the image encoder's blocks in backward, "
            "but video.freeze_image_encoder=true runs the encoder without gradients: remove "
            "model.grad_checkpointing, or set video.freeze_image_encoder=false")
    check_precision(cfg, VIDEO_PRECISIONS, "video fine-tuning trains fp32 weights, as SAM 2 "
                    "does; use 32, bf16-mixed (SAM 2's amp) or 16-mixed")
    regularisation = video_regularisation(cfg.video)
    for key in VideoRegularisation.__dataclass_fields__:
        if not 0.0 <= getattr(regularisation, key) < 1.0:
            raise ConfigValueError(f"video.{key}={cfg.video[key]}: must be in [0, 1) (0: off)")
    if not 0.0 < video_optim_settings(cfg.video).layer_decay <= 1.0:
        raise ConfigValueError(f"video.layer_decay={cfg.video.layer_decay}: must be in (0, 1] "
                               "(1: no layer-wise decay)")
    clip_prompt_settings(cfg.video)
    video_loss(cfg.video)
    clip_augmentation(cfg.data)


def check_video_keys(video, family: str) -> None:
    """A video.* key that this run would ignore in silence: one it does not know, SAM 3's own
    with a SAM 2.1 model, or an image encoder setting away from its default with
    video.freeze_image_encoder=true (the demos freeze and leave them at their defaults)."""
    for key in video:
        if key not in VIDEO_KEYS:
            raise ConfigValueError(f"video.{key} is not a setting: use one of "
                                   f"{', '.join(VIDEO_KEYS)}")
    for key, what in SAM3_KEYS.items():
        if video.get(key) and family != "sam3":
            raise ConfigValueError(f"video.{key}={str(video[key]).lower()} is SAM 3's option "
                                   f"({what}): remove it or set it false for SAM 2.1")
    if not video.get("freeze_image_encoder"):
        return
    ours, default = video_optim_settings(video), VideoOptimSettings()
    for key in IMAGE_ENCODER_KEYS:
        if getattr(ours, key) != getattr(default, key):
            raise ConfigValueError(
                f"video.{key}={video[key]} acts on the image encoder, which "
                f"video.freeze_image_encoder=true freezes: remove video.{key} (default "
                f"{getattr(default, key)}), or set video.freeze_image_encoder=false")


def check_validation_counts(data) -> None:
    """data.val_sequences / val_max_frames (null: all) limit what validation reads of
    data.val_root: refused without one (nothing would read them) or below 1 (a slice would
    misread: -1 is all but the last)."""
    for key, what in VALIDATION_COUNTS.items():
        value = data.get(key)
        if value is None:
            continue
        if not data.get("val_root"):
            raise ConfigValueError(
                f"data.{key}={value} keeps the first {value} {what} of data.val_root, which is "
                f"not set (no validation): set data.val_root=/path/to/val, or data.{key}=null")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigValueError(f"data.{key}={value}: must be a whole number, at least 1 "
                                   "(null: all)")


def video_numbers(video, record):
    """A record of numbers (VideoOptimSettings, VideoRegularisation) from the video.* keys of its
    fields, its default for a key left out; one line naming the key for one not a number."""
    default, values = record(), {}
    for key in record.__dataclass_fields__:
        try:
            values[key] = float(video.get(key, getattr(default, key)))
        except (TypeError, ValueError):
            raise ConfigValueError(f"video.{key}={video[key]}: expected a number (default "
                                   f"{getattr(default, key)})") from None
    return record(**values)


def video_optim_settings(video) -> VideoOptimSettings:
    """video.lr, vision_lr, weight_decay, layer_decay."""
    return video_numbers(video, VideoOptimSettings)


def video_regularisation(video) -> VideoRegularisation:
    """video.drop_path_rate and dropout."""
    return video_numbers(video, VideoRegularisation)


def clip_prompt_settings(video) -> ClipPromptSettings:
    """video.prompts.* over ClipPromptSettings' defaults."""
    return ClipPromptSettings.from_config(**group_values(video, "prompts"))


def video_loss(video) -> MultiStepMaskLoss:
    """video.loss.* over MultiStepMaskLoss' defaults."""
    return MultiStepMaskLoss.from_config(**group_values(video, "loss"))


def clip_augmentation(data) -> ClipAugmentation | None:
    """data.augmentation's settings (SAM 2's MOSE augmentations); None when null / false."""
    settings = data.get("augmentation")
    if not settings:
        return None
    known = tuple(ClipAugmentation.__dataclass_fields__)
    if not isinstance(settings, DictConfig):
        raise ConfigValueError(f"data.augmentation={settings}: a mapping of {', '.join(known)} "
                               "(defaults: SAM 2's MOSE fine-tune), or null for none")
    unknown = [key for key in settings if key not in known]
    if unknown:
        raise ConfigValueError(f"data.augmentation.{unknown[0]}: not an augmentation setting; "
                               f"known: {', '.join(known)}")
    try:
        return ClipAugmentation(**OmegaConf.to_container(settings))
    except ValueError as err:  # its message starts with the key: "degrees=-1: ..." (a value
        raise ConfigValueError(f"data.augmentation.{err}") from None  # of the wrong kind too)


