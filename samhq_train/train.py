"""train(cfg) -> (metrics, objects): build everything from a composed config, train, export.

The top-level train.py is only `@hydra.main` around this function, so tests call it directly
with a config composed from conf/train.yaml.
"""

import importlib.util
import logging
import time
import warnings
from pathlib import Path

import hydra
import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from samhq_train.data import DataError, build_datamodule
from samhq_train.evaluation.evaluate import mean_over_sets
from samhq_train.inference.export import export_model
from samhq_train.model import (
    CheckpointError,
    Provenance,
    build_sam_hq,
    file_sha256,
    variant_config,
)
from samhq_train.training.checkpointing import AtomicCheckpointIO
from samhq_train.training.losses import PointSampledMaskLoss
from samhq_train.training.module import SamHQModule

log = logging.getLogger(__name__)
# frozen parts are in eval mode on purpose (SamHQModule.train)
warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")

# the official SAM checkpoints that training starts from (RECIPE.md)
OFFICIAL_SAM_FILES = {
    "vit_b": "sam_vit_b_01ec64.pth",
    "vit_l": "sam_vit_l_0b3195.pth",
    "vit_h": "sam_vit_h_4b8939.pth",
    "vit_tiny": "mobile_sam.pt",  # Light HQ-SAM trains on MobileSAM's TinyViT
}
END_OF_RUN_EXPORTS = ("hq_only", "sam_hq")
LOGGER_PACKAGES = {
    "TensorBoardLogger": ("tensorboard", "tensorboard"),
    "WandbLogger": ("wandb", "wandb"),
}


class SetupError(RuntimeError):
    """Bad configuration or input found before training starts; the message says what to fix."""


def build_model(model_cfg) -> tuple:
    """(model, Provenance) from the `model` config group: an official checkpoint, or the
    seeded random backbone when the config gives `seed` and no checkpoint (the demo)."""
    variant = model_cfg.variant
    checkpoint = model_cfg.get("checkpoint")
    seed = model_cfg.get("seed")
    policy = model_cfg.get("policy", "hq")
    if checkpoint is None:
        if seed is None:
            wanted = OFFICIAL_SAM_FILES.get(variant, "an official SAM checkpoint")
            raise SetupError(
                f"model={variant} needs its SAM weights: pass model.checkpoint=/path/to/{wanted}"
            )
        model = build_sam_hq(variant, seed=int(seed), policy=policy)
        return model, Provenance(variant=variant, seed=int(seed), policy=policy)
    path = Path(hydra.utils.to_absolute_path(str(checkpoint)))
    if not path.exists():
        raise SetupError(
            f"model.checkpoint not found: {path} (give the path of the official SAM file)"
        )
    try:
        model = build_sam_hq(variant, checkpoint=str(path), policy=policy)
    except CheckpointError as err:
        raise SetupError(str(err)) from None
    return model, Provenance(
        variant=variant, base_checkpoint=str(path), base_sha256=file_sha256(path), policy=policy
    )


def build_loggers(cfg) -> list:
    loggers = []
    for name, logger_cfg in (cfg.get("logger") or {}).items():
        if not logger_cfg or "_target_" not in logger_cfg:
            continue
        cls = logger_cfg._target_.rsplit(".", 1)[-1]
        module, extra = LOGGER_PACKAGES.get(cls, (None, None))
        if module and importlib.util.find_spec(module) is None:
            raise SetupError(f"logger={name} needs the {module} package: pip install '.[{extra}]'")
        loggers.append(hydra.utils.instantiate(logger_cfg))
    return loggers


def build_callbacks(cfg, has_val: bool) -> list:
    """The configured callbacks; those monitoring a val/ metric are left out when nothing is validated."""
    return [
        hydra.utils.instantiate(c)
        for c in (cfg.get("callbacks") or {}).values()
        if c and "_target_" in c and (has_val or not str(c.get("monitor") or "").startswith("val/"))
    ]


def _summary(results: dict) -> dict:
    out = {f"{name}/{k}": v[k] for name, v in results.items() for k in ("mIoU", "mBIoU")}
    if results:
        mean = mean_over_sets(results)
        out.update(mIoU=mean["mIoU"], mBIoU=mean["mBIoU"])
    return out


