"""Fine-tuning SAM 2.1 / HQ-SAM 2 on video clips, as SAM 2's own video training does it.

    prompts       the clip's prompts (mask / box / point on the initial conditioning frames, the
                  frames to correct) and the correction clicks, drawn as SAM2Train draws them
                  (the settings of all of them: samhq_train/video_settings.py)
    clip_forward  the differentiable forward over a clip (memory, corrections): FrameSteps
    loss          MultiStepMaskLoss (SAM 2's MultiStepMultiMasksAndIous)
    optimizer     SAM 2's param groups (layer-wise lr decay, weight decay rules) and schedule
    validation    J&F of whole sequences tracked from their first-frame GT masks
    module        VideoTrainModule (the LightningModule); run: train_video(cfg)
"""

from .clip_forward import ClipForward, FrameSteps, training_tracking
from .loss import MultiStepMaskLoss
from .prompts import ClipPlan, plan_clip

__all__ = [
    "ClipForward", "ClipPlan", "FrameSteps", "MultiStepMaskLoss", "plan_clip", "training_tracking",
]
