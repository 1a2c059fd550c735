"""The Hydra commands the documentation shows (samhq-train / python train.py, samhq-evaluate /
scripts/evaluate.py, samhq-make-demo-data; tests/doc_commands/commands.py finds them): the
overrides compose from the shipped configs and pass check_config; with every file present, a
training command also passes train.py's whole check stage (check_inputs: model source, outputs),
an evaluation builds its model (a checkpoint of another variant than `model=` is refused there).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import torch

from tests.doc_commands.commands import (
    COMMANDS,
    checkpoint_stand_ins,
    kind_of,
    placeholder_in,
    substituted,
)
from tests.documentation import Command

HYDRA_COMMANDS = [c for c in COMMANDS if kind_of(c) != "argparse"]


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> dict[str, str]:
    return checkpoint_stand_ins(tmp_path_factory.mktemp("stand_ins"))


def _overrides(args: list[str]) -> list[str]:
    return [a for a in args if not a.startswith("hydra.")]  # Hydra's own run settings


def _compose(config: str, overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from samhq_train.config_defaults import CONFIG_DIR

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config, overrides=overrides)


def check_train(args: list[str], out: Path, complete: bool, monkeypatch) -> None:
    """The training command's config, checked as train.py checks it; a GPU command (trainer=gpu,
    ddp) as on a machine with 8 GPUs when this one has none."""
    from samhq_train.config_check import check_config
    from samhq_train.run.checks import check_inputs

    cfg = _compose("train", [*_overrides(args), f"paths.output_dir={out}"])
    if cfg.trainer.accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    check_inputs(cfg) if complete else check_config(cfg)
    if cfg.get("concept") is not None:  # experiment=concept_*: its own keys, read before any file
        from samhq_train.training.concept.run import concept_settings

        concept_settings(cfg)


def check_eval(args: list[str], out: Path, complete: bool) -> None:
    from samhq_train.config_check import check_config
    from samhq_train.model_from_config import build_model_from_config

    cfg = _compose("eval", [*_overrides(args), f"output_dir={out}"])
    check_config(cfg)
    if complete:
        build_model_from_config(
            cfg.model, purpose="evaluate", base_checkpoint=cfg.get("base_checkpoint")
        )



@pytest.mark.parametrize("command", HYDRA_COMMANDS, ids=[c.text[:90] for c in HYDRA_COMMANDS])
def test_documented_command(command, stand_ins, tmp_path, monkeypatch):
    text = substituted(command.text, stand_ins)
    complete = placeholder_in(text) is None
    args = Command(command.source, text).args
    kind = kind_of(command)
    with contextlib.redirect_stdout(io.StringIO()):
        if kind == "train":
            check_train(args, tmp_path / "run", complete, monkeypatch)
        elif kind == "eval":
            check_eval(args, tmp_path / "eval", complete)
        else:
            _compose("train", ["+data@demo_check=demo", *args])
