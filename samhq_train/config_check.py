"""Check a composed config before anything heavy runs; one line per problem.

`check_config(cfg)` reads only the config (no weights, no data), for training (conf/train.yaml)
and evaluation (conf/eval.yaml) alike: each value the run uses must have the right type and range,
or a ConfigError names the full key, the value and what is accepted::

    config error: trainer.max_epochs=-2: expected an integer >= 1 (or -1 for no limit)

The typed records are the schema of their keys: `data.prompts.*` is PromptConfig, `model.policy`,
its lr scales and `model.lora.*` are TrainablePolicy / LoraSettings. Each record checks its fields
itself (samhq_train/settings.py) and gives the config its defaults (samhq_train/config_defaults.py),
so a key has one definition, one default and one check. Keys no record owns are checked here
(model, data, cache, evaluation) and in samhq_train/config_training.py (trainer, optimizer, loss,
callbacks), once each.

Every setup error (ConfigError included) is a SetupError, a UserError: the CLIs print its one
line on stderr and exit with SETUP_ERROR_EXIT.

`check_validation_sets(datamodule)` is the data check of the same up-front pass: every file of the
validation sets (headers, masks, sizes, empty masks), before the model is built, not when
validation reaches a bad file. `check_resume_matches(resumed, model_cfg)` compares the resumed
run's record (variant, policy, LoRA settings) with the config before anything is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hydra.utils import to_absolute_path
from omegaconf import DictConfig, ListConfig, OmegaConf

from samhq_train.cache import STORAGE_DTYPES, CacheError, check_cache_dir
from samhq_train.config_training import check_training_keys
from samhq_train.constants import CONCEPT_PER_IMAGE, EXEMPLAR_MODES
from samhq_train.data import PromptConfig
from samhq_train.data.sets import CHECK_IMAGES, check_set_files
from samhq_train.data.transforms import EVAL_MODES
from samhq_train.errors import SETUP_ERROR_EXIT, ConfigError, SetupError, UserError
from samhq_train.model import (
    ATTENTION_KERNELS,
    VARIANTS,
    Inspection,
    TrainablePolicy,
    encoder_needs_grad,
    policy_of,
)
from samhq_train.model.policy import LR_SCALE_KEYS, LoraSettings, check_own_settings
from samhq_train.model_from_config import build_model_from_config, ignored_grad_checkpointing
from samhq_train.settings import ABSENT, ConfigReader, is_number, known_keys


def _check_data(c: ConfigReader) -> None:
    c.int_at_least("data.batch_size", 1)
    c.int_at_least("data.val_batch_size", 1)
    c.int_at_least("data.num_workers", 0)
    c.int_at_least("data.seed", 0)
    c.int_at_least("data.max_image_pixels", 0, note="0: no limit")
    c.choice("data.check_images", CHECK_IMAGES)
    for key in ("pin_memory", "persistent_workers", "strict_train", "strict_eval"):
        c.boolean(f"data.{key}")
    for key in ("train_sets", "val_sets"):
        c.check(
            f"data.{key}",
            lambda v: isinstance(v, ListConfig),
            "a list of dataset entries ([] for none)",
        )
    c.check(
        "data.test_sets",
        lambda v: isinstance(v, ListConfig),
        "null (the val sets) or a list of dataset entries",
    )
    c.check(
        "data.train_transform.scale_range",
        lambda v: (
            isinstance(v, list | ListConfig)
            and len(v) == 2
            and all(map(is_number, v))
            and 0 < v[0] <= v[1]
        ),
        "[low, high] with 0 < low <= high",
    )
    c.number("data.train_transform.hflip_p", "a probability in [0, 1]", lambda v: 0 <= v <= 1)
    for key in ("image_pad", "mask_pad"):
        c.number(f"data.train_transform.{key}", "a fill value in [0, 255]", lambda v: 0 <= v <= 255)
    c.choice("data.eval_transform.mode", EVAL_MODES)
    if c.group("data.prompts", "a mapping of prompt settings"):
        prompts = OmegaConf.to_container(c.get("data.prompts"), resolve=True)
        known_keys("data.prompts", list(prompts), list(PromptConfig.__dataclass_fields__))
        PromptConfig(**prompts)


def _check_cache(c: ConfigReader) -> None:
    """data.cache: types, a writable folder, and a frozen encoder (before any weights are read)."""
    if not c.group("data.cache", "a mapping (enabled, dir, dtype, views, batch_size)"):
        return
    enabled = c.boolean("data.cache.enabled")
    c.check(
        "data.cache.dir",
        lambda v: isinstance(v, str) and v != "",
        "the folder that holds the cache",
        required=bool(enabled),
    )
    c.choice("data.cache.dtype", tuple(STORAGE_DTYPES))
    c.int_at_least(
        "data.cache.views", 0, note="0: no augmentation, K: K pre-drawn augmented views per image"
    )
    c.int_at_least("data.cache.batch_size", 1)
    folder = c.present("data.cache.dir")
    if enabled and isinstance(folder, str) and folder:
        try:  # a file or read-only folder: before the model is built and the data hashed
            check_cache_dir(to_absolute_path(folder))
        except CacheError as err:
            raise ConfigError(str(err)) from None
    policy = c.present("model.policy")
    if enabled and policy is not ABSENT and encoder_needs_grad(policy):
        raise ConfigError(
            f"data.cache.enabled=true stores a frozen encoder's features but model.policy={policy} trains "
            "the encoder: use data.cache.enabled=false, or model.policy=hq / hq+decoder"
        )


def _check_model(c: ConfigReader, training: bool) -> TrainablePolicy:
    c.group("model", "a model config group (model=vit_b, vit_l, ...)", required=True)
    # evaluation: model.variant=null takes the checkpoint's
    variant = c.choice("model.variant", sorted(VARIANTS), required=training)
    c.int_at_least("model.seed", 0)
    c.check(
        "model.checkpoint",
        lambda v: isinstance(v, str) and v != "",
        "null or the path of a checkpoint file",
    )
    c.boolean("model.grad_checkpointing")
    c.boolean("model.compile")
    c.choice("model.attention", ATTENTION_KERNELS)
    policy = policy_from_config(c.get("model"))
    if variant is not None:
        check_model_fits(c.get("model"), policy)
    return policy


# the settings one policy reads and the others ignore: model.<key> -> that policy
POLICY_OWN_KEYS = {
    "decoder_lr_scale": "hq+decoder",
    "lora_lr_scale": "hq+lora",
    "base_lr_scale": "full",
    **{f"lora.{key}": "hq+lora" for key in LoraSettings.__dataclass_fields__},
}


def check_policy_settings(policy: TrainablePolicy) -> None:
    """ConfigError for a setting of another policy than model.policy set away from its default
    (model.lora.rank=16 with policy hq): the run would ignore it in silence."""
    check_own_settings(policy, TrainablePolicy(), POLICY_OWN_KEYS, "model")


def policy_from_config(model_cfg) -> TrainablePolicy:
    """The trainable policy of model.policy and its settings; ConfigError naming a bad key."""
    keys = ("policy", *LR_SCALE_KEYS, "lora")
    settings = {key: model_cfg[key] for key in keys if model_cfg.get(key) is not None}
    if "policy" in settings:
        settings["name"] = settings.pop("policy")
    if isinstance(settings.get("lora"), DictConfig):
        settings["lora"] = OmegaConf.to_container(settings["lora"], resolve=True)
    return TrainablePolicy.from_config(**settings)


def check_model_fits(model_cfg, policy: TrainablePolicy) -> None:
    """Build the configured model without weights (the one builder's dry run): a kernel the
    encoder lacks or a LoRA rank or target that does not fit fails before any checkpoint is
    read."""
    try:
        build_model_from_config(model_cfg, policy, weights=False)
    except UserError as err:
        raise ConfigError(str(err)) from None


def _check_evaluation_run(c: ConfigReader) -> None:
    """The keys only conf/eval.yaml has (precision and device: evaluation/device.py)."""
    for key in ("benchmark", "hq_token_only", "sam_baseline", "progress", "coco.hq_token_only"):
        c.boolean(key)
    c.int_at_least("n_worst", 0)
    c.check(
        "sets",
        lambda v: isinstance(v, ListConfig) and all(isinstance(s, str) for s in v),
        "null (all) or a list of set names",
    )
    for key in ("coco.max_detections", "coco.prompt_batch"):
        c.int_at_least(key, 1)
    c.int_at_least("coco.num_workers", 0)
    c.choice("coco.transform", ("auto", *EVAL_MODES))
    c.choice("coco.prompts", ("boxes", "concept"))
    c.choice("coco.concept.metric", ("ap", "cgf1"))
    c.number(
        "coco.concept.threshold",
        "null (the metric's protocol) or a confidence in [0, 1)",
        lambda v: 0 <= v < 1,
    )
    c.choice("coco.concept.per_image", CONCEPT_PER_IMAGE)
    c.choice("coco.concept.exemplars", EXEMPLAR_MODES)
    c.int_at_least("coco.concept.exemplar_seed", 0)
    c.check(
        "coco.concept.bpe",
        lambda v: isinstance(v, str) and v != "",
        "the text tokenizer's BPE merges file (bpe_simple_vocab_16e6.txt.gz)",
    )
    c.check(
        "coco.concept.categories",
        lambda v: isinstance(v, ListConfig) and len(v) > 0 and all(isinstance(s, str) for s in v),
        "null (every category of the json) or a list of category names",
    )


def check_config(cfg: DictConfig | Mapping) -> None:
    """Raise ConfigError for the first value of the wrong type or range; reads nothing else.
    A config with a `trainer` is a training run's (conf/train.yaml), else an evaluation's."""
    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.create(dict(cfg))
    c = ConfigReader(cfg)
    training = "trainer" in cfg
    policy = _check_model(c, training)
    if training and cfg.get("video") is None and cfg.get("concept") is None:
        check_policy_settings(policy)  # video and concept runs have their own settings
        if ignored := ignored_grad_checkpointing(c.get("model"), policy):
            raise ConfigError(ignored)
    c.group("data", "a data config group (data=demo, folder, hqseg44k, coco)", required=True)
    _check_data(c)
    _check_cache(c)
    c.number(
        "metrics.dilation_ratio",
        "a fraction of the image diagonal in (0, 1), e.g. 0.02",
        lambda v: 0 < v < 1,
    )
    if training:
        check_training_keys(c)
    else:
        _check_evaluation_run(c)


def no_usable_validation_sample(names: Sequence[str]) -> str:
    """The one line for validation sets without a usable sample (here and after a validation)."""
    return (
        f"validation found no usable sample in {', '.join(names)} (every sample was skipped: see "
        "the warnings above): fix those files, or train without validation with "
        "trainer.limit_val_batches=0"
    )


def check_validation_sets(datamodule) -> None:
    """Every file of the validation sets (set up for fitting) checked before the model is built
    (data.sets.check_set_files): a bad file of a strict set is a DataError naming it, a lenient
    set without a usable sample a SetupError."""
    checked = check_set_files(
        datamodule.val_names, datamodule.val_sets, what="validation",
        images=datamodule.check_images,
    )
    if checked.unusable:
        raise SetupError(no_usable_validation_sample(checked.unusable))


def check_training_images(datamodule) -> None:
    """With data.check_images=full, every training image decoded before the model is built: a
    bad file is a DataError naming it (data.strict_train), else counted in one warning."""
    if datamodule.check_images != "full":
        return
    checked = check_set_files(["train"], [datamodule.train_set], what="training", images="full")
    if checked.unusable:
        raise SetupError(
            "no training sample is usable (every one was skipped: see the warning above): fix "
            "those files or data.train_sets"
        )


def _override(value) -> str:
    if isinstance(value, list | tuple):
        return "[" + ",".join(map(str, value)) + "]"
    return str(value)


def check_resume_matches(resumed: Inspection, model_cfg) -> None:
    """ConfigError when the run that ckpt_path resumes (`resumed`: its file as the check of
    ckpt_path inspected it, run.checks.check_resume_trains; not read again) was trained with
    another variant, policy, LoRA rank / alpha / targets or random-backbone seed than this config
    sets: compared from the checkpoint's own record before data, cache or model are built. The
    line names each setting with both values and the overrides that resume it."""
    path, record = resumed.path, resumed.provenance
    theirs, ours = policy_of(record), policy_from_config(model_cfg)
    pairs = [
        ("model.variant", record.variant, model_cfg.get("variant")),
        ("model.policy", theirs.name, ours.name),
    ]
    if theirs.name == "hq+lora":  # its adapters: their shapes and scale
        pairs += [
            (f"model.lora.{key}", getattr(theirs.lora, key), getattr(ours.lora, key))
            for key in ("rank", "alpha", "targets")
        ]
    if record.seed is not None and model_cfg.get("checkpoint") is None:
        pairs.append(("model.seed", record.seed, model_cfg.get("seed")))
    differ = [(key, a, b) for key, a, b in pairs if a is not None and a != b]
    if differ:
        was = ", ".join(f"{key}={_override(a)}" for key, a, _ in differ)
        now = ", ".join(f"{key}={_override(b)}" for key, _, b in differ)
        fix = " ".join(f"{key}={_override(a)}" for key, a, _ in differ)
        raise ConfigError(
            f"ckpt_path={path} was trained with {was} but this run sets {now}: resume with "
            f"{fix}, or start a new run without ckpt_path"
        )


__all__ = [
    "SETUP_ERROR_EXIT",
    "ConfigError",
    "SetupError",
    "check_config",
    "check_model_fits",
    "check_policy_settings",
    "check_resume_matches",
    "check_validation_sets",
    "no_usable_validation_sample",
    "policy_from_config",
]