@rank_zero_only
def _print_table(rows: dict[str, dict]) -> None:
    sets = list(next(iter(rows.values())).keys()) if rows else []
    if not sets:
        return
    print(f"\n{'validation':<18}" + "".join(f"{s + ' mIoU':>22}{s + ' mBIoU':>22}" for s in sets))
    for label, results in rows.items():
        print(
            f"{label:<18}"
            + "".join(f"{results[s]['mIoU']:>22.4f}{results[s]['mBIoU']:>22.4f}" for s in sets)
        )
    counts = ", ".join(f"{s}: {r['count']} images" for s, r in next(iter(rows.values())).items())
    print(f"({counts})\n")


def export(model, out_dir: Path) -> dict[str, str]:
    """The HQ-only safetensors and the merged official-format sam_hq_<variant>.pth, written and
    read back by the same export code as scripts/export.py."""
    paths = export_model(model, out_dir, END_OF_RUN_EXPORTS)
    return {k: str(v) for k, v in paths.items()}


def _variant_image_size(variant: str) -> int:
    try:
        return variant_config(variant).image_size
    except ValueError as err:
        raise SetupError(str(err)) from None


def train(cfg: DictConfig) -> tuple[dict, dict]:
    """Train per `cfg` (conf/train.yaml). Returns (metrics, objects).

    metrics: "before" / "after" validation results per set, and the trainer's last logged values.
    objects: cfg, model, module, datamodule, trainer, exports (paths of the exported files).
    Raises SetupError for bad input found before training (missing or wrong checkpoint, data root).
    """
    start = time.time()
    L.seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision(cfg.get("float32_matmul_precision", "highest"))
    output_dir = Path(cfg.paths.output_dir)
    try:
        # data first: a wrong data root fails at once, before a large checkpoint is read and hashed
        image_size = _variant_image_size(cfg.model.variant)
        datamodule = build_datamodule(cfg.data, image_size=image_size)
        if rank_zero_only.rank == 0:  # fail before any process starts; ranks > 0 rerun this
            datamodule.setup("fit")  # generates the demo data when configured
        loggers = build_loggers(cfg)
        model, provenance = build_model(cfg.model)
    except (CheckpointError, DataError) as err:
        raise SetupError(str(err)) from None

    module = SamHQModule(
        model,
        optimizer=hydra.utils.instantiate(cfg.optimizer),
        scheduler=hydra.utils.instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        scheduler_interval=cfg.get("scheduler_interval", "epoch"),
        loss=PointSampledMaskLoss(**cfg.loss),
        val_names=datamodule.val_names,
        provenance=provenance,
        config=OmegaConf.to_container(cfg, resolve=True),
        seed=cfg.seed,
        num_overlays=cfg.get("num_overlays", 2),
    )
    has_val = bool(datamodule.val_names) and cfg.trainer.get("limit_val_batches") != 0
    trainer: L.Trainer = hydra.utils.instantiate(
        cfg.trainer,
        callbacks=build_callbacks(cfg, has_val),
        logger=loggers or False,
        plugins=[AtomicCheckpointIO()],
    )
    ckpt_path = cfg.get("ckpt_path")
    metrics: dict = {}
    try:
        if (
            has_val
            and cfg.get("validate_before_training")
            and not ckpt_path
            and not trainer.fast_dev_run
        ):
            trainer.validate(module, datamodule=datamodule, verbose=False)
            metrics["before"] = module.val_results
        if cfg.get("train", True):
            trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        elif ckpt_path and has_val:  # train=false ckpt_path=...: validate a training checkpoint
            trainer.validate(module, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False)
        if has_val and module.val_results_step != module.global_step and not trainer.fast_dev_run:
            trainer.validate(module, datamodule=datamodule, verbose=False)
        if module.val_results:
            metrics["after"] = module.val_results
    except (CheckpointError, DataError) as err:
        raise SetupError(str(err)) from None

    exports = {}
    if cfg.get("export") and trainer.is_global_zero:
        exports = export(module.model, output_dir / "export")
    metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    if "before" in metrics or "after" in metrics:
        rows = {"before training": metrics.get("before"), "after training": metrics.get("after")}
        _print_table({k: v for k, v in rows.items() if v})
    if trainer.is_global_zero:
        log.info("outputs in %s (%.0f s)", output_dir, time.time() - start)
        for kind, path in exports.items():
            log.info("exported %s: %s", kind, path)
    objects = {
        "cfg": cfg,
        "model": module.model,
        "module": module,
        "datamodule": datamodule,
        "trainer": trainer,
        "exports": exports,
    }
    metrics["summary_before"] = _summary(metrics.get("before", {}))
    metrics["summary_after"] = _summary(metrics.get("after", {}))
    return metrics, objects
