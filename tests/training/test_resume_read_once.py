"""The check stage of a resumed image run reads ckpt_path once: check_resume_trains' Inspection
(the loop counters) is what check_resume_matches compares (the run's record). It read the file
twice, which for a vit_h run's Lightning checkpoint (weights and optimiser state) is GBs."""

import pytest
import torch

from samhq_train.config_check import ConfigError
from samhq_train.model import Provenance, TrainablePolicy
from samhq_train.run.checks import check_inputs
from tests.training.helpers import compose_cfg


@pytest.fixture
def counted_loads(monkeypatch):
    """The paths torch.load is called with, in order."""
    calls, load = [], torch.load

    def counting(path, *args, **kwargs):
        calls.append(path)
        return load(path, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counting)
    return calls


@pytest.fixture
def lora_run(tmp_path):
    """A resumable checkpoint's record (no weights needed): vit_demo, seed 0, hq+lora rank 8."""
    policy = TrainablePolicy.from_config("hq+lora", lora={"rank": 8})
    record = Provenance(variant="vit_demo", seed=0, policy=policy.name,
                        policy_settings=policy.to_dict())
    path = tmp_path / "elsewhere" / "last.ckpt"
    path.parent.mkdir()
    torch.save({"state_dict": {}, "loops": {}, "samhq": record.to_dict()}, path)
    return path


def test_a_resumed_run_reads_its_checkpoint_once(tmp_path, lora_run, counted_loads):
    check_inputs(compose_cfg(tmp_path / "run", tmp_path / "data", "model.policy=hq+lora",
                             f"ckpt_path={lora_run}"))
    assert counted_loads == [lora_run]


def test_the_settings_check_compares_what_was_read(tmp_path, lora_run, counted_loads):
    cfg = compose_cfg(tmp_path / "run", tmp_path / "data", "model.policy=hq+lora",
                      "model.lora.rank=4", f"ckpt_path={lora_run}")
    with pytest.raises(ConfigError, match=rf"ckpt_path={lora_run} was trained with "
                       "model.lora.rank=8 but this run sets model.lora.rank=4"):
        check_inputs(cfg)
    assert counted_loads == [lora_run]
