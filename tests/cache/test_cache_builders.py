"""Builders of one embedding cache: concurrent ones share the work (claims, a stale one taken over,
a live one waited for) and write what a sequential build writes; a killed or interrupted build
leaves nothing half-written and resumes to the same bytes."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from samhq_train.cache import build as build_module
from samhq_train.cache import claims
from tests.cache.entries import entry_content
from tests.cache.test_cache import cache_for, datamodule, demo_model

REPO = Path(__file__).resolve().parents[2]


# ---- concurrent builders --------------------------------------------------------------------
def test_a_stale_claim_is_taken_over_and_a_live_one_waited_for(demo_root, tmp_path, monkeypatch):
    model, provenance = demo_model()
    cache = cache_for(tmp_path, model, provenance, batch_size=4)
    datamodule(demo_root, cache)
    cache.store.open()
    first, second = (
        cache.store.claims / f"{build_module.digest(c)[:32]}.claim" for c in cache.chunks()
    )
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    first.write_text(json.dumps({"host": claims.socket.gethostname(), "pid": int(dead.stdout)}))
    assert claims.is_stale(first)
    second.write_text(json.dumps({"host": claims.socket.gethostname(), "pid": os.getppid()}))
    assert not claims.is_stale(second)
    waits = []

    def wait(seconds):
        waits.append(seconds)
        if len(waits) == 3:  # the live holder gives its batch up
            second.unlink()

    monkeypatch.setattr(build_module.time, "sleep", wait)
    assert cache.build(model) == 7  # the dead claim's batch at once, the live one after its release
    assert len(waits) == 3 and not list(cache.store.claims.iterdir())


BUILDER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from tests.cache.test_cache import cache_for, datamodule, demo_model
model, provenance = demo_model()
cache = cache_for({folder!r}, model, provenance, batch_size=2)
datamodule({root!r}, cache)
real = model.encode
def slow(images, sizes=None):
    time.sleep(0.5)  # widen the overlap of the two builders
    return real(images, sizes)
model.encode = slow
go = Path({go!r})
while not go.exists():
    time.sleep(0.05)
print("wrote", cache.build(model))
"""


def test_a_claim_still_being_written_is_held(tmp_path):
    """O_EXCL creates a claim empty and its owner is written after: another builder reading it in
    between must wait, not take it over (two builders then encoded one batch twice)."""
    claim = tmp_path / "chunk.claim"
    claim.write_text("")
    assert not claims.is_stale(claim)
    assert not claims.take(claim)
    later = time.time() + claims.UNREADABLE_GRACE_S + 1
    assert claims.is_stale(claim, now=later)  # its writer was killed before writing the owner


def test_two_processes_share_one_build_and_match_a_sequential_one(demo_root, tmp_path):
    model, provenance = demo_model()
    sequential = cache_for(tmp_path / "sequential", model, provenance, batch_size=2)
    datamodule(demo_root, sequential)
    assert sequential.build(model) == 7
    go = tmp_path / "go"
    script = BUILDER.format(
        repo=str(REPO), folder=str(tmp_path / "shared"), root=str(demo_root), go=str(go)
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for _ in range(2)
    ]
    time.sleep(0.5)
    go.write_text("")
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    counts = [int(o[0].split("wrote")[-1]) for o in outs]
    print("entries written by each builder:", counts)
    assert sum(counts) == 7  # every entry encoded once
    shared = cache_for(tmp_path / "shared", model, provenance, batch_size=2)
    relative = sorted(
        p.relative_to(sequential.store.folder)
        for p in sequential.store.folder.rglob("*.safetensors")
    )
    assert len(relative) == 7
    for rel in relative:
        assert entry_content(shared.store.folder / rel) == entry_content(
            sequential.store.folder / rel
        )
    assert not list(shared.store.claims.iterdir())


def test_a_killed_builders_temporary_files_are_removed(demo_root, tmp_path):
    model, provenance = demo_model()
    cache = cache_for(tmp_path, model, provenance)
    datamodule(demo_root, cache)
    key = sorted(cache.jobs)[0]
    path = cache.store.path(key)
    path.parent.mkdir(parents=True)
    partial = path.parent / f".{path.name}.k1ll3d.tmp"  # atomic_write's name, cut short by kill -9
    partial.write_bytes(b"half an entry")
    assert cache.build(model) == 7 and not partial.exists()
    assert not list(cache.store.folder.rglob("*.tmp"))


def test_a_resumed_build_encodes_the_sequential_batches(demo_root, tmp_path):
    """Interrupted between two writes of one batch, the resumed build encodes that whole batch
    again, so its bytes equal a build that never stopped."""
    model, provenance = demo_model()
    sequential = cache_for(tmp_path / "sequential", model, provenance, batch_size=4)
    datamodule(demo_root, sequential)
    sequential.build(model)
    cache = cache_for(tmp_path / "resumed", model, provenance, batch_size=4)
    datamodule(demo_root, cache)
    real_write, writes = cache.store.write, []

    def interrupted(*args, **kwargs):
        if len(writes) == 2:
            raise KeyboardInterrupt
        writes.append(1)
        return real_write(*args, **kwargs)

    cache.store.write = interrupted
    with pytest.raises(KeyboardInterrupt):
        cache.build(model)
    resumed = cache_for(tmp_path / "resumed", model, provenance, batch_size=4)
    datamodule(demo_root, resumed)
    assert resumed.build(model) == 5
    for key in sequential.jobs:
        assert entry_content(resumed.store.path(key)) == entry_content(sequential.store.path(key))


def test_a_claim_the_full_disk_cuts_short_is_removed_and_said_in_one_line(tmp_path, monkeypatch):
    """An empty claim file would hold its chunk from every other builder until it went stale."""
    import errno

    from samhq_train.files import DiskFullError

    class DiskFullJson:
        @staticmethod
        def dump(obj, fh):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(claims, "json", DiskFullJson)
    path = tmp_path / "chunk.claim"
    with pytest.raises(DiskFullError, match="chunk.claim"):
        claims.take(path)
    assert not path.exists()
