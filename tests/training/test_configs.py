"""Every config group option and every experiment composes from conf/train.yaml and instantiates."""

import importlib.util

import hydra
import lightning as L
import pytest
import torch

from samhq_train.data.datamodule import build_datamodule
from samhq_train.model import official_file
from samhq_train.train import SetupError, build_loggers, build_model
from tests.training.helpers import CONF, compose_cfg


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_every_group_has_its_options():
    sam2 = [f"sam2.1_hq_hiera_{v}" for v in ("b+", "demo", "demo_base", "l", "s", "t")]
    sam3 = ["sam3_hq", "sam3_hq_demo", "sam3_hq_demo_base", "sam3_hq_ef", "sam3_hq_ef_demo"]
    sam3.append("sam3_hq_ef_demo_base")
    sam1 = ["vit_b", "vit_demo", "vit_demo_base", "vit_h", "vit_l", "vit_tiny"]
    assert options("model") == [*sam2, *sam3, *sam1]
    assert set(options("trainer")) >= {"default", "cpu", "gpu", "ddp", "ddp_sim"}
    assert options("logger") == ["csv", "tensorboard", "wandb"]
    assert set(options("experiment")) == {
        "demo", "paper", "finetune_decoder", "finetune_lora", "video_finetune", "video_demo",
        "video_demo_sam3", "concept_finetune", "concept_demo"}
    assert "fdr" in options("debug")


def test_default_is_the_demo(tmp_path):
    cfg = compose_cfg(tmp_path, tmp_path, small=False)
    assert cfg.model.variant == "vit_demo" and cfg.model.checkpoint is None and cfg.model.seed == 0
    assert cfg.trainer.accelerator == "cpu" and cfg.data.demo is not None
    assert list(cfg.logger) == ["csv"]


@pytest.mark.parametrize("variant", options("model"))
def test_model_options(tmp_path, variant):
    cfg = compose_cfg(tmp_path, tmp_path, f"model={variant}", small=False)
    shipped = variant.endswith("demo_base")  # the demo bases ship in the repo (data/demo_base/)
    assert cfg.model.variant in (variant, variant.removesuffix("_base"))  # sam3_hq_demo(_base)
    assert (cfg.model.checkpoint is None) != shipped
    if not variant.endswith("demo") and not shipped:  # real variants stop at once, naming the official file
        with pytest.raises(SetupError, match=official_file(variant)):
            build_model(cfg.model)


# data=video_folder / video_demo (video clips): tests/training/video/test_video_run.py;
# data=coco_concept / concept_demo: tests/training/concept/test_concept_run.py
@pytest.mark.parametrize("data", [d for d in options("data")
                                  if not d.startswith("video_") and "concept" not in d])
def test_data_options(tmp_path, data):
    cfg = compose_cfg(tmp_path, tmp_path, f"data={data}", small=False)
    datamodule = build_datamodule(cfg.data, image_size=256)
    assert datamodule.batch_size == cfg.data.batch_size == 4  # the official per-GPU batch
    names = [s.name for s in cfg.data.val_sets]
    expected = {
        "hqseg44k": ["DIS5K-VD", "COIFT", "HRSOD", "ThinObject5k-TE"],
        "demo": ["demo-val"],
        "folder": ["val"],
        "coco": ["coco-val"],
    }[data]
    assert names == expected


@pytest.mark.parametrize("trainer", options("trainer"))
def test_trainer_options(tmp_path, trainer):
    # GPU configs are built on CPU here; precision and the DDP strategy still instantiate
    cfg = compose_cfg(
        tmp_path,
        tmp_path,
        f"trainer={trainer}",
        "trainer.accelerator=cpu",
        "trainer.precision=bf16-mixed",
        "trainer.accumulate_grad_batches=2",
        "trainer.gradient_clip_val=1.0",
        "trainer.num_nodes=1",
        small=False,
    )
    if trainer == "ddp":
        assert cfg.trainer.strategy.find_unused_parameters is False
    result = hydra.utils.instantiate(cfg.trainer, logger=False)
    assert isinstance(result, L.Trainer)
    assert result.accumulate_grad_batches == 2 and result.gradient_clip_val == 1.0
    assert result.precision == "bf16-mixed"


