"""A signal (Ctrl-C, SIGTERM: both raise in the writing process) while an embedding cache entry
is being written leaves nothing that a later build trusts: the entry is written to a temporary
beside it and renamed only once whole (files.atomic_write), and the temporary is removed on the
way out. An entry torn at its own path (a copy cut short) is refused by its header check:
tests/cache/test_integrity.py."""

import pytest
import torch

from samhq_train.cache import store as store_module
from samhq_train.cache.store import MISSING, FeatureStore


def test_a_signal_while_an_entry_is_written_leaves_no_entry(tmp_path, monkeypatch):
    store = FeatureStore(tmp_path, {"variant": "tiny", "dtype": "float32"})
    store.open()
    material = store.entry_material("content", "transform")
    key = store.entry_key("content", "transform")
    tensors = {"image_embeddings": torch.ones(2, 4, 4)}
    real_save = store_module.save_file

    def half_written_then_signalled(out, path, metadata):
        real_save(out, path, metadata=metadata)
        with open(path, "r+b") as handle:
            handle.truncate(40)  # half of the entry's bytes on disk when the signal comes
        raise KeyboardInterrupt

    monkeypatch.setattr(store_module, "save_file", half_written_then_signalled)
    with pytest.raises(KeyboardInterrupt):
        store.write(key, material, tensors, input_size=(4, 4))
    assert not store.has(key) and store.inspect(key) == MISSING  # built again by the next run
    assert [p.name for p in store.path(key).parent.iterdir()] == []  # the temporary removed

    monkeypatch.undo()  # the next run writes it whole
    store.write(key, material, tensors, input_size=(4, 4))
    assert store.inspect(key) is None
    assert torch.equal(store.read(key)["tensors"]["image_embeddings"], tensors["image_embeddings"])
