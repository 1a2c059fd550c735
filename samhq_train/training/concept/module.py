"""LightningModule of concept fine-tuning: SAM 3's detector trained as Meta's recipe trains it
(roboflow_v100 full fine-tune): each step, the batch's phrases tokenised, the ViT trunk's map of
each image, the detector's train-mode forward (DAC copies, every decoder layer, the _o2m outputs)
and the detection loss (loss.py); AdamW with the recipe's param groups and inverse-square-root
schedule stepped per optimiser step (optimizer.py); gradient clipping is the trainer's
(lightning_clipping).

What trains is the policy's (concept_settings.ConceptPolicy, applied by trainable.py: full =
Meta's recipe, detector, detector+lora). The trunk runs without autograd when the policy freezes
it (detector); a frozen text encoder encodes each phrase once per run (phrase_features.py);
without the mask terms the segmentation head is not run. Neither changes a value.

Validation (eval mode, no DAC, the last layer): the loss as in training ("val/core_loss" and its
main terms; each batch normalised by its own instance count, averaged over every process's
batches) and COCO box AP of the detections over the validation json ("val/box_AP", AP50,
AP75: validation.py), which picks the best checkpoint. With val_exemplars (data.val_exemplars)
each batch's queries with instances are asked again with one of their own boxes
(data/concept_val_exemplars.py) on the same trunk maps: "val/exemplar_core_loss" and
"val/exemplar_box_AP", AP50, AP75 of those detections alone, gathered as the text ones.

The detector's modules are the model's (attach_detector), so the model's state_dict, the
checkpoints and the export hold the trained tensors; the ConceptDetector object that runs them
is kept outside the module tree (not registered twice) and is switched with the model's
train / eval mode each step (its own flag decides DAC). Checkpoints carry every process's random
states, and the data draws per (seed, epoch, index) (ConceptDataset): a run resumed from an
epoch's last.ckpt continues as the uninterrupted one.

Under DDP each process starts from its own seed (its own dropout, as Meta's processes), validates
its share of the datapoints (the losses and detections gathered: the one-process figures), and a
batch that one process failed to load (data.loaders.LoadFailure) stops every process at that
training step, before backward (told through the loss's all-reduce of the instance count, which
the failing process joins: no extra collective a step), or at the end of that validation, in one
line each (training/step_failures.py), rather than leaving the others waiting in a collective.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import lightning as L
import torch

from samhq_train.clip_tokenizer import ClipTokenizer
from samhq_train.concept_settings import ConceptOptimSettings, ConceptPolicy
from samhq_train.data.concept_batch import ConceptBatch
from samhq_train.data.concept_val_exemplars import ValExemplarSettings, exemplar_batch
from samhq_train.data.loaders import LoadFailure
from samhq_train.distributed import gather_from_ranks, seed_this_process
from samhq_train.model.sam3.concept.geometry import ExemplarPrompt
from samhq_train.training.checkpointing import gather_rng_states, restore_own_rng_states
from samhq_train.training.divergence import check_gradients, check_loss
from samhq_train.training.step_failures import (
    held_for_validation_end,
    stop_at_failed_batch,
    stop_together_on_failure,
)

from .loss import CORE_LOSS, ConceptLossSettings, concept_detection_loss
from .optimizer import concept_optimizer
from .phrase_features import PhraseFeatures
from .trainable import prepare_concept_model
from .validation import BoxDetections

MAIN_TERMS = ("loss_bbox", "loss_giou", "loss_ce", "presence_loss", "loss_mask", "loss_dice")
VAL_AP_KEYS = ("box_AP", "box_AP50", "box_AP75")
EXEMPLAR = "exemplar_"  # the validation's exemplar-prompt figures: val/exemplar_box_AP, ...
GLOBAL_RNG_KEY = "rng_states"  # as image and video training's checkpoints


def trunk_maps(model, images: torch.Tensor) -> torch.Tensor:
    """The ViT trunk's N x C x g x g maps of normalised images (the interactive path's trunk,
    which the detector shares; early fusion's extra output left aside)."""
    trunk = model.image_encoder.trunk
    if getattr(model, "early_fusion", False):
        return trunk(images, model.early_block)[0]
    return trunk(images)


