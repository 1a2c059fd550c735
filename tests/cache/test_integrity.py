"""The embedding cache trusts nothing on disk unchecked: every damage class of an entry or of the
file-digest sidecar is rebuilt at planning or refused in one line on reading, never used; the
cache folder is checked before any work."""

import json
import logging
import math
import os
import shutil
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from samhq_train.cache import FORMAT_VERSION, CacheError, check_cache_dir
from samhq_train.cache import build as build_module
from samhq_train.cache.sidecar import _check
from samhq_train.config_check import ConfigError, check_config
from samhq_train.data import DataError
from tests.cache.entries import entry_content
from tests.cache.test_cache import cache_for, datamodule, demo_model
from tests.training.helpers import compose_cfg


@pytest.fixture
def built(demo_root, tmp_path):
    """(cache, datamodule, model) of a complete demo cache in tmp_path/cache."""
    model, provenance = demo_model()
    cache = cache_for(tmp_path / "cache", model, provenance)
    dm = datamodule(demo_root, cache)
    assert cache.build(model) == 7
    return cache, dm, model


def tensor_span(path: Path, name: str) -> tuple[int, int]:
    """Absolute byte range of tensor `name` in a safetensors file."""
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    begin, end = json.loads(data[8 : 8 + n])[name]["data_offsets"]
    return 8 + n + begin, 8 + n + end


def patch_bytes(path: Path, offset: int, new: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[offset : offset + len(new)] = new
    path.write_bytes(bytes(data))


def one_line(err) -> str:
    message = str(err.value if hasattr(err, "value") else err)
    assert "\n" not in message and "Traceback" not in message, message
    return message


def val_key(dm, i=0):
    return dm.val_sets[0].keys[i]


def reread_all(dm):
    for _ in dm.val_dataloader()[0]:
        pass
    for _ in dm.train_dataloader():
        pass


# ---- damage inside an entry, header intact: refused on reading, rebuilt by the next build -----
@pytest.mark.parametrize(
    "damage",
    [
        "flipped",  # one byte of the embedding changed
        "nan",  # NaN written over the first embedding value (training would train NaN weights)
    ],
)
def test_changed_tensor_bytes_are_refused_on_reading_and_rebuilt(built, damage):
    cache, dm, model = built
    key = val_key(dm)
    path = cache.store.path(key)
    good = {n: t.clone() for n, t in cache.store.read(key)["tensors"].items()}
    begin, _ = tensor_span(path, "embedding")
    new = struct.pack("<f", math.nan) if damage == "nan" else bytes([path.read_bytes()[begin] ^ 1])
    patch_bytes(path, begin, new)
    assert cache.store.inspect(key) is None  # the header is intact: only the checksum can tell
    with pytest.raises(DataError) as err:  # through the loader: one line, in the main process
        reread_all(dm)
    message = one_line(err)
    assert str(path) in message and "checksum of its tensor bytes" in message
    assert not path.exists()  # removed, so the next run rebuilds it
    again = cache_for(cache.store.folder.parent, model, demo_model()[1])
    datamodule(dm.root, again)
    assert again.build(model) == 1
    rebuilt = again.store.read(key)["tensors"]
    assert all(torch.equal(rebuilt[n], good[n]) for n in good)


def test_a_worker_reports_a_damaged_entry_as_one_line(demo_root, tmp_path):
    model, provenance = demo_model()
    cache = cache_for(tmp_path, model, provenance)
    dm = datamodule(demo_root, cache, num_workers=1)
    cache.build(model)
    path = cache.store.path(dm.train_set.source.keys[0][0])
    begin, _ = tensor_span(path, "embedding")
    patch_bytes(path, begin, struct.pack("<f", math.inf))
    with pytest.raises(DataError) as err:
        for _ in dm.train_dataloader():
            pass
    assert str(path) in one_line(err)


# ---- damage the header shows: rebuilt at planning, refused if read first ----------------------
def truncate(path, other):
    path.write_bytes(path.read_bytes()[:-100])


def garble(path, other):
    patch_bytes(path, 8, b"\x00garbage\xff")


def copy_other(path, other):
    shutil.copy(other, path)


def old_format(path, other):
    """An entry as format 1 wrote it (no checksums, no format field)."""
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    header["__metadata__"] = {
        k: v for k, v in header["__metadata__"].items() if k not in ("tensors", "format")
    }
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + n :])


