"""Mutation audit 19: run/checks.check_resume_trains at its edges, on checkpoint records (no
training): a run is finished at exactly max_epochs / max_steps; max_epochs=null is Lightning's
1000 without a step limit and no limit with one; a validation marked to run again, or
train=false, resumes; the export hint only when the export is there. And a resume of this run's
own checkpoint: its checkpoints are no earlier run's, and a taken export says who wrote it."""

from pathlib import Path
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from samhq_train.config_check import ConfigError
from samhq_train.output_check import OutputError
from samhq_train.run import checks


def record(epochs: int, steps: int, val_ready: int = 3, val_completed: int = 3) -> dict:
    return {"global_step": steps, "loops": {"fit_loop": {
        "epoch_progress": {"current": {"ready": epochs, "started": epochs, "processed": epochs,
                                       "completed": max(epochs - 1, 0)}},
        "epoch_loop.val_loop.batch_progress": {"total": {"ready": val_ready,
                                                         "completed": val_completed}}}}}


def cfg_for(tmp_path, max_epochs=2, max_steps=-1, train=True):
    return OmegaConf.create({
        "ckpt_path": str(tmp_path / "run" / "checkpoints" / "last.ckpt"), "train": train,
        "export": True, "paths": {"output_dir": str(tmp_path / "run")},
        "trainer": {"max_epochs": max_epochs, "max_steps": max_steps}})


def resumes(tmp_path, monkeypatch, held, **limits) -> str | None:
    """None when the resume is let through, else the refusal's line."""
    monkeypatch.setattr(checks, "check_resume_checkpoint", lambda path: SimpleNamespace(held=held))
    try:
        checks.check_resume_trains(cfg_for(tmp_path, **limits), ["video.pt"])
    except ConfigError as err:
        return str(err)
    return None


def test_a_run_is_finished_at_exactly_its_epoch_limit(tmp_path, monkeypatch):
    line = resumes(tmp_path, monkeypatch, record(2, 8), max_epochs=2)
    assert "it has trained 2 epochs (trainer.max_epochs=2)" in line
    assert line.endswith("to train on, raise trainer.max_epochs above 2")
    assert resumes(tmp_path, monkeypatch, record(1, 4), max_epochs=2) is None


def test_a_run_is_finished_at_exactly_its_step_limit(tmp_path, monkeypatch):
    line = resumes(tmp_path, monkeypatch, record(1, 10), max_epochs=5, max_steps=10)
    assert "it has trained 10 steps (trainer.max_steps=10)" in line
    assert resumes(tmp_path, monkeypatch, record(1, 9), max_epochs=5, max_steps=10) is None


def test_max_epochs_null_is_1000_without_a_step_limit_and_none_with_one(tmp_path, monkeypatch):
    line = resumes(tmp_path, monkeypatch, record(1000, 5), max_epochs=None)
    assert "(trainer.max_epochs=1000)" in line
    assert resumes(tmp_path, monkeypatch, record(1000, 5), max_epochs=None, max_steps=6) is None


def test_a_validation_to_run_again_or_train_false_resumes(tmp_path, monkeypatch):
    assert resumes(tmp_path, monkeypatch, record(2, 8, val_ready=4), max_epochs=2) is None
    assert resumes(tmp_path, monkeypatch, record(2, 8), max_epochs=2, train=False) is None


def test_the_export_is_named_only_when_it_is_there(tmp_path, monkeypatch):
    assert "paths.output_dir" not in resumes(tmp_path, monkeypatch, record(2, 8))
    export = tmp_path / "run" / "export" / "video.pt"
    export.parent.mkdir(parents=True)
    export.write_bytes(b"x")
    assert resumes(tmp_path, monkeypatch, record(2, 8)).endswith(
        f"raise trainer.max_epochs above 2 and give a new paths.output_dir or export=false "
        f"({export} is its export)")


def _run_with_checkpoint(tmp_path) -> Path:
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"x")
    return checkpoint


def test_resuming_this_runs_checkpoint_is_not_an_earlier_run(tmp_path):
    _run_with_checkpoint(tmp_path)
    checks.check_no_earlier_checkpoints(cfg_for(tmp_path))
    other = cfg_for(tmp_path)
    other.ckpt_path = str(tmp_path / "elsewhere" / "last.ckpt")
    with pytest.raises(OutputError):
        checks.check_no_earlier_checkpoints(other)


def test_a_taken_export_of_the_resumed_run_says_who_wrote_it(tmp_path):
    _run_with_checkpoint(tmp_path)
    (tmp_path / "run" / "export").mkdir()
    (tmp_path / "run" / "export" / "video.pt").write_bytes(b"x")
    with pytest.raises(OutputError) as err:
        checks.check_outputs(cfg_for(tmp_path), ["video.pt"])
    assert "(the run that ckpt_path resumes exported them when it ended)" in str(err.value)