class ConceptTrainModule(L.LightningModule):
    """model: a SAM 3 / HQ-SAM 3 (Sam3HQ) carrying the detector's tensors; the policy is applied
    here. tokenizer: the BPE tokenizer of the detector's text encoder. val_annotation_file: the
    validation json whose box AP is reported (None: loss only). val_exemplars: also validate
    each query with instances asked with one of its boxes (data.val_exemplars; None: text only)."""

    def __init__(self, model, *, policy: ConceptPolicy, tokenizer: ClipTokenizer,
                 loss: ConceptLossSettings | None = None,
                 optim: ConceptOptimSettings | None = None,
                 val_annotation_file: str | Path | None = None,
                 steps_per_epoch: int | None = None,
                 val_exemplars: ValExemplarSettings | None = None) -> None:
        super().__init__()
        self.model = model
        detector = prepare_concept_model(model, policy)
        object.__setattr__(self, "detector", detector)  # its modules are registered in model
        self.policy, self.tokenizer = policy, tokenizer
        self.phrase_features = PhraseFeatures(detector.backbone.language_backbone)
        self.loss_settings = loss or ConceptLossSettings()
        self.optim_settings = optim or ConceptOptimSettings()
        self.val_annotation_file = val_annotation_file
        self.steps_per_epoch = steps_per_epoch
        self.val_exemplars = val_exemplars
        self.val_detections = BoxDetections()
        self.val_exemplar_detections = BoxDetections()
        self.val_losses: dict[str, list[float]] = {}
        self.val_failure: Exception | None = None  # a validation batch that failed to load
        self.val_results: dict[str, float] = {}
        self.val_results_step = -1  # the global step val_results were measured at
        self.restored_rng = False  # each process's random states came from a checkpoint

    def on_fit_start(self) -> None:
        # under DDP each process draws its own dropout masks, as Meta seeds each process apart
        # ((seed + rank) x epochs there); a resumed run has its processes' own states back
        if self.trainer.world_size > 1 and not self.restored_rng:
            seed = int(os.environ.get("PL_GLOBAL_SEED", 0)) + self.global_rank
            seed_this_process(seed)

    def on_train_start(self) -> None:
        # a loaded model comes in eval mode and Lightning keeps modes: Meta trains in train mode
        # (not on_train_epoch_start: a run resumed inside an epoch starts there without it)
        self.model.train()

    def transfer_batch_to_device(self, batch, device, dataloader_idx: int):
        return batch.to(device) if isinstance(batch, ConceptBatch) else super(
        ).transfer_batch_to_device(batch, device, dataloader_idx)

    def image_maps(self, batch: ConceptBatch) -> torch.Tensor:
        """The trunk's maps of the batch's images (with autograd where the policy trains it), or
        the cached ones the batch carries (data.cache, policy detector: samhq_train/cache/
        concept.py)."""
        if batch.maps is not None:  # in the trunk's own layout (B x H x W x C permuted): the
            return batch.maps.contiguous(memory_format=torch.channels_last)  # neck rounds by it
        if self.policy.trunk_needs_grad and torch.is_grad_enabled():
            return trunk_maps(self.model, batch.images)
        with torch.no_grad():
            return trunk_maps(self.model, batch.images)

    def outputs(self, batch: ConceptBatch, maps: torch.Tensor | None = None) -> dict:
        """forward_train of the batch's queries with their exemplar boxes, if any (train or eval
        mode: the model's); maps: the images' trunk maps when already made (image_maps)."""
        self.detector.train(self.model.training)
        tokens = self.tokenizer(list(batch.texts)).to(batch.images.device)
        if maps is None:
            maps = self.image_maps(batch)
        exemplars = ExemplarPrompt.of(
            len(batch.phrases), boxes=batch.exemplar_boxes, box_labels=batch.exemplar_labels,
            box_padding=batch.exemplar_padding)
        tokens = tokens[batch.text_index]
        text = self.phrase_features(tokens) if self.phrase_features.frozen else None
        return self.detector.forward_train(maps, batch.image_index, tokens, exemplars, text=text,
                                           masks=self.loss_settings.with_masks)

    def losses(self, outputs: dict, batch: ConceptBatch) -> dict:
        settings = self.loss_settings
        if not self.model.training:  # processes validate unequal shares: no collective here
            settings = replace(settings, normalize_over_processes=False)
        return concept_detection_loss(outputs, batch.targets, settings)

    def training_step(self, batch: ConceptBatch | LoadFailure, batch_idx: int) -> torch.Tensor:
        if isinstance(batch, LoadFailure):  # the others learn of it in the loss's all-reduce
            stop_at_failed_batch(self.trainer, batch.error, self.device)
        losses = self.losses(self.outputs(batch), batch)
        size = len(batch.phrases)
        self.log("train/core_loss", losses[CORE_LOSS].detach(), prog_bar=True, batch_size=size)
        for name in MAIN_TERMS:
            if name in losses:
                self.log(f"train/{name}", losses[name].detach(), batch_size=size)
        return losses[CORE_LOSS]

    def on_before_backward(self, loss: torch.Tensor) -> None:
        check_loss(self.trainer, loss)  # a diverged run stops here, in one line

    def on_before_optimizer_step(self, optimizer) -> None:
        check_gradients(self.trainer, self.model, optimizer)

    def on_validation_epoch_start(self) -> None:
        self.val_detections = BoxDetections()
        self.val_exemplar_detections = BoxDetections()
        self.val_losses, self.val_failure = {}, None

    def validation_step(self, batch: ConceptBatch | LoadFailure, batch_idx: int) -> None:
        if held_for_validation_end(self, batch):  # a LoadFailure
            return
        maps = self.image_maps(batch) if self.val_exemplars is not None else None
        outputs = self.outputs(batch, maps)
        losses = self.losses(outputs, batch)
        for name in (CORE_LOSS, *MAIN_TERMS):
            if name in losses:
                self.val_losses.setdefault(name, []).append(float(losses[name]))
        self.val_detections.add_batch(outputs, batch)
        if self.val_exemplars is not None:
            self.validate_exemplars(batch, maps)

    def validate_exemplars(self, batch: ConceptBatch, maps: torch.Tensor) -> None:
        """The batch's queries with instances asked again with one of their boxes (the same
        images' maps): their loss and detections, kept apart from the text queries'."""
        asked = exemplar_batch(batch, self.val_exemplars)
        if asked is None:
            return
        outputs = self.outputs(asked, maps)
        loss = self.losses(outputs, asked)[CORE_LOSS]
        self.val_losses.setdefault(EXEMPLAR + CORE_LOSS, []).append(float(loss))
        self.val_exemplar_detections.add_batch(outputs, asked)

    def on_validation_epoch_end(self) -> None:
        stop_together_on_failure(self.trainer, self.val_failure)
        sums: dict[str, list[float]] = {}  # name -> [sum, count] over every process's batches
        for part in gather_from_ranks({k: (sum(v), len(v)) for k, v in self.val_losses.items()}):
            for name, (total, count) in part.items():
                sums.setdefault(name, [0.0, 0])
                sums[name][0] += total
                sums[name][1] += count
        if not sums:
            return
        results = {name: total / count for name, (total, count) in sums.items()}
        detections = self.val_detections.gathered()  # every process: one COCO evaluation
        if self.val_annotation_file is not None:
            ap = detections.box_ap(self.val_annotation_file)
            results.update({k: ap[k] for k in VAL_AP_KEYS})
        if EXEMPLAR + CORE_LOSS in results:  # some process asked exemplars: every one gathers
            asked = self.val_exemplar_detections.gathered()
            if self.val_annotation_file is not None:
                ap = asked.box_ap(self.val_annotation_file)
                results.update({EXEMPLAR + k: ap[k] for k in VAL_AP_KEYS})
        self.val_results, self.val_results_step = results, self.global_step
        for name, value in results.items():
            self.log(f"val/{name}", value, sync_dist=True)  # the same in every process

    def configure_optimizers(self):
        # the run passes steps_per_epoch: Lightning's estimated_stepping_batches would make the
        # epoch's loader iterator before a resumed run's epoch is restored (the data would then
        # draw epoch 0's augmentations and order)
        epochs = max(int(self.trainer.max_epochs or 1), 1)
        steps_per_epoch = self.steps_per_epoch or max(
            int(self.trainer.estimated_stepping_batches) // epochs, 1)
        optimizer, scheduler = concept_optimizer(self.model, steps_per_epoch, epochs,
                                                 self.optim_settings)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[GLOBAL_RNG_KEY] = gather_rng_states()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.phrase_features.clear()  # the text encoder's weights may be the checkpoint's
        states = checkpoint.get(GLOBAL_RNG_KEY)
        if states:  # every process's torch / numpy / Python states; this rank's restored
            attached = self._trainer is not None
            restore_own_rng_states(states, self.global_rank if attached else 0,
                                   self.trainer.world_size if attached else 1)
            self.restored_rng = True