@pytest.mark.parametrize("damage", [truncate, garble, copy_other, old_format])
def test_a_damaged_header_is_rebuilt_at_planning_and_refused_on_reading(built, damage, caplog):
    cache, dm, model = built
    key, other = val_key(dm, 0), val_key(dm, 1)
    path = cache.store.path(key)
    good = entry_content(path)
    damage(path, cache.store.path(other))
    damaged = path.read_bytes()
    with pytest.raises(CacheError) as err:
        cache.store.read(key)
    assert str(path) in one_line(err) and not path.exists()
    path.write_bytes(damaged)  # as if read elsewhere first: planning finds it
    again = cache_for(cache.store.folder.parent, model, demo_model()[1])
    datamodule(dm.root, again)
    assert again.missing() == [key]
    with caplog.at_level(logging.WARNING):
        assert again.build(model) == 1
    assert str(path) in caplog.text and "rebuilding it" in caplog.text
    assert entry_content(path) == good


def test_a_pipe_in_place_of_an_entry_is_rebuilt_without_waiting(built):
    """Mutant: the header check opening it (it waits for a writer forever)."""
    cache, dm, model = built
    key = val_key(dm)
    path = cache.store.path(key)
    good = entry_content(path)
    path.unlink()
    os.mkfifo(path)
    again = cache_for(cache.store.folder.parent, model, demo_model()[1])
    datamodule(dm.root, again)
    assert again.missing() == [key]
    assert again.build(model) == 1
    assert path.is_file() and entry_content(path) == good


def test_the_format_version_moves_old_folders_aside(built):
    """Format 2 entries carry checksums; a format 1 folder gets another store id and is never
    read."""
    cache, _, _ = built
    assert FORMAT_VERSION == 2
    old = {**cache.store.fingerprint, "format": 1}
    assert cache.store.id != build_module.digest(old)[:16]


def test_non_finite_features_are_never_written(built):
    cache, dm, _ = built
    key = val_key(dm)
    job = cache.jobs[key]
    tensors = {"embedding": torch.full((2, 2), 1e6), "mask": torch.zeros(4, 4)}
    half = build_module.FeatureStore(
        cache.store.folder.parent, {**cache.store.fingerprint, "dtype": "float16"}
    )
    half.open()
    with pytest.raises(CacheError, match="not finite in float16") as err:
        half.write(key, job.material, tensors, input_size=(4, 4), source="demo-val/0000")
    assert "data.cache.dtype=float32" in one_line(err) and not half.has(key)


