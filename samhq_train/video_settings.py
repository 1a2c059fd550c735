"""The `video` group's settings records (video fine-tuning, experiment=video_finetune); their
defaults are SAM 2's MOSE fine-tune's (sam2.1_hiera_b+_MOSE_finetune.yaml).

    video.lr, vision_lr, weight_decay, layer_decay  VideoOptimSettings
    video.drop_path_rate, dropout                   VideoRegularisation
    video.prompts.*                                 ClipPromptSettings
    video.loss.*                                    VideoLossSettings

They are the one home of these defaults: config_defaults.py stores them as `video_defaults`,
which conf/experiment/video_finetune.yaml names in its defaults list (`python train.py
experiment=video_finetune --cfg job` shows them); training/video reads the config back into them
and checks the values (training/video/run.py, check_video_config).
"""

from __future__ import annotations

from dataclasses import dataclass


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
        if self.click_sampling not in ("uniform", "center"):
            raise ValueError(f"click_sampling must be uniform or center, not {self.click_sampling}")
        if self.num_init_cond_frames < 1:
            raise ValueError("num_init_cond_frames must be at least 1")
        if self.prob_to_use_pt_input > 0 and self.num_frames_to_correct < self.num_init_cond_frames:
            raise ValueError("num_frames_to_correct must be at least num_init_cond_frames")


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


__all__ = [
    "IMAGE_ENCODER_KEYS",
    "ClipPromptSettings",
    "VideoLossSettings",
    "VideoOptimSettings",
    "VideoRegularisation",
]
