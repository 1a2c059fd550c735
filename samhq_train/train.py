"""train(cfg) -> (metrics, objects): build everything from a composed config, train, export.

Wiring only, top to bottom: check the inputs, build the data, the model, the LightningModule and
the trainer, fit, export, report. The pieces live where their subject does: the model from the
config in model_from_config.py, loggers and callbacks in run/callbacks.py, interrupts in
training/interrupt.py and the resume command in training/resume.py, the results table and the
end-of-run exports in run/outputs.py, stale temporaries in run/temporaries.py. `samhq-train` /
`python train.py` (samhq_train/cli/train.py) is `@hydra.main` around this function, so tests
call it directly with a config composed from conf/train.yaml.
"""

import logging
import time
import warnings
from pathlib import Path

import hydra
import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from samhq_train.cache.build import BuildEmbeddingCache, cache_from_config
from samhq_train.config_check import (
    ConfigError,
    SetupError,
    check_training_images,
    check_validation_sets,
    policy_from_config,
)
from samhq_train.data.datamodule import build_datamodule
from samhq_train.model import variant_config
from samhq_train.model_from_config import build_model_from_config
from samhq_train.run.callbacks import (
    RequireValidationResults,
    build_callbacks,
    build_loggers,
    quiet_lightning_notices,
)
from samhq_train.run.checks import check_inputs, check_model_source
from samhq_train.run.outputs import (
    export_hint,
    print_results,
    report_run_end,
    try_export_run,
)
from samhq_train.run.temporaries import remove_stale_temporaries
from samhq_train.training.checkpointing import (
    AtomicCheckpointIO,
    stop_together_on_failed_writes,
)
from samhq_train.training.concept.run import train_concept
from samhq_train.training.ddp_settings import ddp_settings_for
from samhq_train.training.interrupt import INTERRUPT_CHECKPOINT, CheckpointOnInterrupt
from samhq_train.training.losses import PointSampledMaskLoss
from samhq_train.training.module import SamHQModule
from samhq_train.training.resume import (
    last_checkpoint,
    reporting_full_disk,
    reporting_interrupts,
)
from samhq_train.training.video.run import train_video

log = logging.getLogger(__name__)
# frozen parts are in eval mode on purpose (SamHQModule.train)
warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")


__all__ = ["ConfigError", "SetupError", "build_loggers", "build_model", "check_inputs", "train"]


def build_model(model_cfg) -> tuple:
    """(model, Provenance) of a training run from the `model` config group: an official
    checkpoint, or the seeded random backbone when the config gives `seed` and no checkpoint."""
    check_model_source(model_cfg)
    loaded = build_model_from_config(model_cfg, policy_from_config(model_cfg))
    return loaded.model, loaded.provenance


def build_data(cfg):
    """(datamodule, whether the run validates). The data is set up on rank 0 first (the demo
    data is generated there) and each validation set is read up to a usable sample, so that a
    wrong data root fails before a large checkpoint is read and hashed."""
    image_size = variant_config(cfg.model.variant).image_size
    datamodule = build_datamodule(cfg.data, image_size=image_size)
    has_val = bool(datamodule.val_names) and cfg.trainer.get("limit_val_batches") != 0
    if rank_zero_only.rank == 0:  # ranks > 0 set up again under the trainer
        datamodule.setup("fit")
        check_training_images(datamodule)
        if has_val:
            check_validation_sets(datamodule)
        else:
            why = (
                "data.val_sets is empty"
                if not datamodule.val_names
                else "trainer.limit_val_batches=0"
            )
            log.warning(
                "no validation (%s): no val metrics and no best checkpoint, only last.ckpt", why
            )
    return datamodule, has_val


def use_embedding_cache(cfg, datamodule, model, provenance):
    """With data.cache.enabled the frozen encoder's features come from disk (samhq_train/cache):
    the cache, which the datamodule now serves, else None."""
    if not (cfg.data.get("cache") or {}).get("enabled"):
        return None
    progress = bool(cfg.trainer.get("enable_progress_bar", True))
    cache = cache_from_config(cfg.data.cache, model, provenance, progress=progress)
    datamodule.use_cache(cache)
    return cache


def optimizer_factories(cfg) -> tuple:
    """The optimizer's and the scheduler's (None without one) partial constructors from the
    config, with plain Python values: an OmegaConf list (optimizer.betas) would be kept as is in
    the optimizer's state by torch < 2.6 and make the checkpoints unloadable with
    torch.load(weights_only=True)."""
    scheduler = cfg.get("scheduler")
    return (
        hydra.utils.instantiate(cfg.optimizer, _convert_="all"),
        hydra.utils.instantiate(scheduler, _convert_="all") if scheduler else None,
    )


def build_module(cfg, model, provenance, val_names) -> SamHQModule:
    optimizer, scheduler = optimizer_factories(cfg)
    return SamHQModule(
        model,
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_interval=cfg.get("scheduler_interval", "epoch"),
        loss=PointSampledMaskLoss(**cfg.loss),
        val_names=val_names,
        provenance=provenance,
        config=OmegaConf.to_container(cfg, resolve=True),
        seed=cfg.seed,
        num_overlays=cfg.get("num_overlays", 2),
        dilation_ratio=cfg.metrics.dilation_ratio,
    )


