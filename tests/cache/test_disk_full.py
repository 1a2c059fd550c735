"""#19 item 3 in the embedding cache: a full disk while entries are written is one line naming
the entry and the space, the entries already written stay whole, and the next build goes on
where it stopped."""

import errno

import pytest

from samhq_train.cache import store as store_module
from samhq_train.files import DiskFullError
from tests.cache.test_cache import cache_for, datamodule, demo_model


def test_a_full_disk_while_the_cache_is_built(demo_root, tmp_path, monkeypatch):
    model, provenance = demo_model()
    cache = cache_for(tmp_path / "cache", model, provenance)
    datamodule(demo_root, cache)
    real, calls = store_module.save_file, []

    def fills_up(tensors, path, metadata=None):  # the third entry meets a full disk halfway
        calls.append(path)
        if len(calls) < 3:
            return real(tensors, path, metadata=metadata)
        with open(path, "wb") as handle:
            handle.write(b"\0" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module, "save_file", fills_up)
    with pytest.raises(DiskFullError) as info:
        cache.build(model)
    message = str(info.value)
    assert message.startswith(f"no space left on the device writing {cache.store.folder}/")
    assert ".safetensors: it needs about " in message
    assert " is free there; nothing is left behind (no earlier file was there)" in message
    assert not list(cache.store.folder.rglob("*.tmp"))
    monkeypatch.undo()
    assert cache.build(model) == 7 - 2  # the two whole entries are kept, the rest is built
