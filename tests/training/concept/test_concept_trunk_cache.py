"""The trunk-map cache of concept fine-tuning (data.cache with concept.policy=detector,
samhq_train/cache/concept.py) through train(cfg) on the drawn SAM 3 miniature: fp32 entries give
the run without the cache (same views, the trunk run every step) bit for bit; a run over a built
cache never calls the trunk; a damaged entry stops the run in one line naming it; the policies
that train the trunk refuse the cache in one line."""

import csv
import re

import pytest
import torch

from samhq_train.cache.store import CacheError
from samhq_train.data.concept_dataset import ConceptDataset
from samhq_train.errors import UserError
from samhq_train.model.sam3.vit import ViT
from samhq_train.train import train

from .concept_run import concept_cfg, concept_files  # noqa: F401 (fixture)

# deterministic: two runs of the same kind are bit-equal only so (test_concept_resume.py)
CACHED = ["concept.policy=detector", "data.cache.enabled=true", "data.cache.views=2",
          "data.cache.batch_size=1", "trainer.deterministic=true"]


@pytest.fixture
def trunk_calls(monkeypatch):
    """How many images the ViT trunk has encoded since the fixture was made."""
    calls = []
    forward = ViT.forward

    def counted(self, x, *args, **kwargs):
        calls.append(x.shape[0])
        return forward(self, x, *args, **kwargs)

    monkeypatch.setattr(ViT, "forward", counted)
    return calls


def run(out, files, cache_dir, *overrides):
    metrics, objects = train(concept_cfg(out, files, *CACHED, f"data.cache.dir={cache_dir}",
                                         *overrides))
    (path,) = out.glob("**/metrics.csv")
    with open(path) as fh:
        losses = [row["train/core_loss"] for row in csv.DictReader(fh) if row["train/core_loss"]]
    weights = objects["module"].model.state_dict()
    return metrics, losses, weights


def test_cached_run_equals_the_trunk_run_and_skips_the_trunk(tmp_path, concept_files,  # noqa: F811
                                                             trunk_calls, monkeypatch):
    cache = tmp_path / "cache"
    first = run(tmp_path / "built", concept_files, cache)
    built = len(trunk_calls)
    # 2 training images x 2 views + 2 validation images, once each in the build
    assert sum(trunk_calls) == 6 and built == 6
    entries = sorted(cache.glob("*/*/*.safetensors"))
    assert len(entries) == 6

    del trunk_calls[:]
    again = run(tmp_path / "again", concept_files, cache)
    assert trunk_calls == []  # every entry there: no trunk call in training or validation

    # the same run, its samples given no maps: the trunk runs every step and every validation
    monkeypatch.setattr(ConceptDataset, "use_maps", lambda self, maps_of: None)
    plain = run(tmp_path / "plain", concept_files, tmp_path / "unused")
    assert sum(trunk_calls) > 6 + 2  # the build's and at least each step's

    for other in (again, plain):
        assert other[0] == first[0]  # validation before and after: losses and box AP
        assert other[1] == first[1] and len(first[1]) == 2  # each step's
        assert all(torch.equal(first[2][k], other[2][k]) for k in first[2])
    trunk = [k for k in first[2] if ".trunk." in k]
    assert trunk and all(torch.equal(first[2][k], plain[2][k]) for k in trunk)


def test_a_damaged_entry_stops_the_run_in_one_line(tmp_path, concept_files):  # noqa: F811
    cache = tmp_path / "cache"
    run(tmp_path / "built", concept_files, cache)
    entries = sorted(cache.glob("*/*/*.safetensors"))
    for entry in entries:  # a flipped bit in each entry's tensor bytes, the headers intact
        data = bytearray(entry.read_bytes())
        data[-5] ^= 0x10
        entry.write_bytes(bytes(data))
    with pytest.raises(CacheError, match="does not match the checksum") as err:
        run(tmp_path / "damaged", concept_files, cache)
    message = str(err.value)
    (named,) = [entry for entry in entries if f"entry {entry} " in message]
    assert "\n" not in message
    assert not named.exists()  # removed: the next run rebuilds it


@pytest.mark.parametrize("policy", ["full", "detector+lora"])
def test_policies_that_train_the_trunk_refuse_the_cache(tmp_path, concept_files, policy):  # noqa: F811
    cfg = concept_cfg(tmp_path, concept_files, *CACHED, f"concept.policy={policy}",
                      f"data.cache.dir={tmp_path / 'cache'}")
    message = f"data.cache.enabled=true .* concept.policy={re.escape(policy)} trains the trunk"
    with pytest.raises(UserError, match=message) as err:
        train(cfg)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "cache").exists()
