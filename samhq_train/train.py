"""train(cfg) -> (metrics, objects): build everything from a composed config, train, export.

The top-level train.py is only `@hydra.main` around this function, so tests call it directly
with a config composed from conf/train.yaml.
"""

import importlib.util
import logging
import shlex
import sys
import time
import warnings
import zipfile
from pathlib import Path

import hydra
import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from samhq_train.cache import BuildEmbeddingCache, CacheError, cache_from_config
from samhq_train.config_check import (
    ConfigError,
    SetupError,
    check_config,
    check_validation_sets,
    no_usable_validation_sample,
    policy_from_config,
)
from samhq_train.data import DataError, build_datamodule
from samhq_train.evaluation.evaluate import mean_over_sets
from samhq_train.evaluation.report import results_tables
from samhq_train.inference.export import OutputError, check_output_dir, export_model, export_paths
from samhq_train.model import (
    CheckpointError,
    Provenance,
    TrainablePolicy,
    build_sam_hq,
    detect_format,
    file_sha256,
    set_attention_kernel,
    variant_config,
)
from samhq_train.model.checkpoints import TORCH_SUFFIXES, describe_read_error
from samhq_train.training.checkpointing import (
    AtomicCheckpointIO,
    CheckpointOnInterrupt,
    RunInterrupted,
    check_resume_checkpoint,
)
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
    # HQ-SAM 2 trains on Meta's SAM 2.1 (an official HQ-SAM 2 file exists for Hiera-L only)
    "sam2.1_hq_hiera_t": "sam2.1_hiera_tiny.pt",
    "sam2.1_hq_hiera_s": "sam2.1_hiera_small.pt",
    "sam2.1_hq_hiera_b+": "sam2.1_hiera_base_plus.pt",
    "sam2.1_hq_hiera_l": "sam2.1_hiera_large.pt",
    "sam3_hq": "sam3.pt",  # HQ-SAM 3 trains on Meta's SAM 3 (detector and tracker, one file)
    "sam3_hq_ef": "sam3.pt",  # the same, with HQ-SAM 1's early-feature fusion
}
LOGGER_PACKAGES = {
    "TensorBoardLogger": ("tensorboard", "tensorboard"),
    "WandbLogger": ("wandb", "wandb"),
}


__all__ = ["ConfigError", "SetupError", "build_model", "train"]
INTERRUPT_CHECKPOINT = "interrupted.ckpt"  # in checkpoints/, written when a signal stops training


def check_model_checkpoint(checkpoint) -> Path:
    """model.checkpoint as an absolute path, if it is weights that training can start from (a
    SAM or SAM-HQ file, not a training checkpoint or an HQ-only file); reads at most a header."""
    path = Path(hydra.utils.to_absolute_path(str(checkpoint)))
    wanted = "the official SAM (or a SAM-HQ) weights file training starts from"
    if not path.exists():
        raise SetupError(f"model.checkpoint not found: {path} (give the path of {wanted})")
    if path.is_dir() or path.suffix in TORCH_SUFFIXES:
        return path  # its format is in its keys: build_sam_hq reads it once
    is_training = path.suffix == ".ckpt"
    try:
        if is_training:
            content = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            is_training = isinstance(content, dict) and "state_dict" in content
            if not is_training:
                raise SetupError(
                    f"model.checkpoint={path} is named .ckpt but holds plain weights: rename it "
                    "to .pth"
                )
        kind = "lightning" if is_training else detect_format(path)
    except (CheckpointError, SetupError):
        raise
    except Exception as err:  # torch.load of a damaged file
        if not zipfile.is_zipfile(path):
            raise SetupError(
                f"model.checkpoint={path} cannot be read: {describe_read_error(path, err)}"
            ) from None
        kind = "lightning"  # a complete archive with Python objects in it: Lightning's
    if kind == "lightning":
        raise SetupError(
            f"model.checkpoint={path} is a training checkpoint: to continue that run pass "
            f"ckpt_path={path}; model.checkpoint takes {wanted}"
        )
    if kind == "hq_only":
        raise SetupError(
            f"model.checkpoint={path} holds only the HQ parameters: give {wanted} (an HQ-only "
            "file only makes a model together with its base)"
        )
    return path


