"""The checkpoint an interrupted run names for resuming (resume.last_checkpoint): the newest file
of a callback that saves every epoch (monitor null), else the newest any callback wrote, else the
one the run resumed from."""

import os
from types import SimpleNamespace

from samhq_train.training.resume import last_checkpoint


def touch(path, mtime):
    path.write_bytes(b"x")
    os.utime(path, (mtime, mtime))
    return path


def test_the_newest_every_epoch_checkpoint_wins(tmp_path):
    old = touch(tmp_path / "old.ckpt", 1000)
    new = touch(tmp_path / "last.ckpt", 2000)
    best = touch(tmp_path / "best.ckpt", 3000)
    every_epoch = SimpleNamespace(monitor=None, last_model_path=str(old), best_model_path=str(new))
    monitored = SimpleNamespace(monitor="val/mIoU", last_model_path="", best_model_path=str(best))
    trainer = SimpleNamespace(checkpoint_callbacks=[every_epoch, monitored])
    assert last_checkpoint(trainer, resumed_from=None) == new
    every_epoch.last_model_path = every_epoch.best_model_path = ""
    assert last_checkpoint(trainer, resumed_from=str(old)) == best  # the newest of the others
    assert last_checkpoint(None, resumed_from=str(old)) == old
    assert last_checkpoint(None, resumed_from=None) is None
