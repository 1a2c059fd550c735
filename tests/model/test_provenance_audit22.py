"""Mutation audit 22 of the concept / video run's checkpoint record and export
(training/checkpointing.py): the end-of-run export holds the HQ parts only when they are
trained (read back as sam_hq, else as Meta's plain sam with untrained HQ parts), and
last_and_best puts the record writer before the checkpoint callbacks."""

import pytest

from samhq_train.model import build_sam_hq, inspect, load_checkpoint
from samhq_train.model.formats.base import PROVENANCE_KEY
from samhq_train.training.checkpointing import RecordWholeModel, export_whole_model, last_and_best

VARIANT = "sam2.1_hq_hiera_demo"


@pytest.fixture(scope="module")
def model():
    return build_sam_hq(VARIANT, seed=3)


@pytest.mark.parametrize(("trained_hq", "format"), [(True, "sam_hq"), (False, "sam")])
def test_the_export_holds_the_hq_parts_only_when_trained(tmp_path, model, trained_hq, format):
    path = export_whole_model(model, tmp_path / "export" / "model.pt", trained_hq)
    assert path == tmp_path / "export" / "model.pt"
    assert inspect(path).format == format
    assert (load_checkpoint(path).untrained_hq is None) is trained_hq


@pytest.mark.parametrize("trained_hq", [True, False])
def test_last_and_best_write_the_record_first(tmp_path, trained_hq):
    callbacks = last_and_best(tmp_path, "val/J", trained_hq)
    assert isinstance(callbacks[0], RecordWholeModel) and len(callbacks) == 3
    saved: dict = {}
    callbacks[0].on_save_checkpoint(None, None, saved)
    assert saved[PROVENANCE_KEY] == {**saved[PROVENANCE_KEY], "whole_model": True,
                                     "trained_hq": trained_hq}