# ---- the file-digest sidecar ----------------------------------------------------------------
def _copied(demo_root, tmp_path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(demo_root, data)
    return data


def _swap_records(sidecar: Path, a: str, b: str, recheck: bool) -> None:
    """Give a's record b's digest (recheck: with a valid check, as a stale record would be)."""
    records = json.loads(sidecar.read_text())
    ka = next(k for k in records if k.startswith(a + "\n"))
    kb = next(k for k in records if k.startswith(b + "\n"))
    state, value = records[ka][0], records[kb][1]
    records[ka] = [state, value, _check(ka, state, value) if recheck else records[ka][2]]
    sidecar.write_text(json.dumps(records))


def test_a_hand_edited_sidecar_record_is_not_trusted(demo_root, tmp_path):
    data = _copied(demo_root, tmp_path)
    model, provenance = demo_model()
    cache = cache_for(tmp_path / "cache", model, provenance)
    dm = datamodule(data, cache)
    cache.build(model)
    images = sorted((data / "val/images").iterdir())
    own = cache.store.read(val_key(dm, 0))["tensors"]
    _swap_records(cache.file_digests.path, str(images[0]), str(images[1]), recheck=False)
    again = cache_for(tmp_path / "cache", model, provenance)
    dm2 = datamodule(data, again)
    assert val_key(dm2, 0) == val_key(dm, 0) and again.build(model) == 0  # hashed again
    served = next(iter(dm2.val_dataloader()[0]))["features"]
    torch.testing.assert_close(served["embedding"][0], own["embedding"], rtol=0, atol=0)


def test_a_stale_sidecar_record_is_refused_on_reading(demo_root, tmp_path):
    """A well-formed record whose files changed without a state change (coarse timestamps) files
    one image under another's content: the features are refused, in training and validation."""
    data = _copied(demo_root, tmp_path)
    model, provenance = demo_model()
    cache = cache_for(tmp_path / "cache", model, provenance)
    datamodule(data, cache)
    cache.build(model)
    for split in ("val", "train"):
        images = sorted((data / f"{split}/images").iterdir())
        _swap_records(cache.file_digests.path, str(images[0]), str(images[1]), recheck=True)
    again = cache_for(tmp_path / "cache", model, provenance)
    dm = datamodule(data, again)
    assert again.build(model) == 0  # the other image's entries exist: nothing tells at planning
    for loader in (dm.val_dataloader()[0], dm.train_dataloader()):
        with pytest.raises(DataError) as err:
            for _ in loader:
                pass
        message = one_line(err)
        assert "not what the cache entry was planned from" in message
        assert str(again.file_digests.path) in message and "0000" in message


def test_a_stale_record_without_an_entry_is_refused_when_building(demo_root, tmp_path):
    data = _copied(demo_root, tmp_path)
    model, provenance = demo_model()
    cache = cache_for(tmp_path / "cache", model, provenance)
    datamodule(data, cache)  # planned (sidecar written), not built
    images = sorted((data / "val/images").iterdir())
    _swap_records(cache.file_digests.path, str(images[0]), str(images[1]), recheck=True)
    again = cache_for(tmp_path / "cache", model, provenance)
    datamodule(data, again)
    with pytest.raises(CacheError, match="not what the cache planned from") as err:
        again.build(model)
    assert str(images[0]) in one_line(err)


def test_an_unusable_reason_names_this_folders_file(demo_root, tmp_path, caplog):
    """Two folders with the same files share entries; each refusal names its own file."""
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(demo_root, first)
    mask = sorted((first / "train/masks").iterdir())[0]
    cv2.imwrite(str(mask), np.zeros((96, 128), np.uint8))
    shutil.copytree(first, second)
    model, provenance = demo_model()
    cache = cache_for(tmp_path / "cache", model, provenance)
    datamodule(first, cache)
    assert cache.build(model) == 7
    again = cache_for(tmp_path / "cache", model, provenance)
    dm = datamodule(second, again)
    assert again.build(model) == 0  # shared
    with caplog.at_level(logging.WARNING):
        dm.train_set[0]
    own = str(second / "train/masks" / mask.name)
    assert own in caplog.text and str(mask) not in caplog.text


# ---- the cache folder -----------------------------------------------------------------------
def test_a_cache_dir_that_is_a_file_is_one_line_before_any_work(tmp_path):
    model, provenance = demo_model()
    target = tmp_path / "cache"
    target.write_text("")
    with pytest.raises(CacheError) as err:
        cache_for(target, model, provenance)
    assert f"data.cache.dir={target} is a file" in one_line(err)
    with pytest.raises(CacheError, match="is a file"):
        check_cache_dir(target / "below")
    cfg = compose_cfg(
        tmp_path / "out", tmp_path / "data", "data.cache.enabled=true", f"data.cache.dir={target}"
    )
    with pytest.raises(ConfigError, match=f"data.cache.dir={target} is a file"):
        check_config(cfg)


def test_an_unwritable_cache_dir_is_one_line_before_any_work(tmp_path, monkeypatch):
    target = tmp_path / "ro" / "cache"
    target.parent.mkdir()
    real = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if Path(p) == target.parent else real(p, mode)
    )
    with pytest.raises(CacheError) as err:
        check_cache_dir(target)
    assert f"data.cache.dir={target} is not writable ({target.parent}" in one_line(err)
    cfg = compose_cfg(
        tmp_path / "out", tmp_path / "data", "data.cache.enabled=true", f"data.cache.dir={target}"
    )
    with pytest.raises(ConfigError, match="is not writable"):
        check_config(cfg)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_cache_dir_is_refused(tmp_path):
    target = tmp_path / "cache"
    target.mkdir()
    target.chmod(0o555)
    try:
        with pytest.raises(CacheError, match="is not writable"):
            check_cache_dir(target)
    finally:
        target.chmod(0o755)
