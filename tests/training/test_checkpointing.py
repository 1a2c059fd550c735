"""Atomic checkpoint writes and random-state capture."""

import os
import random

import numpy as np
import pytest
import torch

from samhq_train.model import file_sha256
from samhq_train.training.checkpointing import (
    AtomicCheckpointIO,
    collect_rng_states,
    set_rng_states,
)
from samhq_train.training.interrupt import CheckpointOnInterrupt


def test_atomic_save_never_leaves_a_truncated_file(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "ckpts" / "last.ckpt"
    io.save_checkpoint({"step": 1, "w": torch.arange(4)}, path)
    good = path.read_bytes()
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())

    def crash(obj, f, *args, **kwargs):  # writes part of a file, then the process "dies"
        with open(f, "wb") as handle:
            handle.write(good[: len(good) // 2])
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"step": 2, "w": torch.arange(8)}, path)
    assert path.read_bytes() == good
    assert os.listdir(path.parent) == ["last.ckpt"]  # no temporary file left behind
    monkeypatch.undo()
    assert io.load_checkpoint(path)["step"] == 1


def test_rng_states_round_trip_through_a_weights_only_load(tmp_path):
    states = collect_rng_states()
    torch.save(states, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(123), np.random.seed(123), random.seed(123)
    set_rng_states(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1]) and random.random() == expected[2]


def test_file_sha256(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"abc")
    assert (
        file_sha256(tmp_path / "a.bin")
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_signal_sets_a_flag_and_a_second_one_stops_at_once(tmp_path, capsys):
    import signal

    stop = CheckpointOnInterrupt(tmp_path / "interrupted.ckpt")
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    stop.on_train_start(None, None)
    try:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before the next line
        assert stop.received == "SIGTERM"
        assert "SIGTERM: stopping training at the end of its running step, with a checkpoint" in (
            capsys.readouterr().err
        )
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        stop.on_exception(None, None, None)
    assert {s: signal.getsignal(s) for s in before} == before
    assert stop.written is None and not (tmp_path / "interrupted.ckpt").exists()


def test_outside_training_steps_a_signal_stops_at_once(tmp_path, capsys):
    """Setup, the cache build, a validation outside fit, the export: nothing to save, the
    handler raises RunInterrupted where the signal came."""
    import signal

    from samhq_train.training.interrupt import RunInterrupted

    stop = CheckpointOnInterrupt(tmp_path / "interrupted.ckpt", builds_cache=True)
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    stop.install()
    try:
        stop.setup(None, None, "fit")
        with pytest.raises(RunInterrupted) as info:
            os.kill(os.getpid(), signal.SIGTERM)
        assert info.value.code == 143
        said = capsys.readouterr().err
        assert "SIGTERM: stopping the embedding cache build (entries written so far are" in said
    finally:
        stop.uninstall()
    assert {s: signal.getsignal(s) for s in before} == before
