"""LightningModule of video fine-tuning: SAM2Train's clip forward and loss, SAM 2's optimiser.

What trains: every parameter of SAM 2.1 / HQ-SAM 2, as SAM 2's MOSE fine-tune does (the memory
attention, memory encoder and object pointers are what video training exists for, and the mask
decoder and prompt encoder decode the tracked frames), the image encoder at vision_lr (SAM 2:
3e-6 against 5e-6) or frozen (freeze_image_encoder: SAM2Train's switch; it runs without gradients
then, much cheaper on small machines). In training mode, SAM 2's regularisation: drop-path
rising to drop_path_rate over the Hiera blocks and dropout in the memory attention (0.1 both in
the MOSE config). AdamW with SAM 2's param groups (optimizer.py: layer-wise lr decay 0.9 in the
Hiera trunk, weight decay 0.1 except biases and LayerNorms), each learning rate cosine-annealed
to a tenth over the run (per step); gradient clipping is the trainer's (gradient_clip_val 0.1,
by norm).

Mixed precision (trainer.precision=bf16-mixed, the MOSE config's amp: enabled, bfloat16): the
trainer's autocast covers training_step (the clip forward and the loss, as SAM 2's trainer puts
both under autocast; the loss terms come out fp32 as its do, from fp32 mask logits) and
validation_step (the tracking J&F is scored under the same precision); the backward and the
optimiser run outside it on fp32 weights. SAM 2's trainer also keeps a gradient scaler at bf16,
whose power-of-two scale changes no value (short of an overflow); what it adds, skipping a step
with inf gradients, is here the one-line stop of a diverging run (training/divergence.py, as
image training). 16-mixed: fp16 autocast with Lightning's gradient scaler, on a GPU (the config
check refuses it on the CPU, where Lightning would run bf16 instead).

Checkpoints hold the whole model (the "model." prefix), Lightning's loop and optimiser state,
the prompt sampler's random state and every process's torch / numpy / Python random states (clip
order, clip sampling, augmentations, box noise, clicks, dropout), so a run resumed from an
epoch's last.ckpt continues bit for bit as the uninterrupted run.

Under DDP a clip that one process failed to load (data.loaders.LoadFailure: a frame found cut
short when read) stops every process at that training step, before backward (told through the
loss's all-reduce of the object count, which the failing process joins: no extra collective a
step), and a validation sequence that failed to load at the end of that validation, in one line
each (training/step_failures.py), rather than leaving the others waiting in a collective.
Validation gathers every process's sequence scores (each sequence once: Lightning's
DistributedSampler repeats some to even the shares) into the one-process J&F, so every process
logs the same figures and takes part in the same collectives, whether it scored a sequence or
not.
"""

from __future__ import annotations

from dataclasses import asdict

import lightning as L
import numpy as np
import torch

from samhq_train.data.loaders import LoadFailure
from samhq_train.distributed import gather_from_ranks, seed_this_process
from samhq_train.evaluation.video import SequenceScore, overall_score
from samhq_train.model.sam2 import Sam2HQ
from samhq_train.training.checkpointing import gather_rng_states, restore_own_rng_states
from samhq_train.training.divergence import check_gradients, check_loss
from samhq_train.training.step_failures import (
    held_for_validation_end,
    stop_at_failed_batch,
    stop_together_on_failure,
)
from samhq_train.video_settings import (
    ClipPromptSettings,
    VideoOptimSettings,
    VideoRegularisation,
)

from .clip_forward import ClipForward
from .loss import TERMS, MultiStepMaskLoss
from .optimizer import video_optimizer
from .prompts import plan_clip
from .validation import score_tracking

RNG_KEY = "video_prompt_rng"
GLOBAL_RNG_KEY = "rng_states"  # as image training's checkpoints


