"""check_config: a value of the wrong type or range is one line naming the full key, the value and
what is accepted, before any weights or data are read; the CLI exits with SETUP_ERROR_EXIT."""

import subprocess
import sys

import pytest
import torch

from samhq_train.config_check import SETUP_ERROR_EXIT, ConfigError, SetupError, check_config
from samhq_train.train import train
from tests.training.helpers import ROOT, SMALL, TINY, compose_cfg


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