@pytest.mark.parametrize("logger", options("logger"))
def test_logger_options(tmp_path, logger, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")  # no W&B login needed (run/wandb_login.py)
    cfg = compose_cfg(tmp_path, tmp_path, f"logger={logger}", small=False)
    if logger == "wandb" and importlib.util.find_spec("wandb") is None:
        with pytest.raises(SetupError, match=r"pip install '\.\[wandb\]'"):
            build_loggers(cfg)
        return
    (instance,) = build_loggers(cfg)
    assert type(instance).__name__.lower().startswith(logger[:3])


def test_two_loggers_at_once(tmp_path):
    cfg = compose_cfg(tmp_path, tmp_path, "logger=[csv,tensorboard]", small=False)
    assert [type(lg).__name__ for lg in build_loggers(cfg)] == ["CSVRunLogger", "TensorBoardLogger"]


@pytest.mark.parametrize("debug", options("debug"))
def test_debug_options(tmp_path, debug):
    # on top of a GPU trainer, so that the debug option itself must set the CPU
    cfg = compose_cfg(tmp_path, tmp_path, "trainer=gpu", f"debug={debug}", small=False)
    assert cfg.trainer.accelerator == "cpu" and cfg.trainer.devices == 1
    assert cfg.data.num_workers == 0
    if debug == "fdr":
        assert cfg.trainer.fast_dev_run is True and cfg.validate_before_training is False
    else:
        assert (cfg.trainer.max_epochs, cfg.trainer.limit_train_batches, cfg.trainer.limit_val_batches) == (2, 3, 2)


EXPERIMENTS = [
    ("demo", None), ("paper", "vit_b"), ("paper", "vit_l"), ("paper", "vit_h"), ("paper", "vit_tiny"),
    ("finetune_decoder", "vit_b"), ("finetune_lora", "vit_b"),
]


def test_every_experiment_is_tested():  # video_*, concept_*: tests/training/{video,concept}/
    assert {e for e, _ in EXPERIMENTS} == set(options("experiment")) - {
        "video_finetune", "video_demo", "video_demo_sam3", "concept_finetune", "concept_demo"}


@pytest.mark.parametrize("experiment,variant", EXPERIMENTS)
def test_experiments(tmp_path, experiment, variant):
    model = [f"model={variant}"] if variant else []
    cfg = compose_cfg(tmp_path, tmp_path, f"experiment={experiment}", *model, small=False)
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = hydra.utils.instantiate(cfg.optimizer)([param])
    scheduler = hydra.utils.instantiate(cfg.scheduler)(optimizer)
    assert type(optimizer) is torch.optim.Adam
    assert isinstance(scheduler, torch.optim.lr_scheduler.StepLR)
    assert cfg.loss.num_points == 12544 and cfg.loss.oversample_ratio == 3.0
    assert cfg.loss.importance_sample_ratio == 0.75
    if experiment.startswith("finetune_"):
        assert cfg.model.policy == {"finetune_decoder": "hq+decoder", "finetune_lora": "hq+lora"}[experiment]
        assert cfg.trainer.accelerator == "auto"  # a GPU when there is one, else the CPU
        with pytest.raises(SetupError, match=official_file(variant)):
            build_model(cfg.model)
    if experiment == "paper":  # the official recipe
        assert cfg.model.variant == variant and cfg.data.val_sets[0].name == "DIS5K-VD"
        assert cfg.model.policy == "hq"
        assert optimizer.defaults["lr"] == 1e-3 and optimizer.defaults["weight_decay"] == 0.0
        assert (scheduler.step_size, scheduler.gamma) == (
            10,
            0.1,
        ) and cfg.scheduler_interval == "epoch"
        assert (
            cfg.trainer.max_epochs == 12 and cfg.trainer.devices == 8 and cfg.data.batch_size == 4
        )
        assert cfg.trainer.precision == 32 and cfg.trainer.gradient_clip_val is None
        assert cfg.trainer.strategy.find_unused_parameters is False and cfg.seed == 42
        with pytest.raises(SetupError, match=official_file(variant)):
            build_model(cfg.model)


def test_command_line_beats_the_experiment(tmp_path):
    cfg = compose_cfg(
        tmp_path,
        tmp_path,
        "experiment=paper",
        "model=vit_b",
        "trainer.devices=2",
        "optimizer.lr=5e-4",
        small=False,
    )
    assert cfg.model.variant == "vit_b" and cfg.trainer.devices == 2 and cfg.optimizer.lr == 5e-4


def test_unknown_key_is_refused(tmp_path):
    with pytest.raises(Exception, match="optimizer.learning_rate"):
        compose_cfg(tmp_path, tmp_path, "optimizer.learning_rate=1", small=False)