def fit_and_validate(
    cfg, trainer: L.Trainer, module: SamHQModule, datamodule, has_val, stop: CheckpointOnInterrupt
) -> dict:
    """Validate the untrained HQ parts (validate_before_training), fit (train=true) or validate
    the checkpoint ckpt_path (train=false), validate the final weights unless the last epoch
    did. Returns the validation results: "before", "after", "sam" (SAM without the HQ token, as
    the run left it) and, after a policy that changed SAM, "sam_base" (the untouched base: from
    the kept decoder, else from the validation before training). `stop` is told which
    validation runs (an interrupted run's report names it)."""
    ckpt_path = cfg.get("ckpt_path")
    results: dict = {}
    quick = trainer.fast_dev_run
    if has_val and cfg.get("validate_before_training") and not ckpt_path and not quick:
        stop.validation_label = "the validation before training"
        trainer.validate(module, datamodule=datamodule, verbose=False)
        results["before"] = module.val_results
        if module.policy.name != "hq" and module.val_results_sam:
            results["sam_base"] = module.val_results_sam  # SAM before anything of it trained
    if cfg.get("train", True):
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    elif ckpt_path and has_val:
        stop.validation_label = f"the validation of {ckpt_path}"
        trainer.validate(module, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False)
    if has_val and module.val_results_step != module.global_step and not quick:
        stop.validation_label = "the validation of the final weights"
        trainer.validate(module, datamodule=datamodule, verbose=False)
    if module.val_results:
        results["after"] = module.val_results
        if module.val_results_sam:
            results["sam"] = module.val_results_sam
        if module.val_results_sam_base:
            results["sam_base"] = module.val_results_sam_base
    return results


def train(cfg: DictConfig, checked: bool = False, listed: dict | None = None) -> tuple[dict, dict]:
    """Train per `cfg` (conf/train.yaml). Returns (metrics, objects).

    metrics: "before" / "after" / "sam" validation results per set, and the trainer's last
    logged values. objects: cfg, model, module, datamodule, trainer, exports (paths of the
    exported files). Bad input found before training (config, checkpoints, data root, outputs)
    raises a UserError, as does a failed end-of-run export (after the results and the
    checkpoints' folder are printed). SIGINT / SIGTERM stop the run within seconds: in training
    or an in-fit validation with checkpoints/interrupted.ckpt; the report names what stopped,
    what was saved and the command that resumes into the same run folder; exit 130 / 143
    (training/interrupt.py, training/resume.py). train=false writes no exports. checked: the
    caller ran run/checks.py's check_inputs(cfg) already (samhq-train does, before importing
    this module); else train runs it first. listed: what that check_inputs returned (a video
    run's listed roots, which its loaders take rather than list them again).
    """
    started = time.time()
    if not checked:
        listed = check_inputs(cfg)
    if cfg.get("video") is not None:  # experiment=video_finetune: training/video/run.py
        return train_video(cfg, build_loggers, checked=True, listed=listed)
    if cfg.get("concept") is not None:  # experiment=concept_finetune: training/concept/run.py
        return train_concept(cfg, build_loggers, checked=True)
    output_dir = Path(cfg.paths.output_dir)
    remove_stale_temporaries(cfg, started)
    cached = bool((cfg.data.get("cache") or {}).get("enabled"))
    checkpoint = output_dir / "checkpoints" / INTERRUPT_CHECKPOINT
    stop = CheckpointOnInterrupt(checkpoint, builds_cache=cached)
    with reporting_interrupts(stop, resumed_from=cfg.get("ckpt_path")):
        L.seed_everything(cfg.seed, workers=True, verbose=False)  # a refusal below: one line
        torch.set_float32_matmul_precision(cfg.get("float32_matmul_precision", "highest"))
        datamodule, has_val = build_data(cfg)
        loggers = build_loggers(cfg)
        policy = policy_from_config(cfg.model)
        model, _, provenance = build_model_from_config(cfg.model, policy)
        cache = use_embedding_cache(cfg, datamodule, model, provenance)
        module = build_module(cfg, model, provenance, datamodule.val_names)

        callbacks = [stop, *build_callbacks(cfg, has_val)]  # stop first: see its docstring
        if cache is not None:
            callbacks.append(BuildEmbeddingCache(cache))  # missing entries, before any batch
        if has_val:
            callbacks.append(RequireValidationResults(datamodule.val_names))
        with quiet_lightning_notices():
            trainer: L.Trainer = hydra.utils.instantiate(
                ddp_settings_for(cfg.trainer, policy),
                callbacks=callbacks,
                logger=loggers or False,
                plugins=[AtomicCheckpointIO()],
            )
            stop_together_on_failed_writes(trainer.strategy)
            with reporting_full_disk(trainer, resumed_from=cfg.get("ckpt_path")):
                metrics = fit_and_validate(cfg, trainer, module, datamodule, has_val, stop)

        exports, export_error = {}, None
        last = last_checkpoint(trainer, cfg.get("ckpt_path"))
        if cfg.get("export") and cfg.get("train", True) and trainer.is_global_zero:
            stop.phase, stop.next_step = "the end-of-run export", export_hint(last, module.policy)
            exports, export_error = try_export_run(
                module.model, output_dir / "export", module.policy
            )
    metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    print_results(metrics, module.policy)
    if trainer.is_global_zero:
        report_run_end(output_dir, last, exports, export_error, module.policy, started)
    objects = {
        "cfg": cfg,
        "model": module.model,
        "module": module,
        "datamodule": datamodule,
        "trainer": trainer,
        "exports": exports,
    }
    return metrics, objects
