"""The keys only a training config has (conf/train.yaml): trainer, optimizer, scheduler, loss,
callbacks and the run switches. No typed record owns them, so their rules live here, once; a bad
value is a SettingError naming the full key (a ConfigError, as the config check's own).
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig, ListConfig

from samhq_train.data import set_name
from samhq_train.settings import ConfigReader, SettingError, is_int, is_number

# Lightning's own precision names (lightning.fabric.connector's _PRECISION_INPUT_STR and its
# aliases; tests/training/test_config_check.py compares), the common ones first. Written out so
# that a config check, --help or a refused run does not import Lightning (seconds of CPU).
TRAINER_PRECISIONS = [
    "32", "16-mixed", "bf16-mixed", "16", "16-true", "32-true", "64", "64-true", "bf16",
    "bf16-true", "transformer-engine", "transformer-engine-float16",
]
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
MATMUL_PRECISIONS = ("highest", "high", "medium")
SCHEDULER_INTERVALS = ("epoch", "step")
MONITOR_MODES = ("min", "max")


def _limit_ok(v) -> bool:  # Lightning's limit_*_batches: an int (batches) or a fraction
    return (is_int(v) and v >= 0) or (isinstance(v, float) and 0.0 <= v <= 1.0)


def _devices_ok(v) -> bool:
    if is_int(v):
        return v >= 1 or v == -1
    if isinstance(v, str):
        return v == "auto" or all(
            p.strip().lstrip("-").isdigit() for p in v.split(",") if p.strip()
        )
    if isinstance(v, list | ListConfig):
        return len(v) > 0 and all(is_int(d) and d >= 0 for d in v)
    return False


def _cpu_devices_ok(v) -> bool:
    if is_int(v):
        return v >= 1
    return isinstance(v, str) and (v == "auto" or (v.strip().isdigit() and int(v) >= 1))


def _check_trainer(c: ConfigReader) -> None:
    c.group("trainer", "a trainer config group (trainer=cpu, gpu, ddp, ...)", required=True)
    c.int_at_least("trainer.max_epochs", 1, extra=(-1,), note="or -1 for no limit")
    c.int_at_least("trainer.max_steps", 1, extra=(-1,), note="or -1 for no limit")
    c.int_at_least("trainer.num_nodes", 1)
    devices = c.check(
        "trainer.devices", _devices_ok, 'an integer >= 1, -1 (all), "auto" or a list of GPU indices'
    )
    precision = c.check(
        "trainer.precision",
        lambda v: str(v) in TRAINER_PRECISIONS and not isinstance(v, bool),
        f"one of {', '.join(TRAINER_PRECISIONS)}",
    )
    accelerator = c.choice("trainer.accelerator", ACCELERATORS)
    c.int_at_least("trainer.accumulate_grad_batches", 1)
    c.number("trainer.gradient_clip_val", "a number >= 0 or null (no clipping)", lambda v: v >= 0)
    c.choice("trainer.gradient_clip_algorithm", ("norm", "value"))
    c.int_at_least("trainer.check_val_every_n_epoch", 1, note="or null")
    c.check(
        "trainer.val_check_interval",
        _limit_ok,
        "an integer >= 0 (batches) or a fraction in [0, 1]",
    )
    for stage in ("train", "val", "test", "predict"):
        c.check(
            f"trainer.limit_{stage}_batches",
            _limit_ok,
            "null (all), an integer >= 0 (batches) or a fraction in [0.0, 1.0]",
        )
    c.int_at_least("trainer.log_every_n_steps", 1)
    c.int_at_least("trainer.num_sanity_val_steps", 0, extra=(-1,), note="or -1 for all")
    c.check(
        "trainer.fast_dev_run",
        lambda v: isinstance(v, bool) or (is_int(v) and v >= 0),
        "true, false or a number of batches >= 0",
    )
    c.check(
        "trainer.deterministic", lambda v: isinstance(v, bool) or v == "warn", "true, false or warn"
    )
    for key in (
        "inference_mode",
        "enable_progress_bar",
        "enable_model_summary",
        "enable_checkpointing",
    ):
        c.boolean(f"trainer.{key}")
    _check_hardware(c, accelerator, devices, precision)


def _check_hardware(c: ConfigReader, accelerator, devices, precision) -> None:
    """What this machine can run: CUDA for gpu / ddp, enough GPUs, no fp16 on the CPU."""
    strategy = c.get("trainer.strategy")
    target = strategy.get("_target_", "") if isinstance(strategy, DictConfig) else strategy
    ddp = isinstance(target, str) and "ddp" in target.lower()
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        if ddp:
            message = (
                f"trainer=ddp (trainer.accelerator={accelerator}) needs CUDA GPUs and this machine "
                "has none: use trainer=ddp_sim (DDP on 2 CPU processes) or trainer=cpu"
            )
        else:
            message = (
                f"trainer.accelerator={accelerator} (trainer=gpu) needs a CUDA GPU and this "
                "machine has none: use trainer=cpu"
            )
        raise SettingError("trainer.accelerator", message=message)
    if accelerator in ("gpu", "cuda") and is_int(devices) and devices > torch.cuda.device_count():
        accepted = f"at most the {torch.cuda.device_count()} visible GPU(s), or auto"
        raise SettingError("trainer.devices", devices, accepted)
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    if on_cpu and not _cpu_devices_ok(devices):  # Lightning refuses them after the data setup
        accepted = "a number of CPU processes >= 1 or auto (GPU indices and -1 need a GPU)"
        raise SettingError("trainer.devices", devices, accepted)
    if accelerator == "cpu" and str(precision) in ("16-mixed", "16", "16-true"):
        accepted = "32 or bf16-mixed on the CPU (16-mixed needs a GPU)"
        raise SettingError("trainer.precision", precision, accepted)


def _check_optimization(c: ConfigReader) -> None:
    c.number("optimizer.lr", "a number > 0", lambda v: v > 0, required=True)
    c.check(
        "optimizer.betas",
        lambda v: (
            isinstance(v, list | ListConfig)
            and len(v) == 2
            and all(is_number(b) and 0 <= b < 1 for b in v)
        ),
        "two numbers in [0, 1), e.g. [0.9, 0.999]",
    )
    c.number("optimizer.eps", "a number > 0", lambda v: v > 0)
    c.number("optimizer.weight_decay", "a number >= 0", lambda v: v >= 0)
    c.number("optimizer.momentum", "a number >= 0", lambda v: v >= 0)
    if c.check("scheduler", lambda v: isinstance(v, DictConfig), "null or a scheduler config"):
        c.int_at_least("scheduler.step_size", 1)
        c.number("scheduler.gamma", "a number > 0", lambda v: v > 0)
    c.choice("scheduler_interval", SCHEDULER_INTERVALS)


def _check_loss(c: ConfigReader) -> None:
    c.int_at_least("loss.num_points", 1)
    c.number("loss.oversample_ratio", "a number >= 1", lambda v: v >= 1)
    c.number("loss.importance_sample_ratio", "a fraction in [0, 1]", lambda v: 0 <= v <= 1)
    c.number("loss.bce_weight", "a number >= 0", lambda v: v >= 0)
    c.number("loss.dice_weight", "a number >= 0", lambda v: v >= 0)


def _check_callbacks(c: ConfigReader) -> None:
    if not c.group("callbacks", "a mapping of name: callback config"):
        return
    val_sets = c.get("data.val_sets")
    names = (
        [set_name(s) for s in val_sets if isinstance(s, DictConfig)]
        if isinstance(val_sets, ListConfig)
        else []
    )
    known = ["val/mIoU", "val/mBIoU", *(f"val/{n}/{k}" for n in names for k in ("mIoU", "mBIoU"))]
    for name in c.get("callbacks"):
        key = f"callbacks.{name}"
        c.check(
            f"{key}.monitor",
            lambda v: isinstance(v, str) and (v in known or v.startswith("train/")),
            f"null or a logged metric: {', '.join(known)} or train/loss",
        )
        c.choice(f"{key}.mode", MONITOR_MODES)
        c.int_at_least(f"{key}.save_top_k", 0, extra=(-1,), note="or -1 for all")
        c.int_at_least(f"{key}.every_n_train_steps", 0)
        c.int_at_least(f"{key}.every_n_epochs", 0)


def check_training_keys(c: ConfigReader) -> None:
    """SettingError for the first bad training-only key."""
    c.int_at_least("seed", 0, required=True)
    _check_trainer(c)
    _check_optimization(c)
    _check_loss(c)
    _check_callbacks(c)
    c.choice("float32_matmul_precision", MATMUL_PRECISIONS)
    for key in ("train", "validate_before_training", "export"):
        c.boolean(key)
    c.int_at_least("num_overlays", 0)
    c.check(
        "ckpt_path",
        lambda v: isinstance(v, str) and v != "",
        "null or the path of a training checkpoint (.ckpt)",
    )


__all__ = ["TRAINER_PRECISIONS", "check_training_keys"]
