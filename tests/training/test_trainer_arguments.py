"""A trainer key Lightning's Trainer does not take (a typo, or one added with `+`, as Hydra's
refusal of an unknown key suggests) is one config error line before the data is read, not a
TypeError traceback after it."""

import pytest
from omegaconf import OmegaConf

from samhq_train.config_check import ConfigError
from samhq_train.run.checks import check_trainer_arguments


def _cfg(**trainer):
    return OmegaConf.create({"trainer": {"_target_": "lightning.pytorch.Trainer", **trainer}})


def test_an_argument_the_trainer_lacks_is_refused_with_the_closest_name():
    with pytest.raises(ConfigError) as err:
        check_trainer_arguments(_cfg(max_epochs=2, max_epoch=1))
    assert str(err.value) == (
        "trainer.max_epoch: Lightning's Trainer has no such argument; did you mean "
        "trainer.max_epochs?"
    )
    with pytest.raises(ConfigError, match=r"^trainer.zzz: Lightning's Trainer has no such "
                       r"argument; remove it \(python train.py --cfg job shows the trainer's"):
        check_trainer_arguments(_cfg(zzz=1))


def test_the_trainer_groups_pass():
    check_trainer_arguments(_cfg(max_epochs=2, sync_batchnorm=False, use_distributed_sampler=True))
    check_trainer_arguments(OmegaConf.create({}))


def test_the_arguments_read_from_lightnings_source_are_its_signature():
    """trainer_arguments reads Trainer.__init__ from Lightning's source (no import of Lightning
    before the check): the same names, in order, as inspect.signature of the imported class."""
    import inspect

    import lightning as L

    from samhq_train.run.checks import trainer_arguments

    signature = [n for n in inspect.signature(L.Trainer.__init__).parameters if n != "self"]
    assert trainer_arguments() == signature
    assert "max_epochs" in signature
