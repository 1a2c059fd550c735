"""Mutation audit (round 25; audit 23's open Q1 / Q2) of model.formats.sam3_file_keys for a file
that needs a base: an HQ-only SAM 3 file tells its base's key names, none without a base or with
a base that cannot be inspected or is of another family."""

import pytest

from samhq_train.constants import DEMO_BASE_DIR
from samhq_train.model.formats import inspect, load_checkpoint, sam3_file_keys, save_checkpoint

SAM3_DEMO = DEMO_BASE_DIR / "sam3_hq_demo_base.pt"
pytestmark = pytest.mark.skipif(not SAM3_DEMO.exists(), reason="the SAM 3 demo base is absent")


@pytest.fixture(scope="module")
def sam3_model():
    return load_checkpoint(SAM3_DEMO)


@pytest.fixture(scope="module")
def hq_only(sam3_model, tmp_path_factory):
    """An HQ-only SAM 3 file (the demo base's HQ parts): it makes a model only onto a base."""
    path = tmp_path_factory.mktemp("sam3") / "hq.safetensors"
    return inspect(save_checkpoint(sam3_model, path, "hq_only"))


def test_a_sam_hq_torch_file_tells_its_keys(sam3_model, tmp_path):
    """The shipped base is format "sam"; samhq-export --to sam_hq writes the other torch one."""
    info = inspect(save_checkpoint(sam3_model, tmp_path / "whole.pth", "sam_hq"))
    assert info.format == "sam_hq"
    path, keys = sam3_file_keys(info)
    assert path == info.path and sorted(keys) == sorted(sam3_model.state_dict())


def test_a_base_needing_file_tells_its_bases_keys(hq_only):
    assert hq_only.family == "sam3" and hq_only.needs_base
    path, keys = sam3_file_keys(hq_only, SAM3_DEMO)
    base_path, base_keys = sam3_file_keys(inspect(SAM3_DEMO))
    assert path == SAM3_DEMO == base_path
    assert sorted(keys) == sorted(base_keys)


def test_a_base_needing_file_without_a_base_does_not_tell(hq_only):
    assert sam3_file_keys(hq_only) is None


@pytest.mark.parametrize("base", ["missing.pt", "garbage.pt", "vit_demo_base.safetensors"])
def test_a_base_that_cannot_be_inspected_or_is_another_familys_does_not_tell(
        hq_only, tmp_path, base):
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    path = DEMO_BASE_DIR / base if base.startswith("vit") else tmp_path / base
    assert sam3_file_keys(hq_only, path) is None


def test_a_base_given_for_a_whole_file_is_not_read(tmp_path):
    """The file itself tells: a given base (here one that is not there) is not looked at."""
    path, keys = sam3_file_keys(inspect(SAM3_DEMO), tmp_path / "missing.pt")
    assert path == SAM3_DEMO and len(list(keys)) > 0
