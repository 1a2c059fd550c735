"""LightningModule: a frozen SAM backbone, the trainable HQ parts, the official loss and metrics.

Only wiring lives here: the model (samhq_train.model) run on batches (samhq_train.batch_forward),
the loss (losses.py), the optional correction-click rounds (correction.py), the shared evaluation step and metrics (samhq_train.evaluation.evaluate) and
the optimiser built from config.

Checkpoints keep what trains and what rebuilds the rest (the "lightning" format record,
samhq_train/model/formats/lightning.py, defines their keys): state_dict = the trained parameters
("model." prefix), optimiser / scheduler / loop state from Lightning, the run's Provenance record,
ckpt["config"] and the random state of every process ("rng_states", restored on resume so a run
continues exactly).

Under DDP a batch one process failed to load (data.loaders.LoadFailure) stops every process at
that training step, or at the end of that validation, one line each (step_failures.py); a
validation batch whose samples were all skipped (data.loaders.EmptiedBatch) is a step that scores
nothing.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import lightning as L
import torch
from torch import nn

from samhq_train.batch_forward import decode_prompts, image_features
from samhq_train.constants import BOUNDARY_DILATION_RATIO
from samhq_train.data import PromptConfig
from samhq_train.data.loaders import EmptiedBatch, LoadFailure
from samhq_train.distributed import seed_this_process
from samhq_train.evaluation.baseline import base_decoder_state
from samhq_train.evaluation.evaluate import (
    DatasetMetrics,
    mean_over_sets,
    overlay,
    predict_batch,
)
from samhq_train.model import (
    CheckpointError,
    Provenance,
    as_policy,
    check_policy_applied,
    encoder_needs_grad,
    parameter_groups,
    scale_group_lrs,
    trained_modules,
)
from samhq_train.model.formats.lightning import (
    PROVENANCE_KEY,
    STATE_KEY,
    checkpoint_keys,
    provenance_of,
)
from samhq_train.training.checkpointing import (
    check_finite_weights,
    gather_rng_states,
    restore_own_rng_states,
)
from samhq_train.training.correction import correction_rounds, mean_losses
from samhq_train.training.divergence import check_gradients, check_loss
from samhq_train.training.losses import PointSampledMaskLoss
from samhq_train.training.step_failures import stop_at_failed_batch, stop_together_on_failure

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]


class SamHQModule(L.LightningModule):
    """Trains the parameters of `model` that its trainable policy selects (provenance.policy).

    Args:
        model: the model, with requires_grad set by the policy; frozen parts stay in eval mode.
        optimizer: factory params -> optimiser (a Hydra `_partial_`), e.g. Adam(lr=1e-3).
        scheduler: factory optimiser -> LR scheduler, or None; stepped every `scheduler_interval`.
        loss: the mask loss (default: the official point-sampled BCE + dice).
        val_names: names of the validation sets (metrics are logged per set).
        provenance: what rebuilds the frozen rest and which policy trains.
        config: the resolved run configuration (plain dict), stored in checkpoints.
        seed: each process is seeded with seed + global rank when fitting starts (official).
        num_overlays: validation overlay pictures per set and epoch for loggers that take images
            (runs: the config's num_overlays).
        sam_baseline: also score plain SAM (the decoder without the HQ token, same embedding) in
            validation: `val_results_sam`, logged as val/<set>/sam_mIoU and sam_mBIoU. Where the
            policy changes SAM's decoder only (hq+decoder, LoRA on decoder layers), that is the
            fine-tuned SAM, and the untouched base is scored too, from the decoder's values at
            construction (evaluation/baseline.py): `val_results_sam_base`, val/<set>/sam_base_*.
        prompts: the data.prompts record; its correction_clicks (0: off, the official recipe) and
            mask_feedback_prob set the correction-click rounds (correction.py). None: the record
            of config["data"]["prompts"] (what train.py passes), else the defaults (off).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: str = "epoch",
        loss: nn.Module | None = None,
        val_names: Sequence[str] = (),
        provenance: Provenance | None = None,
        config: dict | None = None,
        seed: int | None = None,
        num_overlays: int = 0,
        dilation_ratio: float = BOUNDARY_DILATION_RATIO,
        sam_baseline: bool = True,
        prompts: PromptConfig | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss if loss is not None else PointSampledMaskLoss()
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.provenance = provenance or Provenance()
        self.policy = as_policy(self.provenance.policy_settings or self.provenance.policy)
        self.config = config
        self.seed = seed
        self.num_overlays = num_overlays
        self.prompts = prompts if prompts is not None else _prompt_config(config)
        self.val_metrics = DatasetMetrics(val_names, dilation_ratio=dilation_ratio)
        self.sam_metrics = DatasetMetrics(val_names, dilation_ratio=dilation_ratio) if sam_baseline else None
        # a plain attribute, not a buffer: never in checkpoints, moved to the device per decode
        self.base_state = base_decoder_state(model, self.policy) if sam_baseline else None
        self.base_metrics = (
            DatasetMetrics(val_names, dilation_ratio=dilation_ratio) if self.base_state else None
        )
        self.val_results_sam_base: dict[str, dict[str, float]] = {}
        self.val_results: dict[str, dict[str, float]] = {}
        self.val_results_sam: dict[str, dict[str, float]] = {}
        self.val_results_step: int | None = None
        self.val_failure: Exception | None = None  # a validation batch that failed to load
        self.strict_loading = False  # checkpoints hold the trained parameters only
        self.save_hyperparameters({PROVENANCE_KEY: self.provenance.to_dict(), "config": config})
        check_policy_applied(self.model, self.policy)

    # ---- modes and setup -------------------------------------------------------------------
    def train(self, mode: bool = True):
        """Frozen parts always stay in eval mode; only the trained modules follow `mode`."""
        super().train(mode)
        self.model.eval()
        if mode:
            for module in trained_modules(self.model, self.policy):
                module.train()
        return self

    def setup(self, stage: str) -> None:
        check_policy_applied(self.model, self.policy)
        if stage == "fit" and self.seed is not None:
            # the run's seed (every process's sampler reads it), then each process's own draws
            L.seed_everything(self.seed, workers=True, verbose=False)
            if self.global_rank:
                seed_this_process(self.seed + self.global_rank)

    def configure_optimizers(self):
        check_policy_applied(self.model, self.policy)  # requires_grad == the policy
        optimizer = scale_group_lrs(self.optimizer_factory(parameter_groups(self.model, self.policy)))
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": self.scheduler_interval},
        }

    # ---- training ----------------------------------------------------------------------------
    def training_step(self, batch: dict | LoadFailure, batch_idx: int) -> torch.Tensor:
        if isinstance(batch, LoadFailure):  # the others learn of it in check_loss
            stop_at_failed_batch(self.trainer, batch.error, self.device)
        # from the embedding cache when the batch carries features (data.cache), else the encoder
        features = image_features(self.model, batch, grad=encoder_needs_grad(self.policy))
        low_res, _ = decode_prompts(self.model, features, batch, hq_token_only=True)
        target = batch["mask"] / 255.0
        losses = self.loss_fn(low_res, target)
        if self.prompts.correction_clicks > 0:  # the first prompt's loss, then every round's
            rounds = correction_rounds(
                self.model, features, batch, low_res,
                rounds=self.prompts.correction_clicks,
                mask_feedback_prob=self.prompts.mask_feedback_prob,
            )
            losses = mean_losses([losses, *(self.loss_fn(r, target) for r in rounds)])
        size = batch["mask"].shape[0]
        self.log("train/loss", losses["loss"], prog_bar=True, batch_size=size)
        self.log_dict({f"train/{k}": v for k, v in losses.items() if k != "loss"}, batch_size=size)
        return losses["loss"]

    def on_before_backward(self, loss: torch.Tensor) -> None:
        check_loss(self.trainer, loss)  # a diverged run stops here, in one line

    def on_before_optimizer_step(self, optimizer) -> None:
        check_gradients(self.trainer, self.model, optimizer)

    # ---- validation ----------------------------------------------------------------------------
    def validation_step(
        self, batch: dict | LoadFailure | EmptiedBatch, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if isinstance(batch, LoadFailure):  # said at the validation's end, where all meet
            self.val_failure = self.val_failure or batch.error
            return
        if isinstance(batch, EmptiedBatch):  # every sample skipped (DDP): nothing to score
            return
        predicted = predict_batch(
            self.model, batch, prompt=None, hq_token_only=True,
            sam_baseline=self.sam_metrics is not None, base_state=self.base_state,
        )
        logits = predicted["hq"]
        self.val_metrics.update(batch["dataset"], logits, batch["gt_original"])
        if self.sam_metrics is not None:
            self.sam_metrics.update(batch["dataset"], predicted["sam"], batch["gt_original"])
        if self.base_metrics is not None:
            self.base_metrics.update(batch["dataset"], predicted["sam_base"], batch["gt_original"])
        if batch_idx == 0 and not self.trainer.sanity_checking:
            self._log_overlays(batch, logits)

    def on_validation_epoch_end(self) -> None:
        failure, self.val_failure = self.val_failure, None
        stop_together_on_failure(self.trainer, failure)  # before the metrics' collectives
        results = self.val_metrics.compute()
        self.val_metrics.reset()
        sam, base = {}, {}
        if self.sam_metrics is not None:
            sam = self.sam_metrics.compute()
            self.sam_metrics.reset()
        if self.base_metrics is not None:
            base = self.base_metrics.compute()
            self.base_metrics.reset()
        if self.trainer.sanity_checking or not results:
            return
        self.val_results, self.val_results_step = results, self.global_step
        self.val_results_sam, self.val_results_sam_base = sam, base
        for name, values in results.items():
            for key in ("mIoU", "mBIoU"):
                self.log(f"val/{name}/{key}", values[key], sync_dist=False)
                for prefix, extra in (("sam_", sam), ("sam_base_", base)):
                    if name in extra:
                        self.log(f"val/{name}/{prefix}{key}", extra[name][key], sync_dist=False)
        # the mean of the per-set means (what the paper reports over the 4 HQ sets)
        mean = mean_over_sets(results)
        for key in ("mIoU", "mBIoU"):
            self.log(f"val/{key}", mean[key], prog_bar=True)

    def _log_overlays(self, batch: dict, logits: list[torch.Tensor]) -> None:
        if not self.trainer.is_global_zero or self.num_overlays <= 0:
            return
        image_loggers = [lg for lg in self.loggers if _takes_images(lg)]
        if not image_loggers:
            return
        for i in range(min(self.num_overlays, len(logits))):
            h, w = batch["input_size"][i]
            picture = overlay(
                batch["image"][i, :, :h, :w], logits[i], batch["gt_original"][i]
            ).cpu()
            tag = f"val_overlay/{batch['dataset'][i]}/{i}"
            for lg in image_loggers:
                if hasattr(lg.experiment, "add_image"):  # TensorBoard
                    lg.experiment.add_image(tag, picture, self.global_step)
                else:  # wandb
                    lg.log_image(
                        key=tag, images=[picture.permute(1, 2, 0).numpy()], step=self.global_step
                    )

    # ---- checkpoints -------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        trained = checkpoint_keys(self.model, self.policy)
        checkpoint[STATE_KEY] = {k: v for k, v in checkpoint[STATE_KEY].items() if k in trained}
        # on every process (the weights are the same on all): under DDP they refuse together
        check_finite_weights(
            checkpoint, when=f"at epoch {self.current_epoch}, step {self.global_step}"
        )
        checkpoint[PROVENANCE_KEY] = self.provenance.to_dict()
        checkpoint["config"] = self.config
        checkpoint["rng_states"] = gather_rng_states()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        meta, ours = provenance_of(checkpoint), self.provenance
        if meta.variant not in (None, ours.variant):
            raise CheckpointError(
                f"the checkpoint trained a {meta.variant} model but this run builds "
                f"{ours.variant}: use model={meta.variant}"
            )
        if meta.policy != ours.policy:
            raise CheckpointError(
                f"the checkpoint was trained with model.policy={meta.policy} but this run uses "
                f"{ours.policy}: resume with model.policy={meta.policy}, or start a new run"
            )
        if meta.base_sha256 and ours.base_sha256 not in (None, meta.base_sha256):
            raise CheckpointError(
                f"the checkpoint was trained on the base {meta.base_checkpoint} (sha256 "
                f"{meta.base_sha256[:12]}...) but model.checkpoint={ours.base_checkpoint} "
                "differs: give the same base file"
            )
        if meta.seed is not None and ours.seed not in (None, meta.seed):
            raise CheckpointError(
                f"the checkpoint was trained on the random backbone of seed {meta.seed} but this "
                f"run builds seed {ours.seed}: set model.seed={meta.seed}"
            )
        expected = checkpoint_keys(self.model, self.policy)
        found = set(checkpoint[STATE_KEY])
        if found != expected:
            raise CheckpointError(
                f"the checkpoint's state_dict does not hold exactly the parameters policy {ours.policy} trains "
                f"(missing {sorted(expected - found)[:3]}, unexpected {sorted(found - expected)[:3]})"
            )
        states = checkpoint.get("rng_states")
        if states:
            attached = self._trainer is not None
            restore_own_rng_states(states, self.global_rank if attached else 0,
                                   self.trainer.world_size if attached else 1)


def _prompt_config(config: dict | None) -> PromptConfig:
    """The data.prompts record of a resolved run config; the defaults without one."""
    prompts = ((config or {}).get("data") or {}).get("prompts")
    return PromptConfig(**prompts) if prompts else PromptConfig()


def _takes_images(logger) -> bool:
    name = type(logger).__name__
    return name == "WandbLogger" or (
        name == "TensorBoardLogger" and hasattr(logger.experiment, "add_image")
    )
