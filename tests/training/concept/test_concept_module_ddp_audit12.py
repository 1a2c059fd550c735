"""The concept module's per-process logic (audit 12), the module's methods run on a stand-in
(the process group and the trainer stood in for; DDP launches are the slow tests'): each process
of a DDP run reseeded with seed + rank (Meta seeds its processes apart), a one-process or resumed
run left as it is; a resumed process takes its own rank's random states and re-encodes phrases;
validation losses normalised per process and averaged over every process's batches (the
one-process mean); a batch that failed to load raised at once alone, at the validation's end
under DDP (the first failure), and stopping every process."""

import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from samhq_train import distributed
from samhq_train.data.loaders import LoadFailure
from samhq_train.training.checkpointing import collect_rng_states
from samhq_train.training.concept import module as concept_module
from samhq_train.training.concept.loss import ConceptLossSettings
from samhq_train.training.concept.module import ConceptTrainModule as Module
from samhq_train.training.concept.phrase_features import PhraseFeatures


def draws() -> tuple:
    return (torch.rand(2).tolist(), float(np.random.rand()), random.random())


def seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def seeded_draws(seed: int) -> tuple:
    seed_all(seed)
    return draws()


def stand_in(world: int = 1, rank: int = 0, **kwargs) -> SimpleNamespace:
    trainer = SimpleNamespace(world_size=world)
    fields = dict(trainer=trainer, _trainer=trainer, global_rank=rank, global_step=7,
                  device=torch.device("cpu"),
                  restored_rng=False, val_annotation_file=None, logged={},
                  loss_settings=ConceptLossSettings())
    fake = SimpleNamespace(**{**fields, **kwargs})
    fake.log = lambda name, value, **kw: fake.logged.__setitem__(name, value)
    Module.on_validation_epoch_start(fake)
    return fake


class TinyTextEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(5, 3)

    def forward(self, ids: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(features=self.embed(ids), padding_mask=ids == 0)


@pytest.fixture
def keep_random_states():
    states = collect_rng_states()
    yield
    from samhq_train.training.checkpointing import set_rng_states
    set_rng_states(states)


def test_each_ddp_process_starts_from_seed_plus_rank(monkeypatch, keep_random_states):
    monkeypatch.setenv("PL_GLOBAL_SEED", "5")
    want = seeded_draws(5 + 1)
    seeded_draws(99)
    Module.on_fit_start(stand_in(world=2, rank=1))
    assert torch.initial_seed() == 6 and draws() == want
    for fake in (stand_in(world=1), stand_in(world=2, rank=1, restored_rng=True)):
        untouched = seeded_draws(99)
        seed_all(99)
        Module.on_fit_start(fake)  # one process: Lightning's seed; resumed: the checkpoint's
        assert draws() == untouched


def test_a_resumed_process_takes_its_ranks_states_and_reencodes_phrases(keep_random_states):
    states = []
    for seed in (10, 11, 12):
        seed_all(seed)
        states.append(collect_rng_states())
    want = seeded_draws(11)
    encoder = TinyTextEncoder().requires_grad_(False)
    features = PhraseFeatures(encoder)
    fake = stand_in(world=3, rank=1, phrase_features=features)
    tokens = torch.tensor([[1, 2, 0]])
    before = features(tokens)[0].clone()
    with torch.no_grad():
        encoder.embed.weight.add_(1.0)  # the checkpoint's weights
    seeded_draws(0)
    Module.on_load_checkpoint(fake, {"rng_states": states})
    assert draws() == want and fake.restored_rng
    assert torch.equal(features(tokens)[0], encoder(tokens).features)
    assert not torch.equal(before, encoder(tokens).features)


def test_validation_normalises_each_batch_by_its_own_instances(monkeypatch):
    asked = []
    monkeypatch.setattr(concept_module, "concept_detection_loss",
                        lambda outputs, targets, settings: asked.append(settings) or {})
    for training in (True, False):
        fake = stand_in(world=2, model=SimpleNamespace(training=training))
        Module.losses(fake, {}, SimpleNamespace(targets=None))
    assert [s.normalize_over_processes for s in asked] == [True, False]
    assert asked[1] == ConceptLossSettings(normalize_over_processes=False)


def test_val_losses_are_the_mean_over_every_process_batches(monkeypatch):
    fake = stand_in(world=2)
    fake.val_losses = {"core_loss": [1.0, 2.0], "loss_bbox": [0.5, 0.25]}
    other = {"core_loss": (9.0, 1), "loss_bbox": (0.75, 1), "loss_mask": (3.0, 2)}
    monkeypatch.setattr(concept_module, "gather_from_ranks", lambda mine: [mine, other])
    Module.on_validation_epoch_end(fake)
    # a one-process run: the mean of the 3 batches' losses (not of the processes' means)
    want = {"core_loss": 4.0, "loss_bbox": 0.5, "loss_mask": 1.5}
    assert fake.val_results == want and fake.val_results_step == 7
    assert fake.logged == {f"val/{k}": v for k, v in want.items()}
    nothing = stand_in(world=2)
    monkeypatch.setattr(concept_module, "gather_from_ranks", lambda mine: [mine, {}])
    Module.on_validation_epoch_end(nothing)  # no process validated a batch: no figures
    assert nothing.logged == {} and not hasattr(nothing, "val_results")


def failing_batch(name: str) -> LoadFailure:
    return LoadFailure(OSError(f"cannot read image file {name}"))


def test_one_process_raises_a_failed_batch_at_once():
    fake = stand_in(world=1)
    failure = failing_batch("a.jpg")
    for step in (Module.training_step, Module.validation_step):
        with pytest.raises(OSError) as info:
            step(fake, failure, 0)
        assert info.value is failure.error


def test_a_training_batch_is_stepped_without_a_collective_of_its_own(monkeypatch):
    # a failed batch is told through the loss's all-reduce (test_step_collectives.py)
    fake = stand_in(world=2, outputs=lambda batch: "outputs")
    fake.losses = lambda outputs, batch: {"core_loss": torch.tensor(3.0)}
    monkeypatch.setattr(distributed, "gather_from_ranks",
                        lambda mine: pytest.fail("a collective before the loss"))
    got = Module.training_step(fake, SimpleNamespace(phrases=["ring"]), 0)
    assert float(got) == 3.0 and float(fake.logged["train/core_loss"]) == 3.0


def test_under_ddp_the_first_failed_validation_batch_stops_every_process_at_the_end(
        monkeypatch):
    fake = stand_in(world=2)
    fake.outputs = lambda batch: pytest.fail("a failed batch is not run")
    first, second = failing_batch("a.jpg"), failing_batch("b.jpg")
    Module.validation_step(fake, first, 0)
    Module.validation_step(fake, second, 1)
    assert fake.val_failure is first.error
    handed = []
    monkeypatch.setattr(distributed, "gather_from_ranks",
                        lambda mine: handed.append(mine) or [None, mine])
    monkeypatch.setattr(concept_module, "gather_from_ranks", lambda mine: pytest.fail(
        "the losses are not gathered after a failure"))
    with pytest.raises(OSError) as info:
        Module.on_validation_epoch_end(fake)
    assert info.value is first.error
    assert handed == ["OSError: cannot read image file a.jpg (a bug: see its traceback)"]
    Module.on_validation_epoch_start(fake)  # the next validation starts clean
    assert fake.val_failure is None and fake.val_losses == {}


def test_box_ap_is_that_of_every_process_detections(monkeypatch):
    class Share:
        def gathered(self):
            return SimpleNamespace(box_ap=lambda path: {"box_AP": 0.5, "box_AP50": 0.75,
                                                        "box_AP75": 0.25, "box_APs": 0.0})

        def box_ap(self, path):
            pytest.fail("this process's detections alone")

    fake = stand_in(world=2, val_annotation_file="val.json")
    fake.val_detections = Share()
    fake.val_losses = {"core_loss": [2.0]}
    monkeypatch.setattr(concept_module, "gather_from_ranks", lambda mine: [mine, mine])
    Module.on_validation_epoch_end(fake)
    assert fake.val_results == {"core_loss": 2.0, "box_AP": 0.5, "box_AP50": 0.75,
                                "box_AP75": 0.25}
