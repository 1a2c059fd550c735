"""A concept or video fine-tuning run trains every parameter and writes no record of a base: its
last.ckpt / best.ckpt hold the whole model under "model.". They are read as `lightning_full`:
the whole model, loaded exactly (samhq-export, samhq-predict, evaluation), and still a run to
resume. Before, load_checkpoint asked for the base they never had."""

import re

import pytest
import torch

from samhq_train.model import Use, build_sam_hq, inspect, load_checkpoint
from samhq_train.model.formats import CheckpointError, holds_trained_hq
from samhq_train.model.formats import lightning as lightning_format
from samhq_train.model.provenance import Provenance, whole_model_record


@pytest.mark.parametrize("variant", ["sam2.1_hq_hiera_demo", "vit_demo"])
def test_a_run_checkpoint_of_the_whole_model_loads_exactly(tmp_path, variant):
    model = build_sam_hq(variant, seed=4)
    path = tmp_path / "best.ckpt"
    torch.save({
        lightning_format.STATE_KEY: {lightning_format.MODEL_PREFIX + k: v
                                     for k, v in model.state_dict().items()},
        lightning_format.LOOP_STATE_KEY: {"fit_loop": {}},
        "pytorch-lightning_version": "2.6.0",
    }, path)
    info = inspect(path)
    assert (info.format, info.variant, info.needs_base) == ("lightning_full", variant, False)
    assert info.allows(Use.RESUME) and not info.allows(Use.START)
    loaded = load_checkpoint(path).state_dict()
    expected = model.state_dict()
    assert set(loaded) == set(expected)
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)


def whole_model_checkpoint(path, model, record=None):
    content = {
        lightning_format.STATE_KEY: {lightning_format.MODEL_PREFIX + k: v
                                     for k, v in model.state_dict().items()},
        lightning_format.LOOP_STATE_KEY: {"fit_loop": {}},
        "pytorch-lightning_version": "2.6.0",
    }
    if record is not None:
        content[lightning_format.PROVENANCE_KEY] = record
    torch.save(content, path)
    return path


@pytest.mark.parametrize("trained_hq", [True, False])
def test_the_record_of_a_concept_or_video_run_says_what_its_hq_parts_are(tmp_path, trained_hq):
    # the record is found where an image run's is; it says the whole model, not a base to rebuild
    model = build_sam_hq("sam2.1_hq_hiera_demo", seed=4)
    path = whole_model_checkpoint(tmp_path / "last.ckpt", model,
                                  whole_model_record(trained_hq).to_dict())
    info = inspect(path)
    assert (info.format, info.needs_base, info.provenance.trained_hq) == (
        "lightning_full", False, trained_hq)
    assert info.allows(Use.RESUME) and info.allows(Use.EVALUATE)
    assert holds_trained_hq(info.format, info.provenance) is trained_hq
    loaded = load_checkpoint(path)
    assert (loaded.untrained_hq is None) is trained_hq
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())


def test_one_written_before_the_record_counts_as_holding_trained_hq_parts(tmp_path):
    """docs/checkpoints.md: a concept / video checkpoint without the record (written before it)
    is taken as holding trained HQ parts, as it always was."""
    path = whole_model_checkpoint(tmp_path / "last.ckpt", build_sam_hq("vit_demo", seed=1))
    info = inspect(path)
    assert (info.format, info.provenance.trained_hq) == ("lightning_full", None)
    assert holds_trained_hq(info.format, info.provenance)
    assert load_checkpoint(path).untrained_hq is None


@pytest.mark.parametrize("record, says", [
    ({"whole_model": True, "trained_hq": 0}, "'trained_hq' is 0, not true or false"),
    ({"whole_model": "yes", "trained_hq": True}, "'whole_model' is 'yes', not true or false"),
    ({"whole_model": None}, "'whole_model' is None, not true or false"),
    ({"seed": True}, "'seed' is True, not a whole number"),
])
def test_a_record_of_the_wrong_kind_is_one_line_naming_the_file(tmp_path, record, says):
    path = whole_model_checkpoint(tmp_path / "last.ckpt", build_sam_hq("vit_demo", seed=1),
                                  record)
    with pytest.raises(CheckpointError, match=f"last.ckpt .*{re.escape(says)}"):
        inspect(path)


def test_an_image_runs_record_keeps_the_fields_earlier_versions_read():
    # earlier versions refuse a record field they do not know: an image run's stays as it was
    image_run = Provenance(variant="vit_demo", seed=0).to_dict()
    assert not {"whole_model", "trained_hq"} & set(image_run)
    assert Provenance.from_dict(image_run) == Provenance(variant="vit_demo", seed=0)
    whole = whole_model_record(False).to_dict()
    assert (whole["whole_model"], whole["trained_hq"]) == (True, False)
