"""check_config: a value of the wrong type or range is one line naming the full key, the value and
what is accepted, before any weights or data are read; the CLI exits with SETUP_ERROR_EXIT."""

import subprocess
import sys
import typing

import pytest
import torch
from hydra import compose, initialize_config_dir

from samhq_train.config_check import SETUP_ERROR_EXIT, ConfigError, SetupError, check_config
from samhq_train.config_training import TRAINER_PRECISIONS
from samhq_train.constants import BOUNDARY_DILATION_RATIO
from samhq_train.data import PromptConfig
from samhq_train.errors import UserError
from samhq_train.evaluation.entry import evaluate
from samhq_train.model import TrainablePolicy
from samhq_train.model.policy import LoraSettings
from samhq_train.settings import SettingError
from samhq_train.train import train
from tests.training.helpers import CONF, ROOT, SMALL, TINY, compose_cfg


def test_the_trainer_precisions_are_lightnings():
    """config_training writes Lightning's precision names out (no Lightning import for a config
    check); they are the names Lightning's Trainer takes, each once, the common ones first."""
    from lightning.fabric.connector import _PRECISION_INPUT_STR, _PRECISION_INPUT_STR_ALIAS

    lightnings = {
        *typing.get_args(_PRECISION_INPUT_STR), *typing.get_args(_PRECISION_INPUT_STR_ALIAS)
    }
    assert sorted(TRAINER_PRECISIONS) == sorted(lightnings)
    assert TRAINER_PRECISIONS[:3] == ["32", "16-mixed", "bf16-mixed"]


