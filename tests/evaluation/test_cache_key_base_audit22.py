"""Mutation audit 22 of evaluation/entry.cache_provenance (the embedding cache's key): an encoder
the policy trained is keyed by its weights even when a base is given; the random backbone's seed
is the key; the record's variant wins over the config's; a base given without a checkpoint (a
random build, no format) is not read as a file made on it."""

import pytest

from samhq_train.evaluation import entry
from samhq_train.model import LoadedCheckpoint, Provenance, build_sam_hq, save_checkpoint
from tests.evaluation.eval_configs import eval_cfg

VARIANT = "vit_demo"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache_key_audit22")
    return save_checkpoint(build_sam_hq(VARIANT, seed=0), folder / "base.pth", "sam_hq")


def test_an_encoder_the_policy_trained_is_keyed_by_its_weights(tmp_path, base):
    cfg = eval_cfg(tmp_path, f"model={VARIANT}", f"base_checkpoint={base}")
    record = Provenance(variant=VARIANT, base_sha256="ab" * 32, policy="full")
    key = entry.cache_provenance(cfg, LoadedCheckpoint(None, "lightning", record))
    assert key == Provenance(variant=VARIANT)


def test_the_random_backbones_seed_is_the_key(tmp_path):
    cfg = eval_cfg(tmp_path, f"model={VARIANT}")
    record = Provenance(variant=VARIANT, seed=7)
    assert entry.cache_provenance(cfg, LoadedCheckpoint(None, None, record)) == record


def test_the_records_variant_wins_and_a_base_without_a_file_is_no_key(tmp_path, base):
    cfg = eval_cfg(tmp_path, f"model={VARIANT}", f"base_checkpoint={base}")
    key = entry.cache_provenance(cfg, LoadedCheckpoint(None, None, Provenance(variant="vit_b")))
    assert key == Provenance(variant="vit_b")
