"""The check stage names ckpt_path as the user gave it, made absolute: a path through a link
(a `latest` link to a run folder) is shown as given, not as the file it resolves to; the same
helper (run/checks._absolute) that makes model.checkpoint absolute."""

import os

import torch

from samhq_train.config_check import ConfigError
from samhq_train.run.checks import check_resume_trains
from tests.training.helpers import compose_cfg

# a Lightning checkpoint's loop counters after one epoch of one step, validation done
FINISHED = {"state_dict": {}, "global_step": 1,
            "loops": {"fit_loop": {"epoch_progress": {"current": {"processed": 1}}}}}


def refusal(cfg) -> str:
    try:
        check_resume_trains(cfg)
    except ConfigError as err:
        return str(err)
    raise AssertionError("a finished run was not refused")


def test_a_linked_or_relative_ckpt_path_is_named_as_given(tmp_path, monkeypatch):
    run = tmp_path / "runs" / "2026-12-07"
    (run / "checkpoints").mkdir(parents=True)
    torch.save(FINISHED, run / "checkpoints" / "last.ckpt")
    (tmp_path / "latest").symlink_to(run)
    given = tmp_path / "latest" / "checkpoints" / "last.ckpt"
    out = tmp_path / "new"
    message = refusal(compose_cfg(out, tmp_path, f"ckpt_path={given}", "trainer.max_epochs=1"))
    assert message.startswith(f"ckpt_path={given} is the end of a finished run")
    monkeypatch.chdir(tmp_path)
    relative = os.path.join("latest", "checkpoints", "last.ckpt")
    message = refusal(compose_cfg(out, tmp_path, f"ckpt_path={relative}", "trainer.max_epochs=1"))
    assert message.startswith(f"ckpt_path={given} is the end of a finished run")
