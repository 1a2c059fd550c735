"""A concept or video run's checkpoints (last.ckpt, best.ckpt) record whether the HQ parts they
hold are trained weights: a run from Meta's plain weights (no HQ parts) that does not train them
writes checkpoints that load as plain SAM 2.1 / SAM 3 (load_checkpoint's untrained_hq, the
samhq-* commands' HQ default, the notes of samhq-evaluate and samhq-export), not as trained
HQ-SAM; one that trains them, or starts from trained ones, writes checkpoints that hold them."""

from types import SimpleNamespace

import pytest
import torch

from samhq_train.inference.command_options import hq_choice
from samhq_train.model import build_sam_hq, inspect, load_checkpoint
from samhq_train.model.formats import holds_trained_hq
from samhq_train.model.formats.base import PROVENANCE_KEY
from samhq_train.model.registry import FAMILIES
from samhq_train.train import train
from samhq_train.training.checkpointing import RecordWholeModel
from tests.training.concept.concept_run import concept_cfg, concept_files  # noqa: F401
from tests.training.video.test_video_run import DEMO_SAM2_BASE, shapes, video_cfg  # noqa: F401

ONE_STEP = ["trainer.limit_train_batches=1", "data.val_root=null",
            "validate_before_training=false"]


def hq_record(path):
    """(format, recorded trained_hq, holds_trained_hq, the loaded model)."""
    info = inspect(path)
    return (info.format, info.provenance.trained_hq,
            holds_trained_hq(info.format, info.provenance), load_checkpoint(path))


@pytest.mark.parametrize("use_hq, trained", [("null", False), ("true", True)])
def test_a_video_run_from_metas_weights_records_whether_it_trained_the_hq_parts(
        tmp_path, shapes, use_hq, trained):  # noqa: F811
    # video.use_hq unset (null): Meta's layout without HQ parts -> plain SAM 2.1 trains
    cfg = video_cfg(tmp_path, shapes, f"model.checkpoint={DEMO_SAM2_BASE}",
                    f"video.use_hq={use_hq}", *ONE_STEP)
    _, objects = train(cfg)
    assert objects["module"].use_hq is trained
    last = tmp_path / "checkpoints" / "last.ckpt"
    form, recorded, holds, model = hq_record(last)
    assert (form, recorded, holds) == ("lightning_full", trained, trained)
    # what samhq-predict / samhq-video decode with by themselves, and the note they print
    with_hq, note = hq_choice(model)
    assert with_hq is trained and (note is None) is trained
    if not trained:
        assert "HQ parts were never trained" in note and "decoding as plain SAM 2.1" in note
    # the end-of-run export in Meta's layout: its HQ parts only where they are trained, so
    # that it too loads as what the run made (and starts a video run with video.use_hq as such)
    exported = objects["exports"]["model"]
    assert hq_record(exported)[:3] == (("sam_hq", None, True) if trained else ("sam", None, False))
    assert (load_checkpoint(exported).untrained_hq is None) is trained


def checkpoint_with(record) -> dict:
    return {} if record is None else {PROVENANCE_KEY: record}


@pytest.mark.parametrize("resumed, ours, after", [
    ({"whole_model": True, "trained_hq": True}, False, True),  # trained before: they stay so
    ({"whole_model": True, "trained_hq": False}, False, False),
    ({"whole_model": True, "trained_hq": False}, True, True),  # this run trains them
    (None, False, True),  # written before the record: taken as trained (docs/checkpoints.md)
])
def test_a_resumed_run_keeps_what_its_checkpoint_recorded(tmp_path, resumed, ours, after):
    path = tmp_path / "last.ckpt"
    torch.save(checkpoint_with(resumed), path)
    callback = RecordWholeModel(ours)
    callback.on_load_checkpoint(SimpleNamespace(ckpt_path=str(path)), None,
                                checkpoint_with(resumed))
    saved: dict = {}
    callback.on_save_checkpoint(None, None, saved)
    assert saved[PROVENANCE_KEY]["whole_model"] is True
    assert saved[PROVENANCE_KEY]["trained_hq"] is after


def test_a_resumed_checkpoints_record_is_checked(tmp_path):
    from samhq_train.model.formats import CheckpointError

    path = tmp_path / "last.ckpt"
    bad = {PROVENANCE_KEY: {"whole_model": True, "trained_hq": "no"}}
    torch.save(bad, path)
    with pytest.raises(CheckpointError, match=r"last.ckpt .*'trained_hq' is 'no', not true or f"):
        RecordWholeModel(False).on_load_checkpoint(SimpleNamespace(ckpt_path=str(path)), None,
                                                   bad)


def test_a_concept_run_from_trained_hq_parts_keeps_them(tmp_path, concept_files):  # noqa: F811
    # the start file is a HQ-SAM 3 file (read as sam_hq): its HQ parts are trained weights, which
    # the concept run carries (no concept policy trains them) into its checkpoints and export
    start = torch.load(concept_files["checkpoint"], weights_only=True)
    hq = {k: v for k, v in build_sam_hq("sam3_hq_demo", seed=3).state_dict().items()
          if FAMILIES["sam3"].is_hq_key(k)}
    with_hq = tmp_path / "sam3_hq.pt"
    torch.save({**start, **hq}, with_hq)
    out = tmp_path / "run"
    _, objects = train(concept_cfg(out, {**concept_files, "checkpoint": with_hq},
                                   "concept.policy=detector", "trainer.limit_train_batches=1",
                                   "trainer.limit_val_batches=0", "validate_before_training=false"))
    form, recorded, holds, model = hq_record(out / "checkpoints" / "last.ckpt")
    assert (form, recorded, holds, model.untrained_hq) == ("lightning_full", True, True, None)
    exported = objects["exports"]["model"]
    assert hq_record(exported)[:3] == ("sam_hq", None, True)
    assert all(torch.equal(load_checkpoint(exported).state_dict()[k], v) for k, v in hq.items())
