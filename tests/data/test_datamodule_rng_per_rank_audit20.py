"""Mutation audit 20: the datamodule's `rng_per_rank` (every process's training RNG in rank 0's
checkpoint). A process that had not drawn yet does not cost the others their streams; a run
where none drew saves nothing; a resumed run with more processes than the saved one starts the
extra processes' streams afresh rather than handing them rank 0's (or failing)."""

from data_helpers import demo_config

from samhq_train.data import datamodule as datamodule_module
from samhq_train.data.datamodule import build_datamodule


class Stream:
    """A training set's RNG as the datamodule sees it: rng_state() / set_rng_state()."""

    def __init__(self, state=None):
        self.state, self.given = state, []

    def rng_state(self):
        return self.state

    def set_rng_state(self, state):
        self.given.append(state)


def datamodule(root, train_set: Stream):
    dm = build_datamodule(demo_config(root), image_size=32)
    dm.train_set = train_set  # as setup("fit") leaves it, without building the set
    return dm


def test_a_process_without_a_draw_leaves_the_others_streams_in_the_checkpoint(
    demo_root, monkeypatch
):
    own = {"rng_state": "rank 0's"}
    monkeypatch.setattr(datamodule_module, "gather_from_ranks", lambda state: [state, None])
    assert datamodule(demo_root, Stream(own)).state_dict() == {"rng_per_rank": [own, None]}
    monkeypatch.setattr(datamodule_module, "gather_from_ranks", lambda state: [None, None])
    assert datamodule(demo_root, Stream(None)).state_dict() == {}


def test_a_process_the_saved_run_had_not_starts_its_own_stream(demo_root, monkeypatch):
    saved = {"rng_per_rank": [{"rng_state": "rank 0's"}, {"rng_state": "rank 1's"}]}
    for rank, given in [(1, [{"rng_state": "rank 1's"}]), (2, [])]:
        monkeypatch.setattr(datamodule_module, "global_rank", lambda rank=rank: rank)
        stream = Stream()
        datamodule(demo_root, stream).load_state_dict(saved)
        assert stream.given == given, rank