def eval_cfg(tmp_path, *overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("eval", overrides=[f"output_dir={tmp_path}", "data=demo", *overrides])


@pytest.mark.parametrize("overrides", [[], ["debug=fdr"], ["trainer=ddp_sim"], ["model=vit_tiny"]])
def test_shipped_configs_pass(tmp_path, overrides):
    check_config(compose_cfg(tmp_path, tmp_path, *overrides))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.max_epochs=-2", "trainer.max_epochs=-2: expected an integer >= 1 (or -1 for no limit)"),
        ("trainer.max_epochs=1.5", "trainer.max_epochs=1.5: expected an integer"),
        ("trainer.max_steps=0", "trainer.max_steps=0: expected an integer >= 1 (or -1"),
        ("trainer.devices=0", "trainer.devices=0: expected an integer >= 1"),
        ("trainer.precision=bf15", "trainer.precision=bf15: expected one of 32, 16-mixed, bf16-mixed"),
        ("trainer.accelerator=tpx", "trainer.accelerator=tpx: expected one of auto, cpu, gpu"),
        ("trainer.accumulate_grad_batches=0", "trainer.accumulate_grad_batches=0: expected an integer >= 1"),
        ("trainer.gradient_clip_val=-1", "trainer.gradient_clip_val=-1: expected a number >= 0"),
        ("trainer.limit_val_batches=1.5", "trainer.limit_val_batches=1.5: expected null (all), an integer"),
        ("optimizer.lr=0", "optimizer.lr=0: expected a number > 0"),
        ("optimizer.lr=fast", "optimizer.lr=fast: expected a number > 0"),
        ("optimizer.betas=[0.9,1.0]", r"optimizer.betas=[0.9, 1.0]: expected two numbers in [0, 1)"),
        ("optimizer.eps=-1", "optimizer.eps=-1: expected a number > 0"),
        ("optimizer.weight_decay=-0.1", "optimizer.weight_decay=-0.1: expected a number >= 0"),
        ("scheduler.step_size=0", "scheduler.step_size=0: expected an integer >= 1"),
        ("scheduler.gamma=0", "scheduler.gamma=0: expected a number > 0"),
        ("data.batch_size=0", "data.batch_size=0: expected an integer >= 1"),
        ("data.val_batch_size=two", "data.val_batch_size=two: expected an integer >= 1"),
        ("data.num_workers=-1", "data.num_workers=-1: expected an integer >= 0"),
        ("data.train_transform.scale_range=[2.0,0.1]", "data.train_transform.scale_range=[2.0, 0.1]: expected [low, high] with 0 < low <= high"),
        ("data.train_transform.hflip_p=1.5", "data.train_transform.hflip_p=1.5: expected a probability in [0, 1]"),
        ("data.prompts.probs={box:0,point:0,noise_mask:0}", "data.prompts.probs={box: 0, point: 0, noise_mask: 0}: expected weights >= 0 with a positive sum"),
        ("data.prompts.num_points=0", "data.prompts.num_points=0: expected an integer >= 1"),
        ("data.prompts.eval_prompt=scribble", "data.prompts.eval_prompt=scribble: expected one of box, point, noise_mask"),
        ("data.eval_transform.mode=crop", "data.eval_transform.mode=crop: expected one of resize, longest_side"),
        ("loss.num_points=0", "loss.num_points=0: expected an integer >= 1"),
        ("loss.importance_sample_ratio=2", "loss.importance_sample_ratio=2: expected a fraction in [0, 1]"),
        ("callbacks.best_checkpoint.monitor=val/miou", "callbacks.best_checkpoint.monitor=val/miou: expected null or a logged metric: val/mIoU"),
        ("callbacks.best_checkpoint.mode=maximum", "callbacks.best_checkpoint.mode=maximum: expected one of min, max"),
        ("model.policy=lora", "model.policy=lora: expected one of hq, "),
        ("model.attention=fused", "model.attention=fused: expected one of auto, sdpa, flex"),
        ("model.attention=flex model=vit_tiny", "model.attention=flex: expected auto or sdpa: TinyViT has no relative-position attention"),
        ("model.decoder_lr_scale=0", "model.decoder_lr_scale=0: expected a number > 0"),
        ("model.lora.dropout=1.0", "model.lora.dropout=1.0: expected a value in [0, 1)"),
        ("model.lora.alpha=-1", "model.lora.alpha=-1: expected a number > 0"),
        ("+model.lora.rnak=4", "model.lora.rnak is not a setting here: use rank, alpha, dropout, targets"),
        ("model.lora=5", "model.lora=5: expected a mapping of rank, alpha, dropout, targets"),
        ("model.lora=x", "model.lora=x: expected a mapping of rank, alpha, dropout, targets"),
        ("data.prompts.noise_downscale=0", "data.prompts.noise_downscale=0: expected an integer >= 1"),
        ("+data.prompts.num_point=3", "data.prompts.num_point is not a setting here: use probs, num_points"),
        ("data.cache.dtype=float64", "data.cache.dtype=float64: expected one of float32, float16, bfloat16"),
        ("metrics.dilation_ratio=2", "metrics.dilation_ratio=2: expected a fraction of the image diagonal in (0, 1)"),
        ("num_overlays=-1", "num_overlays=-1: expected an integer >= 0"),
        ("seed=abc", "seed=abc: expected an integer >= 0"),
        ("float32_matmul_precision=low", "float32_matmul_precision=low: expected one of highest, high, medium"),
    ],
)
def test_bad_value_names_the_full_key_value_and_what_is_accepted(tmp_path, override, message):
    with pytest.raises(ConfigError) as info:
        check_config(compose_cfg(tmp_path, tmp_path, *override.split()))
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value) and isinstance(info.value, SetupError)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer=gpu", "trainer.accelerator=gpu (trainer=gpu) needs a CUDA GPU and this machine has none: use trainer=cpu"),
        ("trainer=ddp", "trainer=ddp (trainer.accelerator=gpu) needs CUDA GPUs and this machine has none: use trainer=ddp_sim"),
    ],
)
def test_gpu_trainers_without_cuda_name_the_cpu_alternative(tmp_path, monkeypatch, override, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_config(compose_cfg(tmp_path, tmp_path, override))


def test_train_checks_the_config_before_reading_data(tmp_path):
    """The data root does not exist: the config error comes first, nothing is read."""
    with pytest.raises(ConfigError, match="optimizer.lr=-1"):
        train(compose_cfg(tmp_path / "run", tmp_path / "missing", "data=folder", "optimizer.lr=-1", small=False))
    assert not (tmp_path / "run").exists()


def test_cli_prints_one_config_error_line_and_exits_with_the_setup_code(tmp_path):
    result = subprocess.run(
        [sys.executable, "train.py", f"hydra.run.dir={tmp_path}", *SMALL, *TINY, f"data.root={tmp_path}/data",
         "trainer.max_epochs=-2"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == SETUP_ERROR_EXIT == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "config error: trainer.max_epochs=-2: expected an integer >= 1 (or -1 for no limit)"
    )
    assert "Traceback" not in result.stderr


def test_the_config_takes_its_defaults_from_the_records(tmp_path):
    """One default per key: the composed config holds the records' own defaults."""
    cfg = compose_cfg(tmp_path, tmp_path, small=False)
    policy = TrainablePolicy()
    assert cfg.model.policy == policy.name and cfg.model.decoder_lr_scale == policy.decoder_lr_scale
    assert (cfg.model.lora_lr_scale, cfg.model.base_lr_scale) == (policy.lora_lr_scale, policy.base_lr_scale)
    assert dict(cfg.model.lora) == {**vars(LoraSettings())}
    assert PromptConfig(**cfg.data.prompts) == PromptConfig()
    assert cfg.metrics.dilation_ratio == BOUNDARY_DILATION_RATIO and cfg.model.attention == "auto"
    evaluation = eval_cfg(tmp_path)
    assert evaluation.data.prompts == cfg.data.prompts and evaluation.metrics == cfg.metrics
    assert evaluation.model.attention == "auto" and "policy" not in evaluation.model


@pytest.mark.parametrize("model", ["vit_tiny", "sam2.1_hq_hiera_demo", "sam3_hq_demo"])
def test_the_dry_run_model_leaves_the_random_state_alone(tmp_path, model):
    """The check builds the model on the CPU (its init skipped, model_from_config): a run seeded
    before the check draws what it would draw without it."""
    cfg = compose_cfg(tmp_path, tmp_path, f"model={model}", "model.policy=hq+lora")
    state = torch.get_rng_state()
    check_config(cfg)
    assert torch.equal(torch.get_rng_state(), state)


def test_policy_settings_are_overridden_as_the_readme_shows(tmp_path):
    cfg = compose_cfg(tmp_path, tmp_path, "model.policy=hq+lora", "model.lora.rank=16", "model.lora.targets=attn+mlp")
    check_config(cfg)
    assert (cfg.model.policy, cfg.model.lora.rank, cfg.model.lora.targets) == ("hq+lora", 16, "attn+mlp")


@pytest.mark.parametrize(
    ("experiment", "variant"),
    [("demo", None), ("paper", "vit_l"), ("finetune_decoder", "vit_b"), ("finetune_lora", "vit_b")],
)
def test_every_experiment_passes_the_check(tmp_path, monkeypatch, experiment, variant):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the GPU experiments, here on CPU
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    model = [f"model={variant}"] if variant else []
    cfg = compose_cfg(tmp_path, tmp_path, f"experiment={experiment}", *model, small=False)
    check_config(cfg)
    if experiment == "finetune_lora":  # it states only what differs; the rest is the records'
        assert cfg.model.policy == "hq+lora" and dict(cfg.model.lora) == {**vars(LoraSettings())}


@pytest.mark.parametrize(
    ("record", "settings", "message"),
    [
        (TrainablePolicy, {"name": "lora"}, "model.policy=lora: expected one of hq, hq+decoder, hq+lora, full"),
        (TrainablePolicy, {"base_lr_scale": "fast"}, "model.base_lr_scale=fast: expected a number > 0"),
        (LoraSettings, {"rank": 2.0}, "model.lora.rank=2.0: expected an integer >= 1"),
        (LoraSettings, {"targets": "nothing"}, "model.lora.targets=nothing: expected a preset (attn, attn+mlp"),
        (LoraSettings, {"targets": []}, "model.lora.targets=[]: expected a preset"),
        (PromptConfig, {"eval_prompt": "scribble"}, "data.prompts.eval_prompt=scribble: expected one of box"),
    ],
)
def test_records_check_their_own_fields(record, settings, message):
    """The one check of a key is its record's: built by hand, by the datamodule or by check_config."""
    with pytest.raises(SettingError) as err:
        record(**settings)
    assert str(err.value).startswith(message) and isinstance(err.value, ValueError | UserError)


def test_setup_errors_are_user_errors():
    assert issubclass(ConfigError, SetupError) and issubclass(SetupError, UserError)
    assert issubclass(SetupError, RuntimeError)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("trainer.max_epochs=-2", "trainer.max_epochs"),  # config_training's record-free keys
        ("data.prompts.num_points=0", "data.prompts.num_points"),  # a record's own check
        ("model.lora.rank=16", "model.lora.rank"),  # another policy's setting (check_policy_settings)
        ("model.lora_lr_scale=-1", "model.lora_lr_scale"),  # policy_from_config
    ],
)
def test_a_records_refusal_reaches_the_caller_as_raised(tmp_path, override, key):
    """A SettingError is a ConfigError (a SetupError) wherever it is raised: the config check lets
    it through with its key, not a copy of its message in another class."""
    with pytest.raises(SettingError) as info:
        check_config(compose_cfg(tmp_path, tmp_path, override))
    assert info.value.key == key and isinstance(info.value, ConfigError)
    assert info.value.label == "config error"


def test_the_evaluation_config_passes_and_a_bad_key_is_named(tmp_path):
    check_config(eval_cfg(tmp_path))
    check_config(eval_cfg(tmp_path, "model.variant=null"))  # read from the checkpoint
    for override, message in [
        ("n_worst=-1", "n_worst=-1: expected an integer >= 0"),
        ("data.prompts.eval_prompt=scribble", "data.prompts.eval_prompt=scribble: expected one of box"),
        ("model.attention=fused", "model.attention=fused: expected one of auto, sdpa, flex"),
        ("metrics.dilation_ratio=0", "metrics.dilation_ratio=0: expected a fraction"),
        ("coco.transform=crop", "coco.transform=crop: expected one of auto, resize, longest_side"),
    ]:
        with pytest.raises(ConfigError) as err:
            check_config(eval_cfg(tmp_path, override))
        assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_evaluate_checks_the_config_before_loading(tmp_path):
    cfg = eval_cfg(tmp_path / "out", "model.checkpoint=/never/read.pth", "metrics.dilation_ratio=1.5")
    with pytest.raises(ConfigError, match="metrics.dilation_ratio=1.5"):
        evaluate(cfg)
    assert not (tmp_path / "out").exists()
