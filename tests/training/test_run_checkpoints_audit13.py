"""The concept and video runs' checkpoints (audit 13), their trainer taken at fit (nothing
trained): written through AtomicCheckpointIO (finite weights only, temporary file then rename),
last.ckpt and best.ckpt in <output_dir>/checkpoints, best by the run's validation figure (box AP,
J&F: higher is better), and no best without validation."""

import lightning as L
import pytest

from samhq_train.train import train
from samhq_train.training.checkpointing import AtomicCheckpointIO
from tests.training.concept.concept_run import concept_cfg, concept_files  # noqa: F401
from tests.training.video.test_video_run import shapes, video_cfg  # noqa: F401 (fixture)


class AtFit(Exception):
    """Raised in place of Trainer.fit / validate, carrying the trainer."""


@pytest.fixture
def trainer_at_fit(monkeypatch):
    def stop(trainer, *args, **kwargs):
        raise AtFit(trainer)

    monkeypatch.setattr(L.Trainer, "fit", stop)
    monkeypatch.setattr(L.Trainer, "validate", stop)

    def run(cfg) -> L.Trainer:
        with pytest.raises(AtFit) as stopped:
            train(cfg)
        return stopped.value.args[0]

    return run


def checkpoints(trainer: L.Trainer) -> dict:
    """filename -> (folder, monitored figure, mode) of the trainer's checkpoint callbacks."""
    return {c.filename: (c.dirpath, c.monitor, c.mode if c.monitor else None)
            for c in trainer.checkpoint_callbacks}


def test_the_concept_run_writes_atomically_and_keeps_the_best_box_ap(
        tmp_path, concept_files, trainer_at_fit):  # noqa: F811
    """Mutants: the run's trainer without AtomicCheckpointIO; best.ckpt by another figure."""
    trainer = trainer_at_fit(concept_cfg(tmp_path, concept_files))
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    folder = str(tmp_path / "checkpoints")
    assert checkpoints(trainer) == {"last": (folder, None, None),
                                    "best": (folder, "val/box_AP", "max")}


def test_the_video_run_writes_atomically_and_keeps_the_best_jf(
        tmp_path, shapes, trainer_at_fit):  # noqa: F811
    """Mutants: the run's trainer without AtomicCheckpointIO; best.ckpt by another figure; a
    best.ckpt without validation."""
    trainer = trainer_at_fit(video_cfg(tmp_path, shapes))
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    folder = str(tmp_path / "checkpoints")
    assert checkpoints(trainer) == {"last": (folder, None, None),
                                    "best": (folder, "val/J&F", "max")}
    unvalidated = trainer_at_fit(video_cfg(tmp_path / "no_val", shapes, "data.val_root=null"))
    assert checkpoints(unvalidated) == {"last": (str(tmp_path / "no_val" / "checkpoints"),
                                                 None, None)}