def build_model(model_cfg) -> tuple:
    """(model, Provenance) from the `model` config group: an official checkpoint, or the
    seeded random backbone when the config gives `seed` and no checkpoint (the demo)."""
    model, provenance = _build_model(model_cfg)
    if model_cfg.get("grad_checkpointing"):  # every family's encoder has the switch
        model.image_encoder.grad_checkpointing = True
    set_attention_kernel(model.image_encoder, model_cfg.get("attention", "auto"))  # checked before
    if model_cfg.get("compile"):
        # in place: parameter names (checkpoints, exports) stay those of the plain module
        model.image_encoder.compile()
    return model, provenance


def _build_model(model_cfg) -> tuple:
    variant = model_cfg.variant
    checkpoint = model_cfg.get("checkpoint")
    seed = model_cfg.get("seed")
    policy = policy_from_config(model_cfg)
    if checkpoint is None:
        if seed is None:
            wanted = OFFICIAL_SAM_FILES.get(variant, "an official SAM checkpoint")
            raise SetupError(
                f"model={variant} needs its SAM weights: pass model.checkpoint=/path/to/{wanted}"
            )
        model = build_sam_hq(variant, seed=int(seed), policy=policy)
        return model, Provenance(
            variant=variant, seed=int(seed), policy=policy.name, policy_settings=policy.to_dict()
        )
    path = check_model_checkpoint(checkpoint)
    try:
        model = build_sam_hq(variant, checkpoint=str(path), policy=policy)
    except CheckpointError as err:
        raise SetupError(str(err)) from None
    return model, Provenance(
        variant=variant,
        base_checkpoint=str(path),
        base_sha256=file_sha256(path),
        policy=policy.name,
        policy_settings=policy.to_dict(),
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


class RequireValidationResults(L.Callback):
    """Stops the run, in one line, when a validation pass found no usable sample in a set (every
    sample skipped): training on silently without validation or best checkpoints is refused."""

    def __init__(self, val_names) -> None:
        self.val_names = list(val_names)

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        fresh = pl_module.val_results_step == trainer.global_step
        empty = [n for n in self.val_names if not fresh or n not in pl_module.val_results]
        if empty:
            raise SetupError(no_usable_validation_sample(empty))


def launch_overrides() -> list[str] | None:
    """The command-line overrides of this run under Hydra, else None (train() called directly)."""
    from hydra.core.hydra_config import HydraConfig

    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # HydraConfig was not set
        return None


def resume_command(ckpt: Path | str) -> str:
    """`python train.py <this run's overrides> ckpt_path=<ckpt>`."""
    overrides = launch_overrides()
    kept = (
        ["<your overrides>"]
        if overrides is None
        else [shlex.quote(o) for o in overrides if not o.lstrip("+~").startswith("ckpt_path=")]
    )
    return " ".join(["python train.py", *kept, shlex.quote(f"ckpt_path={ckpt}")])


def last_checkpoint(trainer: L.Trainer, resumed_from: str | None) -> Path | None:
    """The checkpoint to resume from: the newest written by a callback that saves every epoch
    (monitor null: last.ckpt), else the newest any callback wrote, else the one resumed from."""
    every_epoch, others = [], [Path(resumed_from)] if resumed_from else []
    for cb in trainer.checkpoint_callbacks:
        paths = [Path(p) for p in (cb.last_model_path, cb.best_model_path) if p]
        (every_epoch if getattr(cb, "monitor", None) is None else others).extend(paths)
    for found in (every_epoch, every_epoch + others):
        found = [p for p in found if p.is_file()]
        if found:
            return max(found, key=lambda p: p.stat().st_mtime)
    return None


def interrupt_signal(trainer: L.Trainer, stop: CheckpointOnInterrupt) -> str:
    """The signal that stopped the run (a KeyboardInterrupt that no handler saw counts as SIGINT)."""
    return stop.received or ("SIGTERM" if trainer.received_sigterm else "SIGINT")


@rank_zero_only
def report_interrupt(
    trainer: L.Trainer, resumed_from: str | None, stop: CheckpointOnInterrupt
) -> None:
    signal = interrupt_signal(trainer, stop)
    where = f"epoch {trainer.current_epoch}, step {trainer.global_step}"
    if stop.written is not None:
        print(
            f"interrupted ({signal}) at {where}; checkpoint of that step: {stop.written}\n"
            f"resume with: {resume_command(stop.written.resolve())}",
            file=sys.stderr,
        )
        return
    ckpt = last_checkpoint(trainer, resumed_from)
    if ckpt is None:
        print(
            f"interrupted ({signal}) at {where}, before the first checkpoint (written at the end of "
            "each epoch): nothing to resume, start the run again",
            file=sys.stderr,
        )
        return
    print(
        f"interrupted ({signal}) at {where}; last checkpoint: {ckpt}\n"
        f"resume with: {resume_command(ckpt.resolve())}",
        file=sys.stderr,
    )


def _summary(results: dict) -> dict:
    out = {f"{name}/{k}": v[k] for name, v in results.items() for k in ("mIoU", "mBIoU")}
    if results:
        mean = mean_over_sets(results)
        out.update(mIoU=mean["mIoU"], mBIoU=mean["mBIoU"])
    return out


@rank_zero_only
def _print_table(rows: dict[str, dict]) -> None:
    table = results_tables(rows, first_column="validation")
    if table:
        print("\n" + table)


def end_of_run_exports(policy: str) -> tuple[str, ...]:
    """What a run exports: the trained tensors alone (HQ-only for policy hq, else the policy's
    delta) and the merged official-format sam_hq_<variant>.pth."""
    return ("hq_only", "sam_hq") if policy == "hq" else ("delta", "sam_hq")


def export(model, out_dir: Path, policy: TrainablePolicy) -> dict[str, str]:
    """The run's end-of-run exports, written and read back by the same export code as
    scripts/export.py (never over existing files)."""
    paths = export_model(model, out_dir, end_of_run_exports(policy.name), policy=policy)
    return {k: str(v) for k, v in paths.items()}


def check_outputs(cfg) -> None:
    """The output folder and, with export=true, that the end-of-run export files are free:
    refused before training rather than after it."""
    output_dir = Path(cfg.paths.output_dir)
    export_dir = output_dir / "export"
    targets = []
    if cfg.get("export"):
        names = export_paths(export_dir, f"sam_hq_{cfg.model.variant}")
        targets = [names[t] for t in end_of_run_exports(str(cfg.model.get("policy", "hq")))]
    try:
        check_output_dir(
            export_dir,
            targets,
            create_parents=True,
            what="paths.output_dir",
            taken_hint="give another paths.output_dir, or export=false",
        )
    except OutputError as err:
        raise SetupError(str(err)) from None


def _variant_image_size(variant: str) -> int:
    try:
        return variant_config(variant).image_size
    except ValueError as err:
        raise SetupError(str(err)) from None


def train(cfg: DictConfig) -> tuple[dict, dict]:
    """Train per `cfg` (conf/train.yaml). Returns (metrics, objects).

    metrics: "before" / "after" validation results per set, and the trainer's last logged values.
    objects: cfg, model, module, datamodule, trainer, exports (paths of the exported files).
    Raises SetupError (ConfigError for a bad config value) for bad input found before training
    (config, checkpoints, data root, outputs), and when the end-of-run export fails (after the
    results and the checkpoints' folder are printed). SIGINT / SIGTERM during training stop it at
    the end of the running step with checkpoints/interrupted.ckpt (CheckpointOnInterrupt); it then
    prints that checkpoint (or, after a forced stop, the last one) and the command that resumes
    it, and exits with 130 / 143.
    """
    start = time.time()
    check_config(cfg)  # types and ranges first: nothing is read before the config is right
    ckpt_path = cfg.get("ckpt_path")
    try:
        if ckpt_path:
            check_resume_checkpoint(ckpt_path)
        if cfg.model.get("checkpoint"):
            check_model_checkpoint(cfg.model.checkpoint)
    except CheckpointError as err:
        raise SetupError(str(err)) from None
    check_outputs(cfg)
    L.seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision(cfg.get("float32_matmul_precision", "highest"))
    output_dir = Path(cfg.paths.output_dir)
    try:
        # data first: a wrong data root fails at once, before a large checkpoint is read and hashed
        image_size = _variant_image_size(cfg.model.variant)
        datamodule = build_datamodule(cfg.data, image_size=image_size)
        has_val = bool(datamodule.val_names) and cfg.trainer.get("limit_val_batches") != 0
        if rank_zero_only.rank == 0:  # fail before any process starts; ranks > 0 rerun this
            datamodule.setup("fit")  # generates the demo data when configured
            if has_val:
                check_validation_sets(datamodule)
        loggers = build_loggers(cfg)
        model, provenance = build_model(cfg.model)
        cache = None
        if (cfg.data.get("cache") or {}).get("enabled"):  # features from disk (samhq_train/cache)
            progress = bool(cfg.trainer.get("enable_progress_bar", True))
            cache = cache_from_config(cfg.data.cache, model, provenance, progress=progress)
            datamodule.use_cache(cache)
    except (CheckpointError, DataError, CacheError) as err:
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
        dilation_ratio=cfg.metrics.dilation_ratio,
    )
    if not has_val and rank_zero_only.rank == 0:
        why = "data.val_sets is empty" if not datamodule.val_names else "trainer.limit_val_batches=0"
        log.warning("no validation (%s): no val metrics and no best checkpoint, only last.ckpt", why)
    callbacks = build_callbacks(cfg, has_val)
    if cache is not None:
        callbacks.append(BuildEmbeddingCache(cache))  # missing entries, before any batch is read
    if has_val:
        callbacks.append(RequireValidationResults(datamodule.val_names))
    stop = CheckpointOnInterrupt(output_dir / "checkpoints" / INTERRUPT_CHECKPOINT)
    callbacks.append(stop)
    trainer: L.Trainer = hydra.utils.instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        plugins=[AtomicCheckpointIO()],
    )
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
            if module.val_results_sam:
                metrics["sam"] = module.val_results_sam
    except (CheckpointError, DataError, CacheError) as err:
        raise SetupError(str(err)) from None
    except (KeyboardInterrupt, SystemExit):  # Lightning turns Ctrl+C into sys.exit(1)
        if not trainer.interrupted:
            raise
        report_interrupt(trainer, ckpt_path, stop)
        raise RunInterrupted(interrupt_signal(trainer, stop)) from None

    exports, export_error = {}, None
    if cfg.get("export") and trainer.is_global_zero:
        try:
            exports = export(module.model, output_dir / "export", module.policy)
        except (OutputError, CheckpointError, OSError, RuntimeError) as err:
            export_error = err  # reported after the results, which must not be lost
    metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    if "before" in metrics or "after" in metrics:
        rows = {
            "SAM (no HQ token)": metrics.get("sam"),
            "before training": metrics.get("before"),
            "after training": metrics.get("after"),
        }
        _print_table({k: v for k, v in rows.items() if v})
    last = last_checkpoint(trainer, ckpt_path) if trainer.is_global_zero else None
    if trainer.is_global_zero:
        log.info("outputs in %s (%.0f s)", output_dir, time.time() - start)
        if last is not None:
            log.info("checkpoints in %s (last: %s)", last.parent, last.name)
        for kind, path in exports.items():
            log.info("exported %s: %s", kind, path)
    if export_error is not None:
        again = (
            f"; export the checkpoint with python scripts/export.py --checkpoint {last} "
            "--to hq_only sam_hq --out <folder>"
            if last is not None
            else ""
        )
        raise SetupError(
            f"the end-of-run export to {output_dir / 'export'} failed: {export_error}{again}"
        )
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
