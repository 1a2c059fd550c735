"""Resuming a run that has finished (its checkpoint's loop counters at this config's
trainer.max_epochs / max_steps) is refused in one line before any work: Lightning would
validate and stop, having trained nothing. A checkpoint marked to run its validation again, or
one with epochs left, resumes."""

import copy

import pytest
import torch

from samhq_train.config_check import ConfigError
from samhq_train.output_check import OutputError
from samhq_train.run.checks import check_inputs
from samhq_train.train import train
from samhq_train.training import interrupt
from samhq_train.training.loop_progress import training_progress
from tests.training.helpers import compose_cfg

# one epoch of one step, validated in fit, exported: the smallest finished run
ONE_STEP = ["trainer.limit_train_batches=1", "trainer.check_val_every_n_epoch=1",
            "trainer.accelerator=cpu", "validate_before_training=false", "export=true",
            "data.demo.num_train=2"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_root):
    """The run folder of a finished one-epoch run (checkpoints/last.ckpt, export/)."""
    run = tmp_path_factory.mktemp("finished")
    train(compose_cfg(run, data_root, *ONE_STEP, "trainer.max_epochs=1"))
    return run


def resumed(out, data_root, ckpt, *overrides):
    return compose_cfg(out, data_root, *ONE_STEP, f"ckpt_path={ckpt}", *overrides)


def test_a_finished_run_is_refused_naming_the_limit_and_its_exports(finished, data_root,
                                                                    tmp_path):
    last = finished / "checkpoints" / "last.ckpt"
    assert training_progress(torch.load(last, weights_only=True)) == (1, 1, False)
    head = rf"ckpt_path={last} is the end of a finished run: it has trained 1 epoch "
    with pytest.raises(ConfigError, match=head + r"\(trainer.max_epochs=1\), so resuming it would "
                       r"train nothing; to train on, raise trainer.max_epochs above 1$"):
        check_inputs(resumed(tmp_path / "new", data_root, last, "trainer.max_epochs=1"))
    with pytest.raises(ConfigError, match=head + r".* above 1 and give a new paths.output_dir or "
                       rf"export=false \({finished / 'export'}/.* is its export\)$"):
        check_inputs(resumed(finished, data_root, last, "trainer.max_epochs=1"))
    with pytest.raises(ConfigError, match=r"trained 1 step \(trainer.max_steps=1\), .* raise "
                       "trainer.max_steps above 1"):
        check_inputs(resumed(tmp_path / "new", data_root, last, "trainer.max_epochs=5",
                             "trainer.max_steps=1"))
    check_inputs(resumed(tmp_path / "new", data_root, last, "trainer.max_epochs=2"))
    check_inputs(resumed(tmp_path / "new", data_root, last, "trainer.max_epochs=1", "train=false"))
    with pytest.raises(OutputError, match=r"export=false \(the run that ckpt_path resumes "
                       "exported them when it ended\\)"):
        check_inputs(resumed(finished, data_root, last, "trainer.max_epochs=2"))


def test_a_checkpoint_that_validates_again_is_not_finished(finished, data_root, tmp_path):
    content = torch.load(finished / "checkpoints" / "last.ckpt", weights_only=True)
    marked = copy.deepcopy(content)
    interrupt.mark_validation_unfinished(marked)
    assert training_progress(marked)[2] and not training_progress(content)[2]
    torch.save(marked, tmp_path / "interrupted.ckpt")
    check_inputs(resumed(tmp_path / "new", data_root, tmp_path / "interrupted.ckpt",
                         "trainer.max_epochs=5", "trainer.max_steps=1"))
