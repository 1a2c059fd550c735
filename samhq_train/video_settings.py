"""The `video` group's settings records (video fine-tuning, experiment=video_finetune); their
defaults are SAM 2's MOSE fine-tune's (sam2.1_hiera_b+_MOSE_finetune.yaml).

    video.lr, vision_lr, weight_decay, layer_decay  VideoOptimSettings
    video.drop_path_rate, dropout                   VideoRegularisation
    video.prompts.*                                 ClipPromptSettings
    video.loss.*                                    VideoLossSettings

They are the one home of these defaults: config_defaults.py stores them as `video_defaults`,
which conf/experiment/video_finetune.yaml names in its defaults list (`python train.py
experiment=video_finetune --cfg job` shows them); training/video reads the config back into them
and checks the values (training/video/run.py, check_video_config). A bad video.prompts.* /
video.loss.* value is a SettingError naming its full key (settings.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from omegaconf import DictConfig, OmegaConf

from samhq_train.settings import int_at_least, known_keys, number, one_of, require

PROMPTS_PREFIX = "video.prompts"
LOSS_PREFIX = "video.loss"
CLICK_SAMPLINGS = ("uniform", "center")


@dataclass(frozen=True)
class VideoOptimSettings:
    """video.lr, vision_lr, weight_decay and layer_decay (AdamW, each lr cosine-annealed to a
    tenth over the run; training/video/optimizer.py). With video.freeze_image_encoder=true the
    run refuses vision_lr / layer_decay set away from these defaults (nothing reads them)."""

    lr: float = 5e-6  # every part but the image encoder
    vision_lr: float = 3e-6  # the image encoder
    weight_decay: float = 0.1  # not on biases and LayerNorms
    layer_decay: float = 0.9  # image encoder trunk: block i of L at lr * 0.9^(L - i) (1: none)


# the settings only the image encoder's parameters read (video.freeze_image_encoder: none train)
IMAGE_ENCODER_KEYS = ("vision_lr", "layer_decay")


@dataclass(frozen=True)
class VideoRegularisation:
    """video.drop_path_rate and dropout: SAM 2's regularisation, in training mode only; each in
    [0, 1), 0 turns it off."""

    drop_path_rate: float = 0.1  # Hiera's stochastic depth, 0 -> 0.1 over the blocks
    dropout: float = 0.1  # the memory attention's dropout


@dataclass(frozen=True)
class ClipPromptSettings:
    """video.prompts: SAM2Train's prompt arguments (the *_for_train ones; training/video/
    prompts.py draws them). click_sampling "uniform" draws a click uniformly from the error
    region (training), "center" takes the error region's innermost pixel (SAM2Train's
    pt_sampling_for_eval, deterministic)."""

    prob_to_use_pt_input: float = 0.5
    prob_to_use_box_input: float = 0.5
    num_frames_to_correct: int = 2
    rand_frames_to_correct: bool = True
    num_init_cond_frames: int = 2
    rand_init_cond_frames: bool = True
    add_all_frames_to_correct_as_cond: bool = True
    num_correction_pt_per_frame: int = 7
    prob_to_sample_from_gt: float = 0.1
    click_sampling: str = "uniform"

    def __post_init__(self) -> None:
        for field in fields(self):
            key, value = f"{PROMPTS_PREFIX}.{field.name}", getattr(self, field.name)
            if field.name.startswith("prob_"):
                number(key, value, lambda v: 0 <= v <= 1, "a number in [0, 1]")
            elif field.name == "num_init_cond_frames":
                int_at_least(key, value, 1)
            elif field.type in (int, "int"):
                int_at_least(key, value, 0)
            elif field.type in (bool, "bool"):
                check_bool(key, value)
        one_of(f"{PROMPTS_PREFIX}.click_sampling", self.click_sampling, CLICK_SAMPLINGS)
        require(f"{PROMPTS_PREFIX}.num_frames_to_correct", self.num_frames_to_correct,
                lambda v: self.prob_to_use_pt_input == 0 or v >= self.num_init_cond_frames,
                f"an integer >= {PROMPTS_PREFIX}.num_init_cond_frames="
                f"{self.num_init_cond_frames} (the initial conditioning frames are among those "
                "corrected)")

    @classmethod
    def from_config(cls, **values) -> ClipPromptSettings:
        """From plain config values (video.prompts.*); a SettingError naming the key for an
        unknown or bad one."""
        known_keys(PROMPTS_PREFIX, list(values), [f.name for f in fields(cls)])
        return cls(**values)


@dataclass(frozen=True)
class VideoLossSettings:
    """video.loss: the weights of SAM 2's MultiStepMultiMasksAndIous terms and its IoU options.
    training/video/loss.py's MultiStepMaskLoss adds the MOSE config's focal alphas / gammas and
    pred_obj_scores, which a video.loss.<key> override may still set."""

    weight_mask: float = 20.0
    weight_dice: float = 1.0
    weight_iou: float = 1.0
    weight_class: float = 1.0
    supervise_all_iou: bool = True
    iou_use_l1_loss: bool = True

    def __post_init__(self) -> None:
        for field in fields(VideoLossSettings):
            key, value = f"{LOSS_PREFIX}.{field.name}", getattr(self, field.name)
            if field.name.startswith("weight_"):
                number(key, value, lambda v: v >= 0, "a number >= 0 (0: the term off)")
            else:
                check_bool(key, value)

    @classmethod
    def from_config(cls, **values):
        """From plain config values (video.loss.*, a subclass's fields included); a
        SettingError naming the key for an unknown or bad one."""
        known_keys(LOSS_PREFIX, list(values), [f.name for f in fields(cls)])
        return cls(**values)


def check_bool(key: str, value) -> None:
    require(key, value, lambda v: isinstance(v, bool), "true or false")


def check_focal(record, alpha: str, gamma: str) -> None:
    """video.loss.<alpha> / <gamma>: a sigmoid focal loss's class weight and focusing power."""
    number(f"{LOSS_PREFIX}.{alpha}", getattr(record, alpha), lambda v: v <= 1,
           "a number in [0, 1], or negative (no class weighting)")
    number(f"{LOSS_PREFIX}.{gamma}", getattr(record, gamma), lambda v: v >= 0, "a number >= 0")


def group_values(video, key: str) -> dict:
    """video.<key>'s settings (prompts, loss) as plain values. A group left out (or null) is
    {}: its record's defaults, which experiment=video_finetune composes too (video_defaults), so
    a hand-written config sets only the keys it changes, as the video.* numbers do."""
    value = video.get(key)
    if value is None:
        return {}
    require(f"video.{key}", value, lambda v: isinstance(v, DictConfig),
            f"settings (video.{key}.<name>=...; leave it out for the defaults)")
    return OmegaConf.to_container(value, resolve=True)


__all__ = [
    "CLICK_SAMPLINGS",
    "LOSS_PREFIX",
    "PROMPTS_PREFIX",
    "IMAGE_ENCODER_KEYS",
    "ClipPromptSettings",
    "VideoLossSettings",
    "VideoOptimSettings",
    "VideoRegularisation",
    "check_bool",
    "check_focal",
    "group_values",
]
