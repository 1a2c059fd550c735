"""distributed.py without a second process (audit 12): the one-process answers without a process
group, end_process_group on a real one-process gloo group, and stop_together's verdicts with the
all-gather stood in for (rank r's reason at index r, as dist.all_gather_object orders them)."""

import pytest
import torch.distributed as dist

from samhq_train import distributed
from samhq_train.distributed import (
    RankStopped,
    end_process_group,
    gather_from_ranks,
    global_rank,
    stop_together,
    world_size,
)
from samhq_train.errors import UserError


def test_without_a_process_group_the_answers_are_one_process():
    assert not dist.is_initialized()
    assert (global_rank(), world_size()) == (0, 1)
    thing = object()
    assert gather_from_ranks(thing) == [thing]
    end_process_group()  # nothing to end: no error
    assert stop_together(lambda: 41 + 1) == 42


def test_end_process_group_destroys_a_live_group(tmp_path):
    dist.init_process_group("gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0,
                            world_size=1)
    try:
        assert (global_rank(), world_size()) == (0, 1)
        assert gather_from_ranks({"a": 1}) == [{"a": 1}]
        assert stop_together(lambda: "done") == "done"
        end_process_group()
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def told(monkeypatch, others: dict[int, str], processes: int, rank: int) -> list:
    """Stand in for the all-gather of a run of `processes` processes seen from `rank`: the other
    ranks' reasons from `others` (None where absent), this one's as given; returns what this
    process handed to the gather."""
    handed = []

    def gather(reason):
        handed.append(reason)
        return [reason if r == rank else others.get(r) for r in range(processes)]

    monkeypatch.setattr(distributed, "gather_from_ranks", gather)
    return handed


def test_a_successful_step_returns_its_value_after_the_gather(monkeypatch):
    handed = told(monkeypatch, {}, 3, 1)
    assert stop_together(lambda: [1, 2]) == [1, 2]
    assert handed == [None]


def test_the_lowest_failing_rank_is_named(monkeypatch):
    told(monkeypatch, {2: "disk full on rank 2", 3: "bad image on rank 3"}, 4, 0)
    with pytest.raises(RankStopped) as info:
        stop_together(lambda: None)
    assert str(info.value) == "rank 2 stopped: disk full on rank 2"
    told(monkeypatch, {1: ""}, 2, 0)  # a failure without words still stops this process
    with pytest.raises(RankStopped, match=r"^rank 1 stopped: $"):
        stop_together(lambda: None)


def test_a_bug_is_gathered_with_its_type_and_raised_here_unchanged(monkeypatch):
    handed = told(monkeypatch, {}, 2, 1)
    bug = KeyError("state_dict")

    def step():
        raise bug
    with pytest.raises(KeyError) as info:
        stop_together(step)
    assert info.value is bug
    assert handed == ["KeyError: 'state_dict' (a bug: see its traceback)"]
    handed = told(monkeypatch, {0: "rank 0's own words"}, 2, 1)

    def user_error():
        raise UserError("data.root: no such folder")
    with pytest.raises(UserError, match="^data.root: no such folder$"):
        stop_together(user_error)  # its own error, not RankStopped for rank 0's
    assert handed == ["data.root: no such folder"]
