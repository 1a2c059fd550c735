"""Check a composed training config before anything heavy runs; one line per problem.

`check_config(cfg)` reads only the config (no weights, no data): each value the run uses must have
the right type and range, or a ConfigError names the full key, the value and what is accepted::

    config error: trainer.max_epochs=-2: expected an integer >= 1 (or -1 for no limit)

Every setup error (ConfigError included) is a SetupError; the CLIs print its one line on stderr and
exit with SETUP_ERROR_EXIT.

`check_validation_sets(datamodule)` is the one data check of the same up-front pass: it reads each
validation set up to its first usable sample, so that a set whose every sample is skipped is
refused before the model is built, not after the first training epoch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from samhq_train.data import PROMPT_TYPES
from samhq_train.data.datamodule import _set_name
from samhq_train.data.transforms import EVAL_MODES
from samhq_train.errors import UserError
from samhq_train.model import (
    ATTENTION_KERNELS,
    POLICIES,
    VARIANTS,
    TrainablePolicy,
    build_sam_hq,
    encoder_needs_grad,
    prepare_model,
    set_attention_kernel,
)

SETUP_ERROR_EXIT = 2  # train.py, scripts/predict.py, scripts/export.py, scripts/evaluate.py

ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
PRECISIONS = ("32", "16-mixed", "bf16-mixed", "32-true", "64-true", "64", "16", "bf16", "16-true", "bf16-true")
MATMUL_PRECISIONS = ("highest", "high", "medium")
SCHEDULER_INTERVALS = ("epoch", "step")
MONITOR_MODES = ("min", "max")
_MISSING = object()


class SetupError(UserError):
    """Bad configuration or input found before training starts; the message says what to fix."""

    label = "error"


class ConfigError(SetupError):
    """A config value of the wrong type or range; the message names the full key."""

    label = "config error"


def _show(value) -> str:
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value, resolve=False)
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    return str(value).replace("'", "").replace("True", "true").replace("False", "false")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


class _Checker:
    def __init__(self, cfg):
        self.cfg = cfg

    def get(self, key: str):
        try:
            return OmegaConf.select(self.cfg, key, default=_MISSING, throw_on_missing=True)
        except OmegaConfBaseException as err:  # a missing mandatory value or a broken ${...}
            raise ConfigError(f"{key}: {str(err).splitlines()[0]}") from None

    def fail(self, key: str, value, accepted: str):
        raise ConfigError(f"{key}={_show(value)}: expected {accepted}")

    def check(self, key: str, ok, accepted: str, *, optional: bool = True):
        """ok(value) -> bool; a key that is absent (or null, when optional) passes."""
        value = self.get(key)
        if value is _MISSING or (value is None and optional):
            return value
        if not ok(value):
            self.fail(key, value, accepted)
        return value

    def int_at_least(self, key: str, low: int, extra=(), note: str = "", optional=True):
        accepted = f"an integer >= {low}" + (f" ({note})" if note else "")
        return self.check(key, lambda v: _is_int(v) and (v >= low or v in extra), accepted, optional=optional)

    def number(self, key: str, accepted: str, ok, optional=True):
        return self.check(key, lambda v: _is_number(v) and ok(v), accepted, optional=optional)

    def choice(self, key: str, choices: Sequence, optional=True):
        shown = ", ".join(map(str, choices))
        return self.check(key, lambda v: isinstance(v, str) and v in choices, f"one of {shown}", optional=optional)

    def boolean(self, key: str):
        return self.check(key, lambda v: isinstance(v, bool), "true or false")


def _limit_ok(v) -> bool:  # Lightning's limit_*_batches: an int (batches) or a fraction
    return (_is_int(v) and v >= 0) or (isinstance(v, float) and 0.0 <= v <= 1.0)


def _devices_ok(v) -> bool:
    if _is_int(v):
        return v >= 1 or v == -1
    if isinstance(v, str):
        return v == "auto" or all(p.strip().lstrip("-").isdigit() for p in v.split(",") if p.strip())
    if isinstance(v, (list, ListConfig)):
        return len(v) > 0 and all(_is_int(d) and d >= 0 for d in v)
    return False


def _check_trainer(c: _Checker) -> None:
    c.check("trainer", lambda v: isinstance(v, DictConfig), "a trainer config group (trainer=cpu, gpu, ddp, ...)", optional=False)
    c.int_at_least("trainer.max_epochs", 1, extra=(-1,), note="or -1 for no limit")
    c.int_at_least("trainer.max_steps", 1, extra=(-1,), note="or -1 for no limit")
    c.int_at_least("trainer.num_nodes", 1)
    devices = c.check("trainer.devices", _devices_ok, 'an integer >= 1, -1 (all), "auto" or a list of GPU indices')
    precision = c.check(
        "trainer.precision", lambda v: str(v) in PRECISIONS and not isinstance(v, bool), f"one of {', '.join(PRECISIONS)}"
    )
    accelerator = c.choice("trainer.accelerator", ACCELERATORS)
    c.int_at_least("trainer.accumulate_grad_batches", 1)
    c.number("trainer.gradient_clip_val", "a number >= 0 or null (no clipping)", lambda v: v >= 0)
    c.choice("trainer.gradient_clip_algorithm", ("norm", "value"))
    c.int_at_least("trainer.check_val_every_n_epoch", 1, note="or null")
    c.check("trainer.val_check_interval", _limit_ok, "an integer >= 0 (batches) or a fraction in [0, 1]")
    for stage in ("train", "val", "test", "predict"):
        c.check(
            f"trainer.limit_{stage}_batches",
            _limit_ok,
            "null (all), an integer >= 0 (batches) or a fraction in [0.0, 1.0]",
        )
    c.int_at_least("trainer.log_every_n_steps", 1)
    c.int_at_least("trainer.num_sanity_val_steps", 0, extra=(-1,), note="or -1 for all")
    c.check("trainer.fast_dev_run", lambda v: isinstance(v, bool) or (_is_int(v) and v >= 0), "true, false or a number of batches >= 0")
    c.check("trainer.deterministic", lambda v: isinstance(v, bool) or v == "warn", "true, false or warn")
    for key in ("inference_mode", "enable_progress_bar", "enable_model_summary", "enable_checkpointing"):
        c.boolean(f"trainer.{key}")

    strategy = c.get("trainer.strategy")
    target = strategy.get("_target_", "") if isinstance(strategy, DictConfig) else strategy
    ddp = isinstance(target, str) and "ddp" in target.lower()
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        if ddp:
            raise ConfigError(
                f"trainer=ddp (trainer.accelerator={accelerator}) needs CUDA GPUs and this machine "
                "has none: use trainer=ddp_sim (DDP on 2 CPU processes) or trainer=cpu"
            )
        raise ConfigError(
            f"trainer.accelerator={accelerator} (trainer=gpu) needs a CUDA GPU and this machine has "
            "none: use trainer=cpu"
        )
    if accelerator in ("gpu", "cuda") and _is_int(devices) and devices > torch.cuda.device_count():
        c.fail("trainer.devices", devices, f"at most the {torch.cuda.device_count()} visible GPU(s), or auto")
    if accelerator == "cpu" and str(precision) in ("16-mixed", "16", "16-true"):
        c.fail("trainer.precision", precision, "32 or bf16-mixed on the CPU (16-mixed needs a GPU)")


def _check_optimization(c: _Checker) -> None:
    c.number("optimizer.lr", "a number > 0", lambda v: v > 0, optional=False)
    c.check(
        "optimizer.betas",
        lambda v: isinstance(v, (list, ListConfig)) and len(v) == 2 and all(_is_number(b) and 0 <= b < 1 for b in v),
        "two numbers in [0, 1), e.g. [0.9, 0.999]",
    )
    c.number("optimizer.eps", "a number > 0", lambda v: v > 0)
    c.number("optimizer.weight_decay", "a number >= 0", lambda v: v >= 0)
    c.number("optimizer.momentum", "a number >= 0", lambda v: v >= 0)
    if c.get("scheduler") not in (None, _MISSING):
        c.int_at_least("scheduler.step_size", 1)
        c.number("scheduler.gamma", "a number > 0", lambda v: v > 0)
    c.choice("scheduler_interval", SCHEDULER_INTERVALS)


def _check_data(c: _Checker) -> None:

    c.check("data", lambda v: isinstance(v, DictConfig), "a data config group (data=demo, folder, hqseg44k, coco)", optional=False)
    c.int_at_least("data.batch_size", 1)
    c.int_at_least("data.val_batch_size", 1)
    c.int_at_least("data.num_workers", 0)
    c.int_at_least("data.seed", 0)
    for key in ("pin_memory", "persistent_workers", "strict_train", "strict_eval"):
        c.boolean(f"data.{key}")
    for key in ("train_sets", "val_sets"):
        c.check(f"data.{key}", lambda v: isinstance(v, ListConfig), "a list of dataset entries ([] for none)")
    c.check(
        "data.test_sets", lambda v: isinstance(v, ListConfig), "null (the val sets) or a list of dataset entries"
    )
    c.check(
        "data.train_transform.scale_range",
        lambda v: isinstance(v, (list, ListConfig)) and len(v) == 2 and all(map(_is_number, v)) and 0 < v[0] <= v[1],
        "[low, high] with 0 < low <= high",
    )
    c.number("data.train_transform.hflip_p", "a probability in [0, 1]", lambda v: 0 <= v <= 1)
    for key in ("image_pad", "mask_pad"):
        c.number(f"data.train_transform.{key}", "a fill value in [0, 255]", lambda v: 0 <= v <= 255)
    c.choice("data.eval_transform.mode", EVAL_MODES)
    c.check(
        "data.prompts.probs",
        lambda v: isinstance(v, DictConfig)
        and set(v) <= set(PROMPT_TYPES)
        and all(_is_number(p) and p >= 0 for p in v.values())
        and sum(v.values()) > 0,
        f"weights >= 0 with a positive sum over {', '.join(PROMPT_TYPES)}, e.g. {{box: 1.0, point: 1.0, noise_mask: 1.0}}",
    )
    c.int_at_least("data.prompts.num_points", 1)
    c.number("data.prompts.box_noise_scale", "a number >= 0", lambda v: v >= 0)
    c.int_at_least("data.prompts.noise_downscale", 1)
    c.number("data.prompts.noise_std", "a number >= 0", lambda v: v >= 0)
    c.choice("data.prompts.eval_prompt", PROMPT_TYPES)


def no_usable_validation_sample(names: Sequence[str]) -> str:
    """The one line for validation sets without a usable sample (here and after a validation)."""
    return (
        f"validation found no usable sample in {', '.join(names)} (every sample was skipped: see "
        "the warnings above): fix those files, or train without validation with "
        "trainer.limit_val_batches=0"
    )


def _has_usable_sample(dataset) -> bool:
    """Reads `dataset` (an evaluation PromptedDataset) up to its first usable sample; a sample that
    strict evaluation refuses is a SetupError naming its file."""
    for i in range(len(dataset)):
        sample = dataset[i]
        if "error" in sample:
            raise SetupError(sample["error"])
        if "skip" not in sample:
            return True
    return False


def check_validation_sets(datamodule) -> None:
    """SetupError when a validation set (set up for fitting) has no usable sample."""
    sets = zip(datamodule.val_names, datamodule.val_sets)
    empty = [name for name, dataset in sets if not _has_usable_sample(dataset)]
    if empty:
        raise SetupError(no_usable_validation_sample(empty))


CACHE_DTYPES = ("float32", "float16", "bfloat16")  # samhq_train.cache.STORAGE_DTYPES


def _check_cache(c: _Checker) -> None:
    """data.cache: types, and a frozen encoder (before any weights are read)."""
    c.check("data.cache", lambda v: isinstance(v, DictConfig), "a mapping (enabled, dir, dtype, views, batch_size)")
    enabled = c.boolean("data.cache.enabled")
    c.check("data.cache.dir", lambda v: isinstance(v, str) and v != "", "the folder that holds the cache", optional=not enabled)
    c.choice("data.cache.dtype", CACHE_DTYPES)
    c.int_at_least("data.cache.views", 0, note="0: no augmentation, K: K pre-drawn augmented views per image")
    c.int_at_least("data.cache.batch_size", 1)
    policy = c.get("model.policy")
    if enabled and isinstance(policy, str) and encoder_needs_grad(policy):
        raise ConfigError(
            f"data.cache.enabled=true stores a frozen encoder's features but model.policy={policy} trains "
            "the encoder: use data.cache.enabled=false, or model.policy=hq / hq+decoder"
        )


def _check_loss(c: _Checker) -> None:
    c.int_at_least("loss.num_points", 1)
    c.number("loss.oversample_ratio", "a number >= 1", lambda v: v >= 1)
    c.number("loss.importance_sample_ratio", "a fraction in [0, 1]", lambda v: 0 <= v <= 1)
    c.number("loss.bce_weight", "a number >= 0", lambda v: v >= 0)
    c.number("loss.dice_weight", "a number >= 0", lambda v: v >= 0)


def _check_callbacks(c: _Checker, val_names: Sequence[str]) -> None:
    callbacks = c.get("callbacks")
    if callbacks in (None, _MISSING):
        return
    if not isinstance(callbacks, DictConfig):
        c.fail("callbacks", callbacks, "a mapping of name: callback config")
    known = ["val/mIoU", "val/mBIoU", *(f"val/{n}/{k}" for n in val_names for k in ("mIoU", "mBIoU"))]
    for name in callbacks:
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


def _check_model(c: _Checker) -> None:
    c.choice("model.variant", sorted(VARIANTS), optional=False)
    c.choice("model.policy", POLICIES)
    c.int_at_least("model.seed", 0)
    c.check("model.checkpoint", lambda v: isinstance(v, str) and v != "", "null or the path of a checkpoint file")
    c.boolean("model.grad_checkpointing")
    c.boolean("model.compile")
    c.choice("model.attention", ATTENTION_KERNELS)
    model = c.get("model")
    check_model_fits(model.variant, policy_from_config(model), model.get("attention", "auto"))


POLICY_KEYS = ("decoder_lr_scale", "lora_lr_scale", "base_lr_scale", "lora")


def policy_from_config(model_cfg) -> TrainablePolicy:
    """The trainable policy of model.policy and its settings; ConfigError naming a bad key."""
    settings = {k: model_cfg[k] for k in POLICY_KEYS if model_cfg.get(k) is not None}
    if "lora" in settings:
        settings["lora"] = OmegaConf.to_container(settings["lora"], resolve=True)
    try:
        return TrainablePolicy.from_config(str(model_cfg.get("policy", "hq")), **settings)
    except (TypeError, ValueError) as err:
        raise ConfigError(str(err)) from None


def check_model_fits(variant: str, policy: TrainablePolicy, attention: str = "auto") -> None:
    """Apply the attention kernel and the policy to the variant built on the meta device (no
    weights, no memory), so a kernel the encoder lacks or a LoRA rank or target that does not fit
    fails before any checkpoint is read."""
    try:
        with torch.device("meta"):
            model = build_sam_hq(variant)
            set_attention_kernel(model.image_encoder, attention)
            prepare_model(model, policy)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def check_config(cfg: DictConfig | Mapping) -> None:
    """Raise ConfigError for the first value of the wrong type or range; reads nothing else."""
    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.create(dict(cfg))
    c = _Checker(cfg)
    c.int_at_least("seed", 0, optional=False)
    _check_model(c)
    _check_trainer(c)
    _check_optimization(c)
    _check_data(c)
    _check_cache(c)
    _check_loss(c)
    val_sets = c.get("data.val_sets")
    val_names = []
    if isinstance(val_sets, ListConfig):
            val_names = [_set_name(s) for s in val_sets if isinstance(s, DictConfig)]
    _check_callbacks(c, val_names)
    c.number("metrics.dilation_ratio", "a fraction of the image diagonal in (0, 1), e.g. 0.02", lambda v: 0 < v < 1)
    c.choice("float32_matmul_precision", MATMUL_PRECISIONS)
    for key in ("train", "validate_before_training", "export"):
        c.boolean(key)
    c.int_at_least("num_overlays", 0)
    c.check("ckpt_path", lambda v: isinstance(v, str) and v != "", "null or the path of a training checkpoint (.ckpt)")


__all__ = [
    "SETUP_ERROR_EXIT",
    "ConfigError",
    "SetupError",
    "check_config",
    "check_model_fits",
    "check_validation_sets",
    "no_usable_validation_sample",
    "policy_from_config",
]
