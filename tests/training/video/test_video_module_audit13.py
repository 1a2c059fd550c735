"""The video module's validation of a sequence that failed to load (audit 13; the module's
methods run on a stand-in, the process group stood in for; the 2-process runs are
test_video_ddp_failures.py, slow): one process raises it at once; under DDP the sequence is not
scored, the first failure is kept and stops this process at the validation's end (RankStopped
naming another process that failed), and the next validation starts clean."""

from types import SimpleNamespace

import pytest

from samhq_train import distributed
from samhq_train.data.loaders import LoadFailure
from samhq_train.evaluation.video.scores import ObjectScore, SequenceScore
from samhq_train.training.video import module as video_module
from samhq_train.training.video.module import VideoTrainModule as Module


def stand_in(world: int) -> SimpleNamespace:
    fake = SimpleNamespace(trainer=SimpleNamespace(world_size=world), model=None, use_hq=True,
                           logged={})
    fake.log = lambda name, value, **kw: fake.logged.__setitem__(name, value)
    Module.on_validation_epoch_start(fake)
    return fake


def failed(name: str) -> LoadFailure:
    return LoadFailure(OSError(f"cannot read frame {name}"))


def score(name: str, j: float, f: float) -> SequenceScore:
    return SequenceScore(name, {1: ObjectScore(j=j, f=f, frames=3)}, frames=3)


@pytest.fixture
def scored(monkeypatch):
    """score_tracking stood in for: a batch {"name", "j", "f"} scores so."""
    monkeypatch.setattr(video_module, "score_tracking",
                        lambda model, batch, use_hq: score(batch["name"], batch["j"], batch["f"]))


def test_one_process_raises_a_failed_sequence_at_once(scored):
    """Mutant: `world_size == 1` -> `== 2` (the failure kept for an end one process has no
    other process to tell)."""
    fake = stand_in(world=1)
    failure = failed("a/00003.jpg")
    with pytest.raises(OSError) as info:
        Module.validation_step(fake, failure, 0)
    assert info.value is failure.error


def test_under_ddp_the_first_failure_stops_this_process_at_the_end(scored, monkeypatch):
    """Mutants: the last failure kept instead of the first; a failed batch scored (falls
    through to score_tracking); the end's stop left out (the failure lost: the end logs what it
    scored); on_validation_epoch_start not clearing the failure."""
    monkeypatch.setattr(distributed, "gather_from_ranks", lambda mine: [mine, None])
    fake = stand_in(world=2)
    first, second = failed("a/00003.jpg"), failed("b/00001.jpg")
    Module.validation_step(fake, {"name": "c", "j": 50.0, "f": 70.0}, 0)
    Module.validation_step(fake, first, 1)
    Module.validation_step(fake, second, 2)
    assert [s.name for s in fake.val_scores] == ["c"]  # the failed ones are not scored
    with pytest.raises(OSError) as info:
        Module.on_validation_epoch_end(fake)
    assert info.value is first.error and fake.logged == {}

    Module.on_validation_epoch_start(fake)  # the next validation starts clean
    Module.validation_step(fake, {"name": "c", "j": 50.0, "f": 70.0}, 0)
    Module.on_validation_epoch_end(fake)
    assert fake.val_results == {"J&F": 60.0, "J": 50.0, "F": 70.0}
    assert fake.logged == {"val/J&F": 60.0, "val/J": 50.0, "val/F": 70.0}


def test_under_ddp_another_process_failure_stops_this_one(scored, monkeypatch):
    """Mutant: the end's stop left out (this process logs its own J&F while the other stops)."""
    monkeypatch.setattr(distributed, "gather_from_ranks",
                        lambda mine: [mine, "cannot read frame b/00001.jpg"])
    fake = stand_in(world=2)
    Module.validation_step(fake, {"name": "c", "j": 50.0, "f": 70.0}, 0)
    with pytest.raises(distributed.RankStopped,
                       match="^rank 1 stopped: cannot read frame b/00001.jpg$"):
        Module.on_validation_epoch_end(fake)
    assert fake.logged == {}
