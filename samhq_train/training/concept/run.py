"""train_concept(cfg): fine-tune SAM 3's concept detector (experiment=concept_finetune); wiring.

The config's `model` group gives the SAM 3 / HQ-SAM 3 weights (a file with the detector: Meta's
sam3.pt or a full export made from it), `data` (data=coco_concept) the COCO-format sets,
`concept` the policy, the BPE merges file, the loss and the optimiser settings (the recipe's by
default). Every key is checked in one line before the model is read. The run writes
checkpoints/last.ckpt every epoch (trainer.fit resumes from ckpt_path) and, with a validation
set, checkpoints/best.ckpt by val/box_AP, as image training writes its checkpoints
(training/checkpointing.py): atomically (a crash or a full disk leaves the previous file whole),
weights with a NaN or inf refused, and under DDP every process learns how rank 0's write went
(all stop at that step, one line each; a full disk's line names the resume command). At the end
export/<variant>_concept.pt, the whole model in Meta's layout, which samhq-video --text,
samhq-concept and samhq-evaluate coco.prompts=concept load.

A SAM 3 file without the detector (an image-only HQ-SAM 3 export, the demo miniature) is
refused, or with concept.init_missing_detector=true gets a fresh detector (said in the log).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path

import hydra
import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger
from omegaconf import OmegaConf

from samhq_train.cache.build import BuildEmbeddingCache
from samhq_train.cache.concept import ConceptTrunkCache, trunk_cache_from_config
from samhq_train.clip_tokenizer import ClipTokenizer
from samhq_train.concept_settings import ConceptOptimSettings, ConceptPolicy
from samhq_train.constants import SAM3_DETECTOR_FILES
from samhq_train.errors import ConfigValueError
from samhq_train.model import TrainablePolicy, variant_config
from samhq_train.model.formats import holds_trained_hq, taking_families
from samhq_train.model.sam3.family import add_fresh_detector
from samhq_train.model_from_config import absolute_path, build_model_from_config
from samhq_train.training.checkpointing import (
    AtomicCheckpointIO,
    export_whole_model,
    last_and_best,
    stop_together_on_failed_writes,
)
from samhq_train.training.ddp_settings import ddp_settings_for
from samhq_train.training.export_names import concept_export_name
from samhq_train.training.interrupt import INTERRUPT_CHECKPOINT, CheckpointOnInterrupt
from samhq_train.training.resume import reporting_full_disk, reporting_interrupts
from samhq_train.training.run_families import CONCEPT_RUN_FAMILIES, CONCEPT_RUN_NEEDS

from .config_checks import check_concept_config, concept_settings
from .loaders import (
    concept_loaders,
    data_files,
    share_size,
    val_exemplars,
    write_concept_demo,
)
from .loss import ConceptLossSettings
from .module import ConceptTrainModule, trunk_maps
from .optimizer import lightning_clipping

log = logging.getLogger(__name__)


def concept_run_settings(cfg) -> tuple[ConceptPolicy, ConceptOptimSettings, ConceptLossSettings,
                                         ClipTokenizer]:
    """(policy, optim, loss, tokenizer) of the `concept` group, as check_concept_config checked
    them; the demo is written first (its merges file is the demo's concept.bpe)."""
    policy, optim, with_masks = concept_settings(cfg)
    write_concept_demo(cfg.data)
    concept = variant_config(cfg.model.variant).concept
    tokenizer = ClipTokenizer(absolute_path(cfg.concept.bpe), concept.context_length,
                              concept.vocab_size)
    return policy, optim, ConceptLossSettings(with_masks=with_masks), tokenizer


def build_concept_model(cfg):
    """The model of model.checkpoint, every part trainable; a SAM / SAM 2 file is refused as
    what it is (the loader's hint, another model=, would not train a concept detector)."""
    with taking_families(CONCEPT_RUN_FAMILIES, "model.checkpoint", CONCEPT_RUN_NEEDS):
        return build_model_from_config(cfg.model, TrainablePolicy(name="full"))


def has_detector(model) -> bool:
    return any(k.startswith("detector.transformer.decoder.") for k in model.state_dict())


def ensure_detector(model, cfg) -> None:
    """A SAM 3 model without the detector's tensors: refused, or with
    concept.init_missing_detector a fresh detector (said in the log)."""
    if has_detector(model):
        return
    source = cfg.model.get("checkpoint") or f"the random model (model.seed={cfg.model.seed})"
    if not cfg.concept.get("init_missing_detector"):
        raise ConfigValueError(
            f"model.checkpoint={source}: this SAM 3 model has no concept detector: use "
            f"{SAM3_DETECTOR_FILES}, or start a fresh detector with "
            "concept.init_missing_detector=true")
    add_fresh_detector(model, int(cfg.seed))
    log.info("model: %s has no concept detector; a fresh one starts (seed %s)", source, cfg.seed)


def optimizer_steps_per_epoch(trainer_cfg, train_loader, world_size: int) -> int:
    """Optimiser steps in one epoch of this process (the schedule's unit), as Lightning counts
    them: the loader's batches per process, limit_train_batches, gradient accumulation."""
    per_process = share_size(len(train_loader.dataset), world_size)  # loaders.ProcessShare
    batches = per_process // train_loader.batch_size  # drop_last
    limit = trainer_cfg.get("limit_train_batches")
    if isinstance(limit, float):
        batches = int(batches * limit)
    elif isinstance(limit, int) and not isinstance(limit, bool):
        batches = min(batches, limit)
    return max(math.ceil(batches / int(trainer_cfg.get("accumulate_grad_batches") or 1)), 1)


def check_shares(train_loader, val_loader, processes: int) -> None:
    """Every process needs a training batch each step and a validation item (a process without
    one would skip the loop that the others' collectives wait in): one line otherwise."""
    items, batch = len(train_loader.dataset), train_loader.batch_size
    if share_size(items, processes) < batch:
        raise ConfigValueError(
            f"the training set has {items} datapoints, fewer than data.batch_size={batch} for "
            f"each of the {processes} processes of this run: add images, lower "
            "data.batch_size or run fewer processes (trainer.devices x trainer.num_nodes)")
    if val_loader is not None and len(val_loader.dataset) < processes:
        items = len(val_loader.dataset)
        raise ConfigValueError(
            f"the validation set has {items} datapoints (image x category chunk), fewer than "
            f"the {processes} processes of this run, each of which validates its own share: "
            "add validation images, lower data.val_categories_per_datapoint or run at most "
            f"{items} processes (trainer.devices x trainer.num_nodes)")


def use_trunk_cache(cfg, loaded, train_loader, val_loader) -> ConceptTrunkCache:
    """The trunk-map cache of data.cache for the loaded model, its entries planned for both
    loaders' images (and views), whose samples now carry their maps; built in setup."""
    progress = bool(cfg.trainer.get("enable_progress_bar", True))
    cache = trunk_cache_from_config(cfg.data.cache, loaded.model, loaded.provenance,
                                    encode=trunk_maps, progress=progress)
    for loader in (train_loader, val_loader):
        if loader is not None:
            cache.plan(loader.dataset)
    return cache


def train_concept(cfg, build_loggers: Callable[[object], list] | None = None,
                  checked: bool = False) -> tuple[dict, dict]:
    """Train per cfg (experiment=concept_finetune); (metrics, objects) as train() returns.
    build_loggers: the run's loggers from cfg (train() passes the `logger` group's builder);
    without it a CSV log under logs/. SIGINT / SIGTERM stop the run as they stop image training
    (checkpoints/interrupted.ckpt, the resume command; training/interrupt.py, resume.py).
    checked: check_concept_config(cfg) ran already (run/checks.py's check_inputs runs it)."""
    if not checked:
        check_concept_config(cfg)
    policy, optim, loss, tokenizer = concept_run_settings(cfg)
    output_dir = Path(cfg.paths.output_dir)
    cached = bool((cfg.data.get("cache") or {}).get("enabled"))
    stop = CheckpointOnInterrupt(output_dir / "checkpoints" / INTERRUPT_CHECKPOINT,
                                 builds_cache=cached)
    resumed_from = absolute_path(cfg.get("ckpt_path"))
    with reporting_interrupts(stop, resumed_from):
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        torch.set_float32_matmul_precision(cfg.get("float32_matmul_precision", "highest"))
        image_size = variant_config(cfg.model.variant).image_size
        files = data_files(cfg.data)
        train_loader, val_loader = concept_loaders(cfg.data, image_size, loss.with_masks, files)
        if val_loader is None:
            log.warning("no validation set (no %s/%s/ and no data.val_annotation_file): no val "
                        "metrics and no best checkpoint, only last.ckpt",
                        cfg.data.get("root"), cfg.data.get("val_split"))
        loaded = build_concept_model(cfg)
        ensure_detector(loaded.model, cfg)
        loggers = build_loggers(cfg) if build_loggers else [CSVLogger(output_dir, name="logs")]
        val_json = files.val_annotation_file if val_loader is not None else None
        module = ConceptTrainModule(loaded.model, policy=policy, tokenizer=tokenizer, loss=loss,
                                    optim=optim, val_annotation_file=val_json,
                                    val_exemplars=val_exemplars(cfg.data))
        # no policy trains the HQ parts: trained ones are the start file's
        trained_hq = holds_trained_hq(loaded.format, loaded.provenance)
        callbacks = [stop, *last_and_best(output_dir / "checkpoints",  # stop first: its doc
                                          "val/box_AP" if val_loader is not None else None,
                                          trained_hq)]
        if cached:  # policy detector (checked): trunk maps
            callbacks.append(BuildEmbeddingCache(use_trunk_cache(cfg, loaded, train_loader,
                                                                 val_loader)))
        # model.grad_checkpointing: the trunk's blocks (configure_encoder) and the detector's
        module.detector.grad_checkpointing = bool(cfg.model.get("grad_checkpointing"))
        trainer: L.Trainer = hydra.utils.instantiate(
            ddp_settings_for(cfg.trainer, "full"),  # no policy reaches every parameter each step
            callbacks=callbacks,
            logger=loggers or False, plugins=[AtomicCheckpointIO()], **lightning_clipping(optim),
        )
        stop_together_on_failed_writes(trainer.strategy)  # rank 0 writes; all learn how it went
        train_loader.follow(trainer)  # its epoch and batches done: a mid-epoch resume is exact
        check_shares(train_loader, val_loader, trainer.world_size)
        module.steps_per_epoch = optimizer_steps_per_epoch(cfg.trainer, train_loader,
                                                           trainer.world_size)
        metrics = fit_concept(cfg, trainer, module, train_loader, val_loader, stop)
        exported = None
        if cfg.get("export") and trainer.is_global_zero:
            stop.phase = "the end-of-run export"
            exported = export_whole_model(module.model,
                                          output_dir / "export" / concept_export_name(cfg),
                                          trained_hq)
            log.info("exported %s", exported)
    for when, values in metrics.items():
        log.info("val %s: %s", when, ", ".join(f"{k} {v:.4f}" for k, v in values.items()))
    objects = {"cfg": cfg, "model": module.model, "module": module, "trainer": trainer,
               "exports": {"model": exported} if exported else {},
               "config": OmegaConf.to_container(cfg, resolve=True)}
    return metrics, objects


def fit_concept(cfg, trainer: L.Trainer, module: ConceptTrainModule, train_loader, val_loader,
                stop: CheckpointOnInterrupt) -> dict:
    """Validate before training (validate_before_training, not when resuming), fit, validate the
    final weights when the last epoch did not; the "before" / "after" results. `stop` is told
    which validation runs (an interrupted run's report names it)."""
    metrics: dict = {}
    if val_loader is not None and cfg.get("validate_before_training") and not cfg.get("ckpt_path"):
        stop.validation_label = "the validation before training"
        trainer.validate(module, val_loader, verbose=False)
        metrics["before"] = dict(module.val_results)
    resumed_from = absolute_path(cfg.get("ckpt_path"))
    with reporting_full_disk(trainer, resumed_from):  # a full disk: the resume command too
        trainer.fit(module, train_loader, val_loader, ckpt_path=resumed_from)
    if val_loader is not None and module.val_results_step != trainer.global_step:
        stop.validation_label = "the validation of the final weights"
        trainer.validate(module, val_loader, verbose=False)  # the final weights, not yet scored
    if module.val_results:
        metrics["after"] = dict(module.val_results)
    return metrics
