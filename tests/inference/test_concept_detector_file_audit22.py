"""Mutation audit 22 of inference/concept.file_without_detector (a SAM 3 file's key names tell
whether it holds the concept detector, before a model is built): a HQ-SAM 3 file (format sam_hq)
without the detector is told too; the --base of an HQ-only file that cannot be inspected is
left to the loader (None, no CheckpointError); a safetensors file saved from a wrapped model
("module." keys) is read by its official names."""

import pytest
import torch
from safetensors.torch import save_file

from samhq_train.inference.concept import file_without_detector
from samhq_train.model import inspect, load_checkpoint, save_checkpoint
from tests.model.sam3.concept.ours_file import write_sam3_with_detector


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("detector_file_audit22")
    interactive, _ = write_sam3_with_detector(folder, with_detector=False)
    model = load_checkpoint(interactive)
    with_hq = save_checkpoint(model, folder / "sam3_hq_interactive.pt", "sam_hq")
    hq_only = save_checkpoint(model, folder / "hq.safetensors", "hq_only")
    (folder / "full").mkdir()
    full, _ = write_sam3_with_detector(folder / "full")
    wrapped = folder / "wrapped.safetensors"
    state = torch.load(full, weights_only=True)
    save_file({f"module.{k}": v.contiguous().clone() for k, v in state.items()}, str(wrapped))
    return interactive, with_hq, hq_only, wrapped


def test_a_hq_sam3_file_without_the_detector_is_told(files):
    _, with_hq, _, _ = files
    info = inspect(with_hq)
    assert (info.family, info.format) == ("sam3", "sam_hq")
    assert file_without_detector(info) == with_hq


def test_an_hq_only_files_base_is_told_or_left_to_the_loader(files, tmp_path):
    interactive, _, hq_only, _ = files
    info = inspect(hq_only)
    assert file_without_detector(info, interactive) == interactive
    assert file_without_detector(info) is None  # no base given: the loader asks for it
    broken = tmp_path / "base.pt"
    broken.write_bytes(b"not a checkpoint")
    assert file_without_detector(info, broken) is None  # the loader words it


def test_a_wrapped_models_safetensors_keys_are_read_by_their_official_names(files):
    wrapped = files[3]
    info = inspect(wrapped)
    assert (info.family, info.format) == ("sam3", "safetensors")
    assert file_without_detector(info) is None
