"""LightningModule of video fine-tuning: SAM2Train's clip forward and loss, SAM 2's optimiser.

What trains: every parameter of SAM 2.1 / HQ-SAM 2, as SAM 2's MOSE fine-tune does (the memory
attention, memory encoder and object pointers are what video training exists for, and the mask
decoder and prompt encoder decode the tracked frames), the image encoder at vision_lr (SAM 2:
3e-6 against 5e-6) or frozen (freeze_image_encoder: SAM2Train's switch; it runs without gradients
then, much cheaper on small machines). AdamW, weight decay 0.1 except biases and LayerNorms, each
learning rate cosine-annealed to a tenth over the run (per step); gradient clipping is the
trainer's (gradient_clip_val 0.1, by norm).

Checkpoints hold the whole model (the "model." prefix), Lightning's loop and optimiser state and
the prompt sampler's random state, so a resumed run draws the prompts it would have drawn.
"""

from __future__ import annotations

import math

import lightning as L
import numpy as np
import torch
from torch import nn

from samhq_train.evaluation.video import overall_score
from samhq_train.model.sam2 import Sam2HQ

from .clip_forward import ClipForward
from .loss import TERMS, MultiStepMaskLoss
from .prompts import ClipPromptSettings, plan_clip
from .validation import score_tracking

RNG_KEY = "video_prompt_rng"


def no_decay(name: str, module_of: dict[str, nn.Module]) -> bool:
    owner = module_of.get(name.rsplit(".", 1)[0])
    return name.endswith("bias") or isinstance(owner, nn.LayerNorm)


class VideoTrainModule(L.LightningModule):
    def __init__(self, model: Sam2HQ, *, prompts: ClipPromptSettings, loss: MultiStepMaskLoss,
                 use_hq: bool = True, teacher_force_object_scores: bool = False,
                 lr: float = 5e-6, vision_lr: float = 3e-6,
                 weight_decay: float = 0.1, freeze_image_encoder: bool = False,
                 seed: int = 42) -> None:
        super().__init__()
        self.model = model
        self.prompts, self.loss, self.use_hq = prompts, loss, use_hq
        self.lr, self.vision_lr, self.weight_decay = lr, vision_lr, weight_decay
        self.freeze_image_encoder = freeze_image_encoder
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.clip_forward = ClipForward(model, prompts, use_hq=use_hq,
                                        teacher_force_object_scores=teacher_force_object_scores)
        model.requires_grad_(True)
        if freeze_image_encoder:
            model.image_encoder.requires_grad_(False)
        self.val_scores: list = []
        self.val_results: dict[str, float] = {}

    def setup(self, stage: str) -> None:
        # one stream per process (SAM2Train seeds all alike; different clips per rank anyway)
        if stage == "fit" and self.global_rank:
            self.rng = np.random.default_rng([self.seed, self.global_rank])

    def on_train_epoch_start(self) -> None:
        # a loaded model comes in eval mode, and Lightning keeps modes: SAM2Train trains in
        # train mode (the decoder's eval-only dynamic multimask must stay off)
        self.model.train()

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        masks = batch["masks"]
        plan = plan_clip(masks, self.prompts, self.rng)
        images = batch["images"].float()
        if self.freeze_image_encoder:
            with torch.no_grad():
                features = self.clip_forward.encode(images.flatten(0, 1))
            frames = self.clip_forward(images, masks, batch["object_video"], plan, self.rng,
                                       features=features)
        else:
            frames = self.clip_forward(images, masks, batch["object_video"], plan, self.rng)
        losses = self.loss(frames, masks)
        for name in (*TERMS, "loss"):
            self.log(f"train/{name}", losses[name].detach(), prog_bar=name == "loss",
                     batch_size=masks.shape[1])
        return losses["loss"]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self.val_scores.append(score_tracking(self.model, batch, use_hq=self.use_hq))

    def on_validation_epoch_end(self) -> None:
        if not self.val_scores:
            return
        overall = overall_score(self.val_scores)
        self.val_scores = []
        self.val_results = {"J&F": overall.jf, "J": overall.j, "F": overall.f}
        for name, value in self.val_results.items():
            self.log(f"val/{name}", value, sync_dist=True)

    def configure_optimizers(self):
        module_of = dict(self.model.named_modules())
        vision = {id(p) for p in self.model.image_encoder.parameters()}  # SAM 3: detector.*
        groups: dict[tuple[bool, bool], list] = {}
        for name, param in self.model.named_parameters():
            if param.requires_grad:
                key = (id(param) in vision, no_decay(name, module_of))
                groups.setdefault(key, []).append(param)
        param_groups = [
            {"params": params, "lr": self.vision_lr if vision else self.lr,
             "weight_decay": 0.0 if plain else self.weight_decay}
            for (vision, plain), params in sorted(groups.items())
        ]
        optimizer = torch.optim.AdamW(param_groups)
        total = max(int(self.trainer.estimated_stepping_batches), 1)

        def cosine_to_tenth(step: int) -> float:
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_to_tenth)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[RNG_KEY] = self.rng.bit_generator.state

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if RNG_KEY in checkpoint:
            self.rng.bit_generator.state = checkpoint[RNG_KEY]