class VideoTrainModule(L.LightningModule):
    def __init__(self, model: Sam2HQ, *, prompts: ClipPromptSettings, loss: MultiStepMaskLoss,
                 use_hq: bool = True, teacher_force_object_scores: bool = False,
                 optim: VideoOptimSettings | None = None,
                 drop_path_rate: float = VideoRegularisation.drop_path_rate,
                 dropout: float = VideoRegularisation.dropout,
                 freeze_image_encoder: bool = False, seed: int = 42) -> None:
        super().__init__()
        self.model = model
        self.prompts, self.loss, self.use_hq = prompts, loss, use_hq
        self.optim = optim or VideoOptimSettings()  # SAM 2's MOSE fine-tune
        self.freeze_image_encoder = freeze_image_encoder
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.clip_forward = ClipForward(model, prompts, use_hq=use_hq,
                                        teacher_force_object_scores=teacher_force_object_scores)
        # training mode only: tracking and validation run the model in eval mode
        model.image_encoder.trunk.set_drop_path_rate(drop_path_rate)
        model.memory_attention.set_dropout(dropout)
        model.requires_grad_(True)
        if freeze_image_encoder:
            model.image_encoder.requires_grad_(False)
        self.val_scores: list[SequenceScore] = []
        self.val_failure: Exception | None = None  # a validation sequence that failed to load
        self.val_results: dict[str, float] = {}

    def setup(self, stage: str) -> None:
        # one prompt stream per process (SAM2Train seeds all alike; different clips per rank
        # anyway), and torch's / numpy's / Python's global streams (drop-path, dropout, box
        # noise, clicks) apart as SAM 2's trainer seeds each process ((seed + rank) x epochs);
        # process 0 keeps the one-process run's; a resumed run then gets every process's back
        if stage == "fit" and self.global_rank:
            self.rng = np.random.default_rng([self.seed, self.global_rank])
            process_seed = int(np.random.SeedSequence([self.seed, self.global_rank])
                               .generate_state(1)[0])
            seed_this_process(process_seed)

    def on_train_start(self) -> None:
        # a loaded model comes in eval mode, and Lightning keeps modes: SAM2Train trains in
        # train mode (the decoder's eval-only dynamic multimask must stay off); not
        # on_train_epoch_start: a run resumed inside an epoch starts there without it
        self.model.train()

    def training_step(self, batch: dict | LoadFailure, batch_idx: int) -> torch.Tensor:
        if isinstance(batch, LoadFailure):  # the others learn of it in the loss's all-reduce
            stop_at_failed_batch(self.trainer, batch.error, self.device)
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

    def on_before_backward(self, loss: torch.Tensor) -> None:
        check_loss(self.trainer, loss)  # a diverged run stops here, in one line

    def on_before_optimizer_step(self, optimizer) -> None:
        check_gradients(self.trainer, self.model, optimizer)

    def on_validation_epoch_start(self) -> None:
        self.val_scores, self.val_failure = [], None

    def validation_step(self, batch: dict | LoadFailure, batch_idx: int) -> None:
        if held_for_validation_end(self, batch):  # a LoadFailure
            return
        self.val_scores.append(score_tracking(self.model, batch, use_hq=self.use_hq))

    def on_validation_epoch_end(self) -> None:
        stop_together_on_failure(self.trainer, self.val_failure)
        scores = {s.name: s for part in gather_from_ranks(self.val_scores) for s in part}
        self.val_scores = []
        if not scores:
            return
        overall = overall_score([scores[name] for name in sorted(scores)])  # the loader's order
        self.val_results = {"J&F": overall.jf, "J": overall.j, "F": overall.f}
        for name, value in self.val_results.items():
            self.log(f"val/{name}", value, sync_dist=True)  # the same in every process

    def configure_optimizers(self):
        optimizer, scheduler = video_optimizer(
            self.model, self.trainer.estimated_stepping_batches, **asdict(self.optim))
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[RNG_KEY] = self.rng.bit_generator.state
        checkpoint[GLOBAL_RNG_KEY] = gather_rng_states()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if RNG_KEY in checkpoint:
            self.rng.bit_generator.state = checkpoint[RNG_KEY]
        states = checkpoint.get(GLOBAL_RNG_KEY)
        if states:  # every process's torch / numpy / Python states; this rank's restored
            attached = self._trainer is not None
            restore_own_rng_states(states, self.global_rank if attached else 0,
                                   self.trainer.world_size if attached else 1)
